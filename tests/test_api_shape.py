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
    assert api.post("/v1/doctor/patients/search", {"q": "张"}, token=make_doctor(api).token).body["items"] == []


def test_lists_carry_what_a_screen_shows(api, clock, drain):
    from tests.booking_support import session_body
    from tests.support import count_ddb_calls

    doctor = make_doctor(api, name="王建国")
    alice = make_patient(api)
    conv = bind(api, doctor, alice)["binding_id"]
    drain()
    brief = {"doctor_id": doctor.account_id, "name": "王建国", "title": "chief", "hospital": "北京协和医院",
             "department": "心内科"}
    # conversations: the patient's row shows the doctor (one BatchGetItem per page), the doctor's the patient
    with count_ddb_calls() as calls:
        rows = api.get("/v1/conversations", token=alice.token).body["items"]
    assert rows[0]["doctor"] == brief and calls == ["Query", "BatchGetItem"], calls
    with count_ddb_calls() as calls:
        rows = api.get("/v1/conversations", token=doctor.token).body["items"]
    assert rows[0]["patient_name"] == "张三" and calls == ["Query"], calls
    # orders: the row shows the doctor; the order says what to poll until the consultation opens
    api.call("PUT", "/v1/doctor/consultation-package", {"price_fen": 3000}, token=doctor.token)
    c = api.post(f"/v1/conversations/{conv}/consultations", token=alice.token).body
    with count_ddb_calls() as calls:
        orders = api.get("/v1/orders", token=alice.token).body["items"]
    assert orders[0]["doctor"] == brief and calls == ["Query", "BatchGetItem"], calls
    d = orders[0]["delivery"]
    assert d["path"] == f"/v1/consultations/{c['consultation_id']}"
    assert api.get(d["path"], token=alice.token).body["status"] == "awaiting_payment"
    assert api.get(d["path"], token=doctor.token).status == 200  # the other participant
    assert api.get(d["path"], token=make_patient(api).token).status == 404  # anyone else: not found
    assert api.get(d["path"], token=make_doctor(api).token).status == 404
    # bookings: the row shows the doctor and the session's place and time
    sid = api.post("/v1/doctor/booking/sessions", session_body(), token=doctor.token).body["session_id"]
    assert api.post(f"/v1/booking/sessions/{sid}/book", {"profile_id": alice.profiles[0]}, token=alice.token).status == 201
    with count_ddb_calls() as calls:
        rows = api.get("/v1/booking/bookings", token=alice.token).body["items"]
    assert calls == ["Query", "BatchGetItem", "BatchGetItem"], calls
    assert rows[0]["doctor"] == brief and rows[0]["starts_at"]
    assert rows[0]["place"] == {"hospital": "北京协和医院", "campus": "东单院区", "room": "门诊楼 3 层 12 诊室"}
    # the doctor's roster shows each patient's name, as a page
    roster = api.get(f"/v1/doctor/booking/sessions/{sid}/bookings", token=doctor.token).body
    assert set(roster) == {"items", "next_cursor"} and roster["items"][0]["patient_name"] == "张三"
