"""API shape for the mobile apps (issue #10): every list is a page, no name/phone/ID number in a
request line, lists carry what a screen shows."""

import re

import app  # noqa: F401
from chalicelib.core.http import ROUTES, ListOf
from chalicelib.core.openapi import document
from tests.bindings_support import bind
from tests.doctors_support import make_doctor, make_patient

# Parameter names that would put a person's name, phone or ID number in a request line.
PERSONAL = re.compile(r"^(q|name|.*_name|phone|.*_phone|mobile|id_number|.*id_no|.*idcard|search|keyword)$")
# The public doctor directory searches doctors (public professional data), never patients.
PUBLIC_DIRECTORY = {("GET", "/v1/doctors")}


def test_no_request_line_carries_a_name_phone_or_id_number():
    doc = document()
    offenders = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if (method.upper(), path) in PUBLIC_DIRECTORY:
                continue
            for p in op.get("parameters", []):
                if p["in"] in ("path", "query") and PERSONAL.match(p["name"].lower()):
                    offenders.append(f"{method.upper()} {path} {p['in']}:{p['name']}")
    assert not offenders, offenders


def test_every_list_is_items_and_next_cursor():
    doc = document()
    schemas = doc["components"]["schemas"]
    for spec in ROUTES:
        if spec.response is None or spec.produces != "application/json":
            continue
        resolved = spec.resolve(spec.response)
        root = getattr(resolved, "model_fields", {}).get("root")
        assert root is None, f"{spec.method} {spec.path} answers a bare array"
        ok = doc["paths"][spec.path][spec.method.lower()]["responses"][str(spec.status)]
        schema = schemas[ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
        assert schema.get("type") != "array", spec.path
        if isinstance(spec.response, ListOf):
            assert set(schema["required"]) == {"items", "next_cursor"}, spec.path


def test_profiles_binding_requests_and_roster_are_pages(api):
    alice = make_patient(api, with_family=True)
    page = api.get("/v1/me/profiles?limit=1", token=alice.token).body
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = api.get(f"/v1/me/profiles?limit=1&cursor={page['next_cursor']}", token=alice.token).body
    assert {p["profile_id"] for p in page["items"] + rest["items"]} == set(alice.profiles)
    doctor = make_doctor(api)
    card = api.post("/v1/doctor/codes/clinic", token=doctor.token).body["code"]
    from tests.bindings_support import visit

    assert api.post("/v1/bindings", visit(card, alice.profiles[0]), token=alice.token).status == 201
    pending = api.get("/v1/doctor/binding-requests", token=doctor.token).body
    assert set(pending) == {"items", "next_cursor"} and len(pending["items"]) == 1


def test_patient_search_by_name_is_a_post(api):
    doctor = make_doctor(api)
    alice = make_patient(api)
    bind(api, doctor, alice)
    r = api.post("/v1/doctor/patients/search", {"q": "张"}, token=doctor.token)
    assert r.status == 200 and len(r.body["items"]) == 1
    assert api.post("/v1/doctor/patients/search", {"q": "李"}, token=doctor.token).body["items"] == []
    assert api.post("/v1/doctor/patients/search", {"q": "张"}, token=alice.token).status == 403
