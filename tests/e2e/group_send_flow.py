"""A group send (群发) to many patients through the real local stack — ``chalice local``, the
outbox relay, the SNS topic, the messaging unit's queue and its poller — driven over HTTP the way
the doctor's app does; shared by ``tests/e2e/test_group_send_scale.py`` (CI size) and
``bench/group_send_stack.py`` (issue #17's 1,000).

The patients are seeded by the stack's dev-only ``POST /dev/seed/bound-patients`` (batch writes;
binding one patient through the API is ~10 requests), besides a few blocked and ended bindings
that must never be reached. The DynamoDB budget (≤ 2 calls per recipient) is read from the
stack's own counters (``GET /dev/calls``): the API process's calls for the ``POST`` and the
messaging unit's consumers' calls for the whole fan-out (plan steps, batches, progress,
completion markers). Every recipient's conversation is then read on the stack's moto server:
exactly one message of the send each. Last, a batch is delivered again through the topic, as SQS
redelivers it (same event id) and as it would run after a crash before its progress was written
(a fresh event id, the batch uncounted): still one message each, the progress exact.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import botocore.session

from tests.e2e.test_doctor_tools import _doctor
from tests.e2e.test_stack import until

TEXT = "流感疫苗已到，可预约接种"
BUDGET_PER_RECIPIENT = 2


@dataclass
class Result:
    n: int
    seed_s: float  # POST /dev/seed/bound-patients for n
    accepted_s: float  # POST /v1/doctor/group-messages → its 202
    delivered_s: float  # from the POST until GET on the send shows every recipient delivered
    request_calls: int  # the POST's DynamoDB calls
    fanout_calls: int  # the messaging unit's consumers' calls for the whole fan-out
    per_recipient: float
    longest_invocation_s: float  # the messaging consumer's longest invocation (its timeout: 60 s)
    progress_seen: list[int]  # delivered counts GET showed on the way
    phases_s: dict[str, float]  # seconds from the start of run() to the end of each phase


def _aws(stack, service: str):
    """A client of the stack's moto server, to read what the API shows only page by page (every
    message of 1,000 conversations) and to redeliver a message as SQS would."""
    return botocore.session.get_session().create_client(
        service, region_name="cn-north-1", endpoint_url=stack.moto, aws_access_key_id="devstack",
        aws_secret_access_key="devstack")


def _table(ddb, suffix: str) -> str:
    return next(t for t in ddb.list_tables()["TableNames"] if t.endswith(f"-{suffix}"))


def _scan(ddb, table: str, **kwargs) -> list[dict]:
    items, start = [], {}
    while True:
        page = ddb.scan(TableName=table, ConsistentRead=True, **kwargs, **start)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def _stats(stack, tok: str) -> dict:
    status, out = stack.call("GET", "/dev/calls", token=tok)
    assert status == 200, out
    return out


def _calls(stack, tok: str, part: str) -> int:
    return sum(_stats(stack, tok)["dynamodb"].get(part, {}).values())


def _settled(stack, tok: str) -> int:
    """The messaging unit's call count once its queue is quiet (no new call for 2 s)."""
    return _until_still(lambda: _calls(stack, tok, "messaging"))


def _quiet(stack, tok: str) -> None:
    """Every unit's consumers idle (no new DynamoDB call for 2 s): the notifications unit has
    worked off its n ``message.created``, so the tests after this one find the queues as usual
    (the stack's pollers take turns: a backlog in one delays the others)."""
    from chalicelib import topology

    units = set(topology.units())  # not the relay, the scheduler or the API: they call on every tick

    def busy() -> int:
        return sum(sum(ops.values()) for p, ops in _stats(stack, tok)["dynamodb"].items() if p in units)

    _until_still(busy)


def _until_still(count, timeout: float = 600) -> int:
    """``count()`` once it stops changing for 2 s."""
    deadline = time.monotonic() + timeout
    last = count()
    while time.monotonic() < deadline:
        time.sleep(2)
        now = count()
        if now == last:
            return now
        last = now
    raise AssertionError("the stack's consumers did not go idle")


def _received(ddb, messages: str, doctor_id: str) -> dict[str, int]:
    """conversation id → how many messages of the send (its text, from the doctor) it holds."""
    got: dict[str, int] = {}
    for m in _scan(ddb, messages, FilterExpression="doctor_id = :d AND sender_role = :r AND #t = :t",
                   ExpressionAttributeNames={"#t": "text"},
                   ExpressionAttributeValues={":d": {"S": doctor_id}, ":r": {"S": "doctor"}, ":t": {"S": TEXT}}):
        cid = m["conversation_id"]["S"]
        got[cid] = got.get(cid, 0) + 1
    return got


def run(stack, n: int, doctor_phone: str) -> Result:
    start, phases = time.monotonic(), {}

    def phase(name: str) -> None:
        phases[name] = round(time.monotonic() - start, 1)

    dtok = _doctor(stack, doctor_phone)
    phase("doctor")
    doctor_id = stack.call("GET", "/v1/me", token=dtok)[1]["account_id"]

    t0 = time.monotonic()
    status, seeded = stack.call("POST", "/dev/seed/bound-patients", {"count": n}, token=dtok)
    seed_s = time.monotonic() - t0
    assert status == 201 and seeded["seeded"] == n, seeded
    recipients = set(seeded["binding_ids"])
    never: set[str] = set()
    for st in ("blocked", "ended"):
        status, out = stack.call("POST", "/dev/seed/bound-patients", {"count": 5, "status": st}, token=dtok)
        assert status == 201, out
        never |= set(out["binding_ids"])
    status, pv = stack.call("POST", "/v1/doctor/group-messages/preview", {"all_patients": True}, token=dtok)
    assert status == 200 and pv["recipients"] == n, pv
    phase("seeded")

    api0, msg0 = _calls(stack, dtok, "api"), _calls(stack, dtok, "messaging")
    t0 = time.monotonic()
    status, sent = stack.call("POST", "/v1/doctor/group-messages", {"all_patients": True, "text": TEXT}, token=dtok)
    accepted_s = time.monotonic() - t0
    assert status == 202, sent
    request_calls = _calls(stack, dtok, "api") - api0  # /dev/calls itself makes no DynamoDB call
    send_id = sent["send_id"]
    progress: list[int] = []

    def done():
        g = stack.call("GET", f"/v1/doctor/group-messages/{send_id}", token=dtok)[1]
        progress.append(g["delivered"])
        return g["status"] == "done" and g

    g = until(done, timeout=max(120, n * 0.5))
    delivered_s = time.monotonic() - t0
    assert (g["total"], g["delivered"], g["failed"]) == (n, n, 0), g
    fanout_calls = _settled(stack, dtok) - msg0
    per_recipient = (request_calls + fanout_calls) / n
    phase("delivered")
    assert per_recipient <= BUDGET_PER_RECIPIENT, (request_calls, fanout_calls)

    ddb = _aws(stack, "dynamodb")
    messages = _table(ddb, "messages")
    got = _received(ddb, messages, doctor_id)
    assert set(got) == recipients and set(got.values()) == {1}  # everyone once
    assert not never & set(got)  # blocked and ended bindings never
    listed = stack.call("GET", "/v1/doctor/group-messages", token=dtok)[1]["items"]
    assert [x["send_id"] for x in listed] == [send_id]
    phase("checked")

    # a batch again through the topic: as SQS redelivers it, and as after a crash before its progress
    outbox, sends = _table(ddb, "outbox"), _table(ddb, "group_sends")
    batch = next(e for e in _scan(ddb, outbox, FilterExpression="#t = :t", ExpressionAttributeNames={"#t": "type"},
                                  ExpressionAttributeValues={":t": {"S": "message.group_send_batch"}})
                 if json.loads(e["payload"]["S"])["send_id"] == send_id)
    payload = json.loads(batch["payload"]["S"])
    ddb.update_item(TableName=sends, Key={"send_id": {"S": send_id}},
                    UpdateExpression="DELETE batches_done :b ADD delivered :minus",
                    ExpressionAttributeValues={":b": {"NS": [str(payload["batch"])]},
                                               ":minus": {"N": str(-len(payload["binding_ids"]))}})
    sns = _aws(stack, "sns")
    topic = next(t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith("-events"))
    for event_id in (batch["event_id"]["S"], batch["event_id"]["S"] + "-again"):
        sns.publish(TopicArn=topic, Message=json.dumps({"event_id": event_id, "type": "message.group_send_batch",
                                                        "payload": payload}, ensure_ascii=False),
                    MessageAttributes={"type": {"DataType": "String", "StringValue": "message.group_send_batch"}})
    # the stack's pollers take turns (devstack/queues.py): the redelivery waits behind the
    # notifications unit's backlog of n message.created events
    until(lambda: stack.call("GET", f"/v1/doctor/group-messages/{send_id}", token=dtok)[1]["delivered"] == n,
          timeout=max(60, n * 0.4))
    phase("redelivered")
    _settled(stack, dtok)
    g = stack.call("GET", f"/v1/doctor/group-messages/{send_id}", token=dtok)[1]
    assert (g["status"], g["total"], g["delivered"], g["failed"]) == ("done", n, n, 0), g
    assert _received(ddb, messages, doctor_id) == got

    longest = _stats(stack, dtok)["invocations"].get("messaging", {}).get("max_s", 0.0)
    phase("rechecked")
    _quiet(stack, dtok)
    phase("quiet")
    return Result(n, seed_s, accepted_s, delivered_s, request_calls, fanout_calls, per_recipient, longest, progress,
                  phases)
