"""The doctor's tools at real scale, over HTTP against the local stack: a burst of concurrent
sends into one conversation, and a group send fanned out through the messaging queue."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.test_stack import until

pytestmark = [pytest.mark.e2e, pytest.mark.enable_socket]


_ADMIN: dict[str, str] = {}


def _admin_token(stack) -> str:
    """The operator logs in once for the module: a second SMS code within a minute is refused (429),
    as it would be for a real phone."""
    if "token" not in _ADMIN or stack.call("GET", "/v1/me", token=_ADMIN["token"])[0] != 200:
        _ADMIN["token"] = stack.login("13800000000")["access_token"]
    return _ADMIN["token"]


def _doctor(stack, phone: str) -> str:
    applicant = stack.login(phone)
    status, app = stack.call("POST", "/v1/doctor/application", {
        "name": "赵医生", "hospital": "北京协和医院", "department": "心内科", "title": "attending",
        "licence_no": f"11000020{phone[-4:]}"}, token=applicant["access_token"])
    assert status == 201, app
    assert stack.call("POST", f"/v1/admin/doctors/{app['doctor_id']}/verify", token=_admin_token(stack))[0] == 200
    return stack.call("POST", "/v1/auth/refresh", {"refresh_token": applicant["refresh_token"]})[1]["access_token"]


def _bound_patient(stack, dtok: str, phone: str, name: str) -> tuple[str, str]:
    tok = stack.login(phone)["access_token"]
    status, prof = stack.call("POST", "/v1/me/profiles", {"relation": "self", "real_name": name, "gender": "female",
                                                          "birth_date": "1970-03-04"}, token=tok)
    assert status == 201, prof
    code = stack.call("POST", "/v1/doctor/codes/live", token=dtok)[1]["code"]
    today = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600))
    status, b = stack.call("POST", "/v1/bindings", {
        "code": code, "profile_id": prof["profile_id"], "visit_date": today, "visit_type": "outpatient",
        "hospital": "北京协和医院", "consent": {"accepted": True, "version": "2026-01"}}, token=tok)
    assert status == 201 and b["status"] == "active", b
    until(lambda: stack.call("GET", f"/v1/conversations/{b['binding_id']}", token=tok)[0] == 200)
    return tok, b["binding_id"]


def test_burst_of_twenty_concurrent_sends_all_land(stack):
    dtok = _doctor(stack, "13700008801")
    ptok, conv = _bound_patient(stack, dtok, "13900008801", "周敏")
    start = stack.call("GET", f"/v1/conversations/{conv}", token=ptok)[1]
    gate = threading.Barrier(20)

    def send(i):
        gate.wait()
        return stack.call("POST", f"/v1/conversations/{conv}/messages", {"text": f"第{i}条"}, token=dtok)

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(send, range(20)))
    assert [s for s, _ in results] == [201] * 20, [b for s, b in results if s != 201]
    seqs = sorted(b["seq"] for _, b in results)
    assert seqs == list(range(start["seq"] + 1, start["seq"] + 21))  # unique and contiguous
    status, page = stack.call("GET", f"/v1/conversations/{conv}/messages?after={start['seq']}&limit=50", token=ptok)
    assert sorted(m["seq"] for m in page["items"]) == seqs
    assert {m["text"] for m in page["items"]} == {f"第{i}条" for i in range(20)}
    assert stack.call("GET", f"/v1/conversations/{conv}", token=ptok)[1]["unread"] == start["unread"] + 20
    assert stack.call("GET", f"/v1/conversations/{conv}", token=dtok)[1]["unread"] == 0


def test_group_send_through_the_queue(stack):
    dtok = _doctor(stack, "13700008802")
    patients = [_bound_patient(stack, dtok, f"1390000881{i}", f"吴{i}") for i in range(4)]
    blocked = patients[3][1]
    assert stack.call("POST", f"/v1/doctor/bindings/{blocked}/block", token=dtok)[0] == 200
    status, pv = stack.call("POST", "/v1/doctor/group-messages/preview", {"all_patients": True}, token=dtok)
    assert status == 200 and pv["recipients"] == 3
    status, sent = stack.call("POST", "/v1/doctor/group-messages", {"all_patients": True, "text": "下周一停诊"},
                              token=dtok)
    assert status == 202, sent
    done = until(lambda: (g := stack.call("GET", f"/v1/doctor/group-messages/{sent['send_id']}", token=dtok)[1])
                 ["status"] == "done" and g, timeout=60)
    assert (done["total"], done["delivered"], done["failed"]) == (3, 3, 0)
    for tok, conv in patients[:3]:
        items = stack.call("GET", f"/v1/conversations/{conv}/messages?limit=5", token=tok)[1]["items"]
        assert [m["text"] for m in items].count("下周一停诊") == 1
    items = stack.call("GET", f"/v1/conversations/{blocked}/messages?limit=5", token=dtok)[1]["items"]
    assert "下周一停诊" not in [m["text"] for m in items]
    listed = stack.call("GET", "/v1/doctor/group-messages", token=dtok)[1]["items"]
    assert [g["send_id"] for g in listed] == [sent["send_id"]]
