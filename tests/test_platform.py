"""Cross-cutting behaviour: OpenAPI document, Idempotency-Key, error bodies, log redaction."""

import io
import json
import logging

from openapi_spec_validator import validate

import app  # noqa: F401
from chalicelib.core.http import ROUTES
from chalicelib.core.observability import logger, scrub
from tests.doctors_support import make_patient, phone

PROFILE = {"relation": "spouse", "real_name": "李四", "gender": "female", "birth_date": "1985-01-02"}


def test_openapi_document_is_valid_and_complete(api):
    r = api.get("/v1/openapi.json")
    assert r.status == 200
    doc = r.body
    validate(doc)
    for spec in ROUTES:
        assert spec.method.lower() in doc["paths"][spec.path], spec.path
    op = doc["paths"]["/v1/me/profiles"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in op["parameters"]]
    assert op["security"] == [{"bearerAuth": []}]


def test_idempotent_create_returns_first_response(api):
    user = make_patient(api)
    h = {"Idempotency-Key": "create-spouse-1"}
    first = api.post("/v1/me/profiles", PROFILE, token=user.token, headers=h)
    again = api.post("/v1/me/profiles", PROFILE, token=user.token, headers=h)
    assert first.status == again.status == 201
    assert first.body == again.body
    profiles = api.get("/v1/me/profiles", token=user.token).body["items"]
    assert len([p for p in profiles if p["relation"] == "spouse"]) == 1
    # same key, different body: refused, nothing created
    other = api.post("/v1/me/profiles", {**PROFILE, "real_name": "王五"}, token=user.token, headers=h)
    assert other.status == 422 and other.error_code == "idempotency_key_reused"
    # keys are scoped to the caller: another account may use the same key
    bob = make_patient(api)
    assert api.post("/v1/me/profiles", PROFILE, token=bob.token, headers=h).status == 201


def test_error_failure_in_handler_is_not_retried_as_success(api):
    user = make_patient(api)
    h = {"Idempotency-Key": "dup-self"}
    body = {**PROFILE, "relation": "self"}
    assert api.post("/v1/me/profiles", body, token=user.token, headers=h).status == 409
    assert api.post("/v1/me/profiles", body, token=user.token, headers=h).status == 409


def test_error_body_shape_and_request_id(api):
    r = api.get("/v1/doctors/nope")
    assert r.status == 404
    err = r.body["error"]
    assert set(err) >= {"code", "message", "request_id"} and err["request_id"]
    assert r.headers.get("X-Request-Id") == err["request_id"] or r.headers.get("x-request-id") == err["request_id"]
    assert api.call("DELETE", "/v1/doctors").status in (403, 405)  # no such method


def test_unsupported_media_type_is_a_clear_4xx(api):
    r = api.post("/v1/auth/sms-code", raw="phone=13800000000", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 415 and r.body["error"]["code"] == "unsupported_media_type"


def test_scrub_removes_phones_and_id_numbers():
    text = "call 13812345678 or +86 13912345678, id 11010519491231002X and 110105194912310021"
    out = scrub(text)
    assert "13812345678" not in out and "13912345678" not in out
    assert "11010519491231002X" not in out and "110105194912310021" not in out


def test_log_lines_never_carry_phone_numbers(api):
    stream = io.StringIO()
    handler = logger.registered_handler
    old = handler.stream
    handler.setStream(stream)
    try:
        number = phone()
        user = api.login(number)
        logger.info("debug %s", number, extra={"phone": number})
        api.post("/v1/me/profiles", {**PROFILE, "id_number": "11010519491231002X"}, token=user.token)
    finally:
        handler.setStream(old)
    logged = stream.getvalue()
    assert logged  # something was logged
    assert number not in logged and "11010519491231002X" not in logged
    for line in logged.splitlines():
        json.loads(line)
    assert logging.getLogger("suizhen")
