"""Messaging (随诊): conversations, free window, paid consultations, unread counts, attachments."""

import base64
import json
from contextlib import contextmanager
from datetime import timedelta

import pytest
import requests

from chalicelib.core import timers
from chalicelib.core.clock import SHANGHAI
from chalicelib.core.http import Caller
from chalicelib.messaging import service
from chalicelib.messaging.models import Conversation
from chalicelib.payments.models import Order
from tests.bindings_support import bind
from tests.doctors_support import make_admin, make_doctor, make_patient
from tests.payments_support import deliver, pay
from tests.support import count_ddb_calls


@pytest.fixture
def chat(clock, api, drain):
    admin = make_admin(api)
    doctor = make_doctor(api, admin)
    alice, bob = make_patient(api, with_family=True), make_patient(api)
    conv = bind(api, doctor, alice)["binding_id"]
    drain()
    return admin, doctor, alice, bob, conv


def say(api, user, conv, text="医生您好"):
    return api.post(f"/v1/conversations/{conv}/messages", {"text": text}, token=user.token)


def test_conversation_created_on_binding(api, chat):
    _, doctor, alice, _, conv = chat
    mine = api.get("/v1/conversations", token=alice.token).body["items"]
    assert [c["conversation_id"] for c in mine] == [conv] and mine[0]["free_messages_left"] == 3
    msgs = api.get(f"/v1/conversations/{conv}/messages", token=doctor.token).body["items"]
    assert msgs[0]["kind"] == "card" and msgs[0]["card"]["type"] == "binding_activated"


def test_free_window_by_count(api, chat):
    _, doctor, alice, _, conv = chat
    assert [say(api, alice, conv).status for _ in range(3)] == [201, 201, 201]
    r = say(api, alice, conv)
    assert r.status == 422 and r.error_code == "free_window_over"
    assert say(api, doctor, conv, "请按时服药").status == 201  # the doctor can always write


def test_free_window_by_days(api, chat, clock):
    _, _, alice, _, conv = chat
    assert say(api, alice, conv).status == 201
    clock.advance(days=8)
    r = say(api, api.relogin(alice), conv)
    assert r.status == 422 and r.error_code == "free_window_over"


def _buy_and_pay(api, wxpay, doctor, alice, conv, drain):
    api.call("PUT", "/v1/doctor/consultation-package", {"price_fen": 3000, "hours": 48, "messages": 2,
                                                        "reply_deadline_hours": 24}, token=doctor.token)
    c = api.post(f"/v1/conversations/{conv}/consultations", token=alice.token)
    assert c.status == 201 and c.body["status"] == "awaiting_payment", c.body
    pay(api, wxpay, alice, c.body["order_id"])
    drain()
    return c.body


def test_paid_consultation_answered_then_closed(api, chat, wxpay, drain, clock):
    _, doctor, alice, _, conv = chat
    for _ in range(3):
        say(api, alice, conv)
    c = _buy_and_pay(api, wxpay, doctor, alice, conv, drain)
    state = api.get(f"/v1/conversations/{conv}", token=alice.token).body
    assert state["consultation_id"] == c["consultation_id"] and state["consult_messages_left"] == 2
    assert_inbox_rows_match_detail(api, conv, alice, doctor)
    assert say(api, alice, conv, "化验单出来了").status == 201
    assert say(api, doctor, conv, "指标正常").status == 201
    assert say(api, alice, conv, "谢谢").status == 201
    r = say(api, alice, conv, "还有一个问题")
    assert r.status == 422 and r.error_code == "consultation_required"  # package's 2 messages used
    clock.advance(hours=49)
    timers.sweep()
    drain()
    assert service._consultation(c["consultation_id"]).status == "closed"
    assert say(api, api.relogin(alice), conv).error_code == "free_window_over"
    assert Order.get(c["order_id"]).status == "paid"  # answered: no refund


def test_unanswered_consultation_refunded_at_deadline(api, chat, wxpay, drain, clock):
    _, doctor, alice, _, conv = chat
    c = _buy_and_pay(api, wxpay, doctor, alice, conv, drain)
    say(api, alice, conv, "医生在吗")
    clock.advance(hours=25)
    timers.sweep()
    events = drain()
    alice = api.relogin(alice)
    assert "consultation.refunded" in events
    refund = next(iter(wxpay.refunds))
    assert deliver(api, *wxpay.complete_refund(refund), path="/v1/payments/wechat/refund-notify").status == 204
    assert Order.get(c["order_id"]).refunded_fen == 3000
    assert service._consultation(c["consultation_id"]).status == "refunded"
    cards = [m["card"]["type"] for m in api.get(f"/v1/conversations/{conv}/messages", token=alice.token).body["items"]
             if m["kind"] == "card"]
    assert "consultation_refunded" in cards


def test_doctor_reminded_two_hours_before_the_reply_deadline(api, chat, wxpay, drain, clock):
    """24 h to reply: at 22 h the doctor gets a reply-due notice (inbox, high urgency) that names
    the deadline; a consultation answered in time gets none."""
    from chalicelib.messaging import consultations

    _, doctor, alice, _, conv = chat
    c = _buy_and_pay(api, wxpay, doctor, alice, conv, drain)
    clock.advance(hours=22, seconds=-1)
    timers.sweep()
    assert "consultation.reply_due" not in drain()
    clock.advance(seconds=1)
    timers.sweep()
    assert drain().count("consultation.reply_due") == 1
    doctor = api.relogin(doctor)
    items = api.get("/v1/notifications", token=doctor.token).body["items"]
    due = [n for n in items if n["event_type"] == "consultation.reply_due"]
    assert len(due) == 1 and "超时将全额退款" in due[0]["body"], items
    deadline = consultations._consultation(c["consultation_id"]).deadline_at.astimezone(SHANGHAI)
    assert deadline.strftime("%H:%M") in due[0]["body"]
    # answered: the same timer firing again finds nothing to remind
    assert say(api, doctor, conv, "已看到化验单").status == 201
    consultations._on_nudge("another-firing", {"consultation_id": c["consultation_id"]})
    assert "consultation.reply_due" not in drain()


def test_doctor_away(api, chat, drain):
    _, doctor, alice, _, conv = chat
    api.call("PUT", "/v1/doctor/consultation-package", {"price_fen": 3000}, token=doctor.token)
    assert api.call("PUT", "/v1/doctor/away", {"away": True, "message": "出差中"}, token=doctor.token).status == 200
    r = api.post(f"/v1/conversations/{conv}/consultations", token=alice.token)
    assert r.status == 422 and r.error_code == "doctor_away"
    assert say(api, alice, conv).status == 201
    latest = api.get(f"/v1/conversations/{conv}/messages?limit=1", token=alice.token).body["items"][0]
    assert latest["card"] == {"type": "away_auto_reply", "text": "出差中"}


@contextmanager
def reads_snapshot(snapshot):
    """Every read of the conversation returns ``snapshot``: a read that happened earlier."""
    real = Conversation.get
    Conversation.get = classmethod(lambda cls, key, **kw: snapshot)
    try:
        yield
    finally:
        Conversation.get = real


def test_unread_counts_interleaved(api, chat):
    _, doctor, alice, _, conv = chat
    unread = lambda: api.get(f"/v1/conversations/{conv}", token=alice.token).body["unread"]  # noqa: E731
    say(api, doctor, conv, "一")
    say(api, doctor, conv, "二")
    assert unread() == 3  # welcome card + 2
    # the patient's read races a new message: the marker stops at what the read saw
    stale = Conversation.get(conv)
    say(api, doctor, conv, "三")
    reader = Caller(alice.account_id, "patient")
    with reads_snapshot(stale):
        service.mark_read(reader, conv)
    assert unread() == 1
    assert api.post(f"/v1/conversations/{conv}/read", token=alice.token).body["unread"] == 0
    assert unread() == 0
    # an older read can never move the marker backwards
    with reads_snapshot(stale):
        service.mark_read(reader, conv)
    assert unread() == 0


def test_concurrent_sends_both_land(api, chat):
    """Two senders read the same seq: the conditional write makes the second retry at seq+1."""
    _, doctor, alice, _, conv = chat
    from chalicelib.core.http import Caller

    stale = Conversation.get(conv, consistent_read=True)
    say(api, doctor, conv, "先到")
    real = Conversation.get
    calls = []

    def first_stale(cls, key, **kw):
        calls.append(1)
        return stale if len(calls) == 1 else real(key, **kw)

    Conversation.get = classmethod(first_stale)
    try:
        service.send(Caller(alice.account_id, "patient"), conv, "text", "后到", [])
    finally:
        Conversation.get = real
    texts = [m["text"] for m in api.get(f"/v1/conversations/{conv}/messages", token=doctor.token).body["items"]]
    assert texts[:2] == ["后到", "先到"]


def test_hide_message_for_patient_only(api, chat):
    _, doctor, alice, _, conv = chat
    seq = say(api, alice, conv, "发错了").body["seq"]
    assert api.post(f"/v1/conversations/{conv}/messages/{seq}/hide", token=alice.token).status == 200
    texts = lambda u: [m["text"] for m in api.get(f"/v1/conversations/{conv}/messages", token=u.token).body["items"]]  # noqa: E731
    assert "发错了" not in texts(alice) and "发错了" in texts(doctor)


def test_attachments(api, chat):
    _, doctor, alice, bob, conv = chat
    r = api.post("/v1/attachments", {"conversation_id": conv, "content_type": "image/png", "size": 68}, token=alice.token)
    assert r.status == 201
    up = r.body
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 60
    resp = requests.post(up["upload_url"], data=up["fields"], files={"file": ("x.png", png, "image/png")})
    assert resp.status_code in (200, 204)
    # S3 enforces the signed policy (moto does not): check what we signed
    policy = json.loads(base64.b64decode(up["fields"]["policy"]))
    assert ["content-length-range", 1, 68] in policy["conditions"]
    assert {"Content-Type": "image/png"} in policy["conditions"]
    sent = api.post(f"/v1/conversations/{conv}/messages", {"kind": "image", "attachment_ids": [up["attachment_id"]]},
                    token=alice.token)
    assert sent.status == 201
    link = api.get(f"/v1/attachments/{up['attachment_id']}", token=doctor.token)
    assert link.status == 200 and requests.get(link.body["url"]).content == png
    assert api.get(f"/v1/attachments/{up['attachment_id']}", token=bob.token).status == 404
    assert api.post("/v1/attachments", {"conversation_id": conv, "content_type": "text/html", "size": 5},
                    token=alice.token).status == 400
    assert api.post("/v1/attachments", {"conversation_id": conv, "content_type": "image/png", "size": 5},
                    token=bob.token).status == 404


def test_budgets(api, chat):
    _, doctor, alice, _, conv = chat
    with count_ddb_calls() as calls:
        assert say(api, alice, conv).status == 201
    assert len(calls) <= 3 and calls.count("TransactWriteItems") == 1, calls
    with count_ddb_calls() as calls:
        assert api.get(f"/v1/conversations/{conv}/messages", token=alice.token).status == 200
    assert calls == ["Query"]
    with count_ddb_calls() as calls:
        assert api.get(f"/v1/conversations/{conv}/messages?after=1", token=alice.token).status == 200
    assert calls == ["Query"]
    with count_ddb_calls() as calls:
        assert api.get("/v1/conversations", token=doctor.token).status == 200
    assert calls == ["Query"]


def test_mark_read_uses_what_its_update_returns(api, chat):
    """A marker that moves: the read and the conditional update (whose ALL_NEW answer is the
    result, no third read); nothing to move: the read alone."""
    _, doctor, alice, _, conv = chat
    say(api, alice, conv, "一")
    with count_ddb_calls() as calls:
        r = api.post(f"/v1/conversations/{conv}/read", token=doctor.token)
    assert r.status == 200 and r.body["unread"] == 0 and r.body["read_seq"] == 2, r.body
    assert calls == ["GetItem", "UpdateItem"]
    with count_ddb_calls() as calls:
        r = api.post(f"/v1/conversations/{conv}/read", token=doctor.token)
    assert r.body == {"conversation_id": conv, "read_seq": 2, "unread": 0}
    assert calls == ["GetItem"]
    say(api, doctor, conv, "二")
    assert api.get(f"/v1/conversations/{conv}", token=alice.token).body["unread"] == 1  # her own message moved her marker
    assert api.post(f"/v1/conversations/{conv}/read", token=alice.token).body["unread"] == 0
    assert api.get(f"/v1/conversations/{conv}", token=alice.token).body["unread"] == 0


def test_authorization_matrix(api, chat):
    admin, doctor, alice, bob, conv = chat
    other_doctor = make_doctor(api, admin, name="钱医生")
    for user in (bob, other_doctor):
        assert api.get(f"/v1/conversations/{conv}", token=user.token).status == 404
        assert api.get(f"/v1/conversations/{conv}/messages", token=user.token).status == 404
        assert api.get(f"/v1/conversations/{conv}/messages?after=0", token=user.token).body["items"] == []
        assert say(api, user, conv).status == 404
        assert api.post(f"/v1/conversations/{conv}/read", token=user.token).status == 404
    assert api.post(f"/v1/conversations/{conv}/consultations", token=bob.token).status == 404
    assert api.post(f"/v1/conversations/{conv}/consultations", token=doctor.token).status == 403
    assert api.post(f"/v1/conversations/{conv}/messages/1/hide", token=bob.token).status == 404
    assert api.post(f"/v1/conversations/{conv}/messages/1/hide", token=doctor.token).status == 403
    assert api.get("/v1/conversations", token=admin.token).status == 403
    assert api.get("/v1/conversations", token=bob.token).body["items"] == []


def test_blocked_binding_stops_messages(api, chat, drain):
    _, doctor, alice, _, conv = chat
    api.post(f"/v1/doctor/bindings/{conv}/block", token=doctor.token)
    drain()
    r = say(api, alice, conv)
    assert r.status == 422 and r.error_code == "binding_inactive"
    api.post(f"/v1/doctor/bindings/{conv}/unblock", token=doctor.token)
    drain()
    assert say(api, alice, conv).status == 201


def test_message_text_is_capped(api, chat):
    _, _, alice, _, conv = chat
    assert say(api, alice, conv, "字" * 2001).status == 400
    assert api.post(f"/v1/conversations/{conv}/messages", {"kind": "image"}, token=alice.token).status == 400


def assert_inbox_rows_match_detail(api, conv, *users):
    """The inbox indexes project only what a row shows: a row must still equal the conversation
    read from the table, for each side (a field left out of the projection would come back empty)."""
    for user in users:
        row = next(c for c in api.get("/v1/conversations", token=user.token).body["items"]
                   if c["conversation_id"] == conv)
        detail = api.get(f"/v1/conversations/{conv}", token=user.token).body
        joined = {"doctor"}  # the list adds the doctor's card from the doctors domain, not from the index
        assert {k: v for k, v in row.items() if k not in joined} == {k: v for k, v in detail.items() if k not in joined}


def test_inbox_rows_show_everything_from_the_slim_index(api, chat):
    _, doctor, alice, _, conv = chat
    say(api, alice, conv, "今天血压 130/85")
    api.post(f"/v1/conversations/{conv}/read", token=doctor.token)
    say(api, doctor, conv, "继续观察")
    assert_inbox_rows_match_detail(api, conv, alice, doctor)
    index = {i.Meta.index_name: i.Meta.projection for i in (Conversation.doctor_inbox, Conversation.patient_inbox)}
    assert {name: p.projection_type for name, p in index.items()} == {"doctor_inbox": "INCLUDE",
                                                                      "patient_inbox": "INCLUDE"}
    assert "patient_read_seq" not in index["doctor_inbox"].non_key_attributes


def test_retention_kept(api, chat):
    _, _, alice, _, conv = chat
    from chalicelib.messaging.models import Message

    assert say(api, alice, conv).status == 201
    kept = list(Message.query(conv))
    assert len(kept) == 2  # the binding card and the text
    for m in kept:
        assert m.retain_until - m.created_at >= timedelta(days=3 * 365)
