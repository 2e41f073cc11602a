"""Events through per-unit queues, with AWS's rules, on moto's SNS and SQS (the local stack's code:
``devstack/queues.py`` relay and pollers, ``devstack/dlq.py``), not by calling consumers directly."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from chalicelib import events, topology
from chalicelib.core import deadline, outbox
from chalicelib.core.aws import client
from chalicelib.core.outbox import consumer
from devstack import dlq, queues

RAN: Counter = Counter()
POISON: set[int] = set()
OTHER: list[int] = []
UNIT = events.unit_of_consumer(f"{__name__}._queued")


TIME_LEFT: list[float] = []


@consumer("q.test.happened")
def _queued(event_id, payload):
    if payload["n"] in POISON:
        raise RuntimeError(f"poison {payload['n']}")
    RAN[payload["n"]] += 1
    TIME_LEFT.append(deadline.time_left_s())


@consumer("q.test.happened")
def _other_unit_would_be_here(event_id, payload):  # same module → same unit; see test below
    pass


def _empty(url: str) -> None:
    """PurgeQueue is allowed once a minute: receive and delete instead."""
    sqs = client("sqs")
    while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages"):
        for m in msgs:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


@pytest.fixture
def wired(aws):
    """The topology for this module's unit, with a 1 s visibility timeout and 2 receives before
    the DLQ (production: 6 × the consumer's timeout and 5), so the test runs in seconds."""
    RAN.clear()
    POISON.clear()
    TIME_LEFT.clear()
    topo = queues.ensure_topology("test", units=[UNIT], visibility_timeout_s=1, max_receive_count=2)
    q = topo.queues[UNIT]
    _empty(q.url)
    _empty(q.dlq_url)
    relay = queues.Relay(topo.topic_arn)
    relay.skip_existing()
    return topo, q, relay, queues.Poller(q)


def test_subscriptions_come_from_the_consumers_module_paths():
    subs = events.subscriptions()
    assert subs["q.test.happened"] == (UNIT,)
    units = topology.units()
    for type_, us in subs.items():
        for unit in us:
            assert unit in units or not unit.startswith("chalicelib"), (type_, unit)
    # a domain's consumers land in its unit, e.g. booking's reminders
    booking = [t for t, us in subs.items() if "booking" in us]
    assert booking and all(t.startswith(("timer.", "order.", "booking.", "payment.", "refund."))
                           or "." in t for t in booking)


def test_poison_message_among_ten_is_retried_alone_then_parked_in_the_dlq(wired):
    topo, q, relay, poller = wired
    POISON.add(7)
    for n in range(10):
        outbox.publish("q.test.happened", {"n": n})
    assert relay.tick() == 10
    received, acked = poller.tick()
    assert (received, acked) == (10, 9)
    assert RAN == Counter({n: 1 for n in range(10) if n != 7})
    time.sleep(1.2)  # visibility timeout: the unacknowledged message comes back, alone
    assert poller.tick() == (1, 0)
    time.sleep(1.2)  # received twice = maxReceiveCount: the next receive moves it to the DLQ
    assert poller.tick() == (0, 0)
    lines: list[str] = []
    counts = dlq.show(client("sqs"), "test", out=lines.append)
    assert counts[queues._safe(UNIT)] == 1
    assert any("q.test.happened" in line for line in lines)
    assert RAN == Counter({n: 1 for n in range(10) if n != 7})  # batch-mates never ran twice
    # fixed, redriven, processed once
    POISON.clear()
    assert dlq.redrive(client("sqs"), "test", queues._safe(UNIT), out=lines.append) == 1
    assert poller.drain() == 1
    assert RAN[7] == 1 and dlq.show(client("sqs"), "test", out=lines.append)[queues._safe(UNIT)] == 0


def test_redelivered_message_is_processed_once(wired):
    topo, q, relay, poller = wired
    outbox.publish("q.test.happened", {"n": 1})
    relay.tick()
    body = client("sqs").receive_message(QueueUrl=q.url, VisibilityTimeout=0)["Messages"][0]["Body"]
    client("sqs").send_message(QueueUrl=q.url, MessageBody=body)  # SQS delivers a copy: at-least-once
    assert poller.drain() == 2
    assert RAN == Counter({1: 1})


def test_a_consumer_knows_the_time_its_function_has_left(wired):
    topo, q, relay, poller = wired
    outbox.publish("q.test.happened", {"n": 1})
    relay.tick()
    assert poller.drain() == 1
    timeout = topology.queue_settings(UNIT).consumer.timeout_s
    assert len(TIME_LEFT) == 1 and timeout - 10 < TIME_LEFT[0] <= timeout  # what Lambda's context says
    assert deadline.time_left_s() == float("inf")  # outside an invocation: no deadline


def test_a_crashing_consumer_acknowledges_nothing(wired):
    topo, q, relay, _ = wired
    for n in range(3):
        outbox.publish("q.test.happened", {"n": n})
    relay.tick()

    def crash(unit, event):
        raise MemoryError("function died")

    assert queues.Poller(q, consume=crash).tick() == (3, 0)
    time.sleep(1.2)
    assert queues.Poller(q).drain() == 3
    assert RAN == Counter({0: 1, 1: 1, 2: 1})


def test_ttl_deletions_and_updates_never_reach_the_relay(wired):
    topo, q, relay, poller = wired
    ev = outbox.publish("q.test.happened", {"n": 5})
    ev.update(actions=[outbox.OutboxEvent.payload.set({"n": 6})])
    ev.delete()  # what TTL expiry writes to the stream: a REMOVE
    published: list = []
    relay.publish = lambda msgs: published.extend(msgs) or []
    assert relay.tick() == 1
    assert [m["payload"] for m in published] == [{"n": 5}]
    assert events.matches_stream_filter({"eventName": "REMOVE"}) is False
    assert events.STREAM_FILTER == {"eventName": ["INSERT"]}


def test_relay_publish_failure_is_retried_from_the_first_failed_record(wired):
    topo, q, relay, poller = wired
    for n in range(3):
        outbox.publish("q.test.happened", {"n": n})
    real = relay.publish
    # SNS refused the second entry of the batch and took the others
    relay.publish = lambda msgs: real([m for i, m in enumerate(msgs) if i != 1]) or [1]
    assert relay.tick() == 1
    relay.publish = real
    assert relay.tick() == 2  # retried from the failed record: the third goes out again
    assert poller.drain() == 4  # four messages, the third twice
    assert RAN == Counter({0: 1, 1: 1, 2: 1})  # each ran once (completion markers)
    assert RAN == Counter({0: 1, 1: 1, 2: 1})


def test_one_units_failure_does_not_stop_another(aws):
    """Two units' pollers: the failing one leaves its message, the other processes its own."""
    RAN.clear()
    topo = queues.ensure_topology("test", units=[UNIT, "payments"], visibility_timeout_s=1, max_receive_count=2)
    ok = queues.Poller(topo.queues[UNIT])
    bad = queues.Poller(topo.queues["payments"], consume=lambda unit, event: 1 / 0)
    for q in topo.queues.values():
        _empty(q.url)
    relay = queues.Relay(topo.topic_arn)
    relay.skip_existing()
    outbox.publish("q.test.happened", {"n": 3})
    outbox.publish("timer.order-expiry", {"timer_id": "order-expiry#x", "due": "", "order_id": "x"})
    relay.tick()
    assert bad.tick() == (1, 0)
    assert ok.tick() == (1, 1) and RAN == Counter({3: 1})
