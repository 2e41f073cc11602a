"""Group send (群发) at scale: 202 and fan-out through the queue, progress, idempotent batches,
the daily limit, and only active bindings reached."""


import pytest

from chalicelib.core.ids import new_id
from chalicelib.core.outbox import OutboxEvent
from chalicelib.messaging import group_send
from chalicelib.messaging.models import Conversation, GroupSend, Message
from tests.bindings_support import bind
from tests.doctors_support import make_admin, make_doctor, make_patient
from tests.group_send_support import seed_patients
from tests.support import count_ddb_calls


@pytest.fixture
def clinic(clock, api, drain):
    admin = make_admin(api)
    doctor = make_doctor(api, admin)
    patients = [make_patient(api) for _ in range(5)]
    convs = [bind(api, doctor, p)["binding_id"] for p in patients]
    drain()
    return admin, doctor, patients, convs


def groups(api, doctor, conv, *names):
    r = api.call("PUT", f"/v1/doctor/bindings/{conv}/groups", {"groups": list(names)}, token=doctor.token)
    assert r.status == 200, r.body


def latest(api, user, conv):
    return api.get(f"/v1/conversations/{conv}/messages?limit=1", token=user.token).body["items"][0]


def test_groups_preview_202_progress_and_only_active_reached(api, clinic, drain):
    admin, doctor, (alice, bob, carol, dave, erin), (a, b, c, d, e) = clinic
    for conv in (a, b, d, e):
        groups(api, doctor, conv, "高血压")
    groups(api, doctor, c, "糖尿病")
    assert api.post(f"/v1/doctor/bindings/{d}/block", token=doctor.token).status == 200
    assert api.post(f"/v1/bindings/{e}/end", token=erin.token).status == 200
    drain()
    before = api.get(f"/v1/conversations/{a}", token=alice.token).body

    audience = {"groups": ["高血压", "糖尿病"]}
    pv = api.post("/v1/doctor/group-messages/preview", audience, token=doctor.token)
    assert pv.status == 200 and pv.body == {"recipients": 3, "limit": 10_000, "sends_left_today": 3}
    r = api.post("/v1/doctor/group-messages", {**audience, "text": "本周六义诊"}, token=doctor.token)
    assert r.status == 202 and r.body["status"] == "planning" and r.body["delivered"] == 0, r.body
    send_id = r.body["send_id"]
    drain()
    g = api.get(f"/v1/doctor/group-messages/{send_id}", token=doctor.token).body
    assert (g["status"], g["total"], g["delivered"], g["failed"]) == ("done", 3, 3, 0)
    for user, conv in ((alice, a), (bob, b), (carol, c)):
        m = latest(api, user, conv)
        assert (m["text"], m["sender_role"]) == ("本周六义诊", "doctor")
    for conv in (d, e):  # blocked and ended: never reached
        assert api.get(f"/v1/conversations/{conv}/messages?limit=1", token=doctor.token).body["items"][0]["text"] \
            != "本周六义诊"
    after = api.get(f"/v1/conversations/{a}", token=alice.token).body
    assert after["unread"] == before["unread"] + 1
    assert after["free_messages_left"] == before["free_messages_left"]  # never counts against the patient
    listed = api.get("/v1/doctor/group-messages", token=doctor.token).body
    assert [x["send_id"] for x in listed["items"]] == [send_id] and listed["next_cursor"] is None
    # one message.created per recipient, marked as a group send, for notifications
    created = [ev for ev in OutboxEvent.scan() if ev.type == "message.created"
               and ev.payload.get("group_send_id") == send_id]
    assert sorted(ev.payload["conversation_id"] for ev in created) == sorted([a, b, c])


def test_doctor_unread_keeps_what_the_patient_wrote(api, clinic, drain):
    _, doctor, (alice, *_), (a, *_) = clinic
    api.post(f"/v1/conversations/{a}/read", token=doctor.token)
    assert api.post(f"/v1/conversations/{a}/messages", {"text": "医生好"}, token=alice.token).status == 201
    assert api.get(f"/v1/conversations/{a}", token=doctor.token).body["unread"] == 1
    assert api.post("/v1/doctor/group-messages", {"all_patients": True, "text": "国庆停诊"},
                    token=doctor.token).status == 202
    drain()
    # the doctor's own group message is not unread to them; the patient's message still is
    assert api.get(f"/v1/conversations/{a}", token=doctor.token).body["unread"] == 1


def test_card_daily_limit_and_authorization(api, clinic, drain, clock):
    admin, doctor, patients, convs = clinic
    other = make_doctor(api, admin, name="钱医生")
    notice = {"all_patients": True, "card": {"type": "notice", "title": "停诊通知", "text": "12月5日停诊"}}
    sent = [api.post("/v1/doctor/group-messages", notice, token=doctor.token) for _ in range(3)]
    assert [r.status for r in sent] == [202, 202, 202]
    r = api.post("/v1/doctor/group-messages", notice, token=doctor.token)
    assert r.status == 429 and r.error_code == "group_send_limit" and int(r.headers["Retry-After"]) > 0
    pv = api.post("/v1/doctor/group-messages/preview", {"all_patients": True}, token=doctor.token).body
    assert pv["sends_left_today"] == 0
    drain()
    m = latest(api, patients[0], convs[0])
    assert m["kind"] == "card" and m["card"]["type"] == "notice" and m["card"]["group_send_id"]
    send_id = sent[0].body["send_id"]
    assert api.get(f"/v1/doctor/group-messages/{send_id}", token=other.token).status == 404
    assert api.get("/v1/doctor/group-messages", token=other.token).body["items"] == []
    assert api.get(f"/v1/doctor/group-messages/{send_id}", token=patients[0].token).status == 403
    assert api.post("/v1/doctor/group-messages", notice, token=other.token).error_code == "no_recipients"
    # a session card must name the doctor's own open session
    bad = {"all_patients": True, "card": {"type": "booking_session", "session_id": "nope", "title": "加号"}}
    assert api.post("/v1/doctor/group-messages", bad, token=doctor.token).status == 404
    for body in ({"all_patients": True}, {"groups": [], "text": "x"}, {"all_patients": True, "groups": ["a"], "text": "x"},
                 {"all_patients": True, "text": "x", "card": notice["card"]}):
        assert api.post("/v1/doctor/group-messages", body, token=doctor.token).status == 400, body
    clock.advance(days=1)  # a new Asia/Shanghai day
    assert api.post("/v1/doctor/group-messages", notice, token=api.relogin(doctor).token).status == 202


# --- at scale --------------------------------------------------------------------------------

# In-process moto deep-copies every table a transaction touches, outbox stream included, so its
# cost grows with everything written before; the 1,000-recipient run is ``bench/group_send.py``.
N = 200


def test_many_recipients_once_each_and_redelivered_batch_adds_nothing(api, clock, drain):
    doctor = make_doctor(api)
    ids = seed_patients(doctor.account_id, N)
    seed_patients(doctor.account_id, 20, status="blocked")
    seed_patients(doctor.account_id, 20, status="ended")
    assert api.post("/v1/doctor/group-messages/preview", {"all_patients": True},
                    token=doctor.token).body["recipients"] == N
    r = api.post("/v1/doctor/group-messages", {"all_patients": True, "text": "流感疫苗已到"}, token=doctor.token)
    assert r.status == 202
    send_id = r.body["send_id"]
    with count_ddb_calls() as calls:  # the messaging unit's own work; notifying people is not in its budget
        drain(max_rounds=50, units={"messaging"})
    assert len(calls) / N <= 2, (len(calls), {c: calls.count(c) for c in set(calls)})
    g = api.get(f"/v1/doctor/group-messages/{send_id}", token=doctor.token).body
    assert (g["status"], g["total"], g["delivered"], g["failed"]) == ("done", N, N, 0)

    def check_once():
        convs = list(Conversation.batch_get(ids, consistent_read=True))
        assert len(convs) == N and {int(c.seq) for c in convs} == {2}
        assert all(send_id in c.group_sends for c in convs)
        msgs = list(Message.batch_get([(i, 2) for i in ids] + [(i, 3) for i in ids]))
        assert len(msgs) == N and {m.text for m in msgs} == {"流感疫苗已到"}

    check_once()
    # a batch delivered again (its completion marker lost), also before its counts were added
    batch = next(ev for ev in OutboxEvent.scan() if ev.type == "message.group_send_batch"
                 and ev.payload["send_id"] == send_id)
    group_send._on_batch(new_id(), batch.payload)
    GroupSend(send_id).update(actions=[GroupSend.batches_done.delete({batch.payload["batch"]}),
                                       GroupSend.delivered.add(-len(batch.payload["binding_ids"]))])
    group_send._on_batch(new_id(), batch.payload)
    check_once()
    g = api.get(f"/v1/doctor/group-messages/{send_id}", token=doctor.token).body
    assert (g["total"], g["delivered"], g["failed"]) == (N, N, 0)


def test_over_the_recipient_limit_is_refused(api, clock, drain, monkeypatch):
    doctor = make_doctor(api)
    seed_patients(doctor.account_id, 3)
    from chalicelib.core.settings import Settings

    monkeypatch.setattr(group_send, "get_settings", lambda: Settings(messaging_group_max_recipients=2))
    r = api.post("/v1/doctor/group-messages", {"all_patients": True, "text": "x"}, token=doctor.token)
    assert r.status == 422 and r.error_code == "too_many_recipients"


def test_one_consumer_invocation_delivers_to_at_most_200_recipients():
    """A delivery event is BATCH recipients, one transaction each; the messaging queue hands its
    consumer ``batch_size`` events at a time. 1,000 in one invocation took 44 s of its 60 s on the
    local stack (``bench/group_send_stack.py``); 200 stay far from the timeout."""
    from chalicelib import topology

    qs = topology.queue_settings("messaging")
    assert group_send.BATCH * qs.batch_size <= 200
    assert qs.consumer.timeout_s >= 60
