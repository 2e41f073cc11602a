"""A group send to 1,000 patients reaches each of them once — inbox item and push — through
the deployed route (messaging's batches → one ``message.created`` per recipient → the
notifications consumer), each event within the DynamoDB budget, asserted per recipient."""

from __future__ import annotations

from collections import Counter

import pytest

from chalicelib import topology
from chalicelib.core.config import get_settings
from chalicelib.notifications import delivery
from chalicelib.notifications.models import Device, NotifyAccount
from tests.doctors_support import make_doctor
from tests.group_send_support import seed_patients
from tests.notify_support import fake_providers, received, stop_pointing
from tests.support import count_ddb_calls, redelivering

pytestmark = pytest.mark.enable_socket  # the fake providers listen on a loopback port

N = 1_000
# per recipient: the account's state (GetItem), the inbox item + delivery key + unread counter
# (1 TransactWriteItems), the push claimed with its next try's timer (1 TransactWriteItems),
# the devices (1 Query), the outcome with the pending try cancelled (1 TransactWriteItems)
INBOX_AND_PUSH = Counter({"GetItem": 1, "TransactWriteItems": 3, "Query": 1})


@pytest.fixture
def fake(aws):
    url, _ = fake_providers()
    yield url
    stop_pointing()


def test_group_send_to_1000_patients_notifies_each_once_within_the_budget(api, clock, drain, fake, monkeypatch):
    doctor = make_doctor(api)
    drain()
    bindings = seed_patients(doctor.account_id, N)
    accounts = {f"acct-{b}" for b in bindings}
    with Device.batch_write() as bw:
        for i, acct in enumerate(sorted(accounts)):
            bw.save(Device(f"dev-{i:04d}", account_id=acct, platform="android", provider="jpush", token=f"reg{i:05d}",
                           enabled=True, updated_at=clock.now()))
    r = api.post("/v1/doctor/group-messages", {"all_patients": True, "text": "流感疫苗已到"}, token=doctor.token)
    assert r.status == 202, r.body

    per_event: list[tuple[str, str, Counter]] = []
    real_handle = delivery.handle

    def counted(event_type, event_id, payload):
        with count_ddb_calls() as calls:
            real_handle(event_type, event_id, payload)
        if not redelivering():
            per_event.append((event_type, payload.get("patient_account_id", ""), Counter(calls)))

    monkeypatch.setattr(delivery, "handle", counted)
    drain(max_rounds=50, units={"messaging", "notifications"})

    created = [(acct, calls) for t, acct, calls in per_event if t == "message.created"]
    assert len(created) == N and {acct for acct, _ in created} == accounts  # each patient once
    assert all(calls == INBOX_AND_PUSH for _, calls in created), Counter(
        tuple(sorted(c.items())) for _, c in created)
    # the inbox item alone is 2 calls (issue: ≤ 3), the push 3 more
    assert INBOX_AND_PUSH["GetItem"] + 1 <= 3 and sum(INBOX_AND_PUSH.values()) == 5
    # one push per patient, to that patient's device, nothing twice
    pushes = received(fake, "jpush")
    tokens = [p["body"]["audience"]["registration_id"][0] for p in pushes]
    assert len(tokens) == N and len(set(tokens)) == N
    assert all(p["body"]["notification"]["alert"] == "您有一条新消息" for p in pushes)  # no message text
    unread = {a.account_id: int(a.unread) for a in NotifyAccount.batch_get(sorted(accounts))}
    assert unread == dict.fromkeys(accounts, 1)
    # No consumer run near its timeout: a queue batch is at most batch_size events, each one
    # recipient with the calls above and at most one provider request per device (capped at 10),
    # each bounded by the provider timeout.
    q = topology.queue_settings("notifications")
    worst_provider_s = q.batch_size * 1 * get_settings().provider_timeout_s  # one device each here
    assert worst_provider_s < q.consumer.timeout_s, (worst_provider_s, q.consumer.timeout_s)
