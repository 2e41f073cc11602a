"""The OpenAPI document is made for client generators (issue #18): named schemas referenced by
``$ref``, one ``Error`` schema, formats on every time, binary PNG answers, named enums, typed
objects — and a Python client generated from it (openapi-python-client, no warnings) logs in and
reads ``/v1/me`` against the app, in-process through an httpx transport."""

from __future__ import annotations

import datetime
import importlib
import inspect
import json
import os
import re
import subprocess
import sys

import httpx
import pytest

import app  # noqa: F401
from chalicelib.core.openapi import document
from tests.doctors_support import make_doctor, phone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "clients", "openapi-python-client.yaml")
TIME_NAME = re.compile(r"((^|_)at|_until|^date|_date|^date_from|^date_to|(?i:time_?stamp))$")
# WeChat's pay parameters carry epoch seconds as a string, named as WeChat's SDKs name them
# (OpenSDK PayReq ``timestamp``, JSAPI ``timeStamp``): a date-time format there would be wrong.
EPOCH_SECONDS = {("WechatAppPayParams", "timestamp"), ("WechatJsapiPayParams", "timeStamp")}
GENERATED_EPOCH_SECONDS = {("wechat_app_pay_params", "timestamp"), ("wechat_jsapi_pay_params", "time_stamp")}


def _walk(node, path=""):
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from _walk(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{path}/{i}")


def _operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield f"{method.upper()} {path}", op


def test_every_body_is_a_named_schema_and_every_error_is_error():
    doc = document()
    schemas = doc["components"]["schemas"]
    for name, op in _operations(doc):
        bodies = [op.get("requestBody", {}).get("content", {}).get("application/json")]
        for status, resp in op["responses"].items():
            media = resp.get("content", {}).get("application/json")
            if media is None:
                continue
            if int(status) >= 400:
                refs = [s["$ref"] for s in media["schema"].get("anyOf", [media["schema"]])]
                if len(refs) > 1:  # a payment provider's callback: answered in the provider's protocol
                    assert name.startswith("POST /v1/payments/") and "security" not in op, name
                    assert refs == ["#/components/schemas/ProviderFailure", "#/components/schemas/Error"], name
                else:
                    assert refs == ["#/components/schemas/Error"], (name, status)
            else:
                bodies.append(media)
        for media in filter(None, bodies):
            ref = media["schema"].get("$ref", "")
            assert ref.startswith("#/components/schemas/"), (name, media)
            assert ref.rsplit("/", 1)[1] in schemas


def test_times_have_formats_enums_are_named_objects_are_typed():
    doc = document()
    seen_epoch: set[tuple[str, str]] = set()
    for path, node in _walk(doc):
        props = node.get("properties") if isinstance(node.get("properties"), dict) else {}
        for field, schema in props.items():
            if (path.rsplit("/", 1)[-1], field) in EPOCH_SECONDS and path.startswith("/components/schemas/"):
                assert schema.get("type") == "string" and "format" not in schema, f"{path}/{field}"
                seen_epoch.add((path.rsplit("/", 1)[-1], field))
            elif TIME_NAME.search(field):
                formats = {s.get("format") for s in schema.get("anyOf", [schema])} - {None}
                assert formats & {"date-time", "date"}, f"{path}/{field} has no date-time/date format"
        if "enum" in node:
            assert re.fullmatch(r"/components/schemas/\w+", path), f"inline enum at {path}"
        if node.get("type") == "object" or "additionalProperties" in node:
            assert node.get("properties") or node.get("additionalProperties") not in (None, True, {}), \
                f"untyped object at {path}"
    assert seen_epoch == EPOCH_SECONDS  # the exception names fields that exist
    for _name, op in _operations(doc):
        for _status, resp in op["responses"].items():
            for ct, media in resp.get("content", {}).items():
                if ct == "image/png":
                    assert media["schema"] == {"type": "string", "format": "binary", "contentMediaType": "image/png"}
                    assert "Accept: image/png" in op["description"]
                    # declared, so a generator sends it by itself: required, the one value, by default
                    accept = [p for p in op["parameters"] if p["in"] == "header" and p["name"] == "Accept"]
                    assert len(accept) == 1 and accept[0]["required"], _name
                    schema = accept[0]["schema"]
                    named = doc["components"]["schemas"][schema["allOf"][0]["$ref"].rsplit("/", 1)[1]]
                    assert named["enum"] == ["image/png"] and schema["default"] == "image/png", _name


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The client openapi-python-client makes from the served document; any warning fails."""
    out = tmp_path_factory.mktemp("client")
    spec = out / "openapi.json"
    spec.write_text(json.dumps(document(), ensure_ascii=False))
    cli = os.path.join(os.path.dirname(sys.executable), "openapi-python-client")
    run = subprocess.run([cli, "generate", "--path", str(spec), "--output-path", str(out / "suizhen_client"),
                          "--meta", "none", "--config", CONFIG], capture_output=True, text=True, timeout=120)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "warning" not in output.lower() and "error" not in output.lower(), output
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("suizhen_client"), out / "suizhen_client"
    finally:
        sys.path.remove(str(out))
        for mod in [m for m in sys.modules if m == "suizhen_client" or m.startswith("suizhen_client.")]:
            del sys.modules[mod]


class ChaliceTransport(httpx.BaseTransport):
    """httpx → ``chalice.test.Client``: the generated client talks HTTP to the app in-process."""

    def __init__(self, chalice_client):
        self.chalice = chalice_client
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        path = request.url.raw_path.decode()
        headers = {k.lower(): v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        r = self.chalice.http.request(request.method, path, headers=headers, body=request.read() or b"")
        return httpx.Response(r.status_code, headers=dict(r.headers), content=r.body, request=request)


def test_generated_client_has_one_model_per_named_schema(generated):
    _, package = generated
    models = {p.stem for p in (package / "models").glob("*.py")} - {"__init__"}
    doc = document()
    named = doc["components"]["schemas"]
    # A typed map (question id → answer, category → switches) becomes a small map class of its own;
    # that is one class per map, not a copy of a named object. Everything else must be named.
    maps = sum(1 for _path, node in _walk(doc["components"]) if node.get("type") == "object"
               and not node.get("properties") and node.get("additionalProperties") not in (None, False))
    assert len(models) <= len(named) + maps + 2, sorted(models)
    seen_epoch = set()
    for p in (package / "models").glob("*.py"):
        text = p.read_text()
        for m in re.finditer(r"^    (\w+): (.+)$", text, re.M):
            if (p.stem, m.group(1)) in GENERATED_EPOCH_SECONDS:
                assert m.group(2) == "str", f"{p.stem}.{m.group(1)}: {m.group(2)}"
                seen_epoch.add((p.stem, m.group(1)))
            elif TIME_NAME.search(m.group(1)):
                assert "datetime" in m.group(2) or "date" in m.group(2), f"{p.stem}.{m.group(1)}: {m.group(2)}"
    assert seen_epoch == GENERATED_EPOCH_SECONDS


def test_generated_client_logs_in_and_reads_me(generated, api):
    pkg, _ = generated
    accounts = importlib.import_module("suizhen_client.api.accounts")
    ops = {name: importlib.import_module(f"suizhen_client.api.accounts.{name}")
           for name in ("post_v1_auth_sms_code", "post_v1_auth_token", "get_v1_me")}
    assert accounts
    models = importlib.import_module("suizhen_client.models")
    transport = ChaliceTransport(api.client)
    anon = pkg.Client(base_url="http://api.test", httpx_args={"transport": transport}, raise_on_unexpected_status=True)
    number = phone()
    sent = ops["post_v1_auth_sms_code"].sync(client=anon, body=models.SmsCodeRequest(phone=number))
    assert isinstance(sent, models.SmsCodeSent) and sent.sent
    wrong = ops["post_v1_auth_token"].sync(client=anon, body=models.TokenRequest(phone=number, code="000000"))
    assert isinstance(wrong, models.Error) and wrong.error.code  # the one Error model, parsed
    pair = ops["post_v1_auth_token"].sync(client=anon, body=models.TokenRequest(phone=number,
                                                                               code=api.last_sms_code(number)))
    assert isinstance(pair, models.TokenPair), pair
    me_client = pkg.AuthenticatedClient(base_url="http://api.test", token=pair.access_token,
                                        httpx_args={"transport": transport}, raise_on_unexpected_status=True)
    me = ops["get_v1_me"].sync(client=me_client)
    assert isinstance(me, models.MeOut)
    assert me.account_id == pair.account.account_id
    assert isinstance(me.created_at, datetime.datetime) and me.created_at.tzinfo is not None


def test_generated_client_reads_a_png_as_bytes(generated, api):
    pkg, _ = generated
    live = importlib.import_module("suizhen_client.api.bindings.post_v1_doctor_codes_live")
    qr = importlib.import_module("suizhen_client.api.bindings.get_v1_doctor_codes_code_qr_png")
    doctor = make_doctor(api)
    transport = ChaliceTransport(api.client)
    client = pkg.AuthenticatedClient(base_url="http://api.test", token=doctor.token,
                                     httpx_args={"transport": transport})
    code = live.sync(client=client)
    refused = client.get_httpx_client().get(f"/v1/doctor/codes/{code.code}/qr.png",
                                            headers={"Accept": "application/json"})
    assert refused.status_code == 400  # what a generator's JSON default would get
    png = qr.sync(code=code.code, client=client)  # the generated function sends Accept: image/png itself
    assert transport.sent[-1].headers["accept"] == "image/png"  # not httpx's */*: API Gateway gives base64 text
    assert png.payload.read().startswith(b"\x89PNG\r\n\x1a\n")
    checkin = importlib.import_module("suizhen_client.api.booking.get_v1_booking_bookings_booking_id_checkin_png")
    assert inspect.signature(checkin.sync).parameters["accept"].default == "image/png"
