"""The shared event and time machinery: outbox → dispatcher, durable timers."""

import os
from datetime import timedelta

from chalicelib import events
from chalicelib.core import outbox, timers
from chalicelib.core.outbox import consumer
from tests.support import count_ddb_calls

SEEN: list[tuple[str, dict]] = []


@consumer("test.happened", "timer.test-kind")
def _record(event_id, payload):
    SEEN.append((event_id, payload))


def test_event_written_with_state_change_reaches_consumer_once(aws, drain):
    SEEN.clear()
    with outbox.transaction() as tx:
        ev = outbox.emit(tx, "test.happened", {"x": 1})
    assert drain() == ["test.happened"]
    assert SEEN == [(ev.event_id, {"x": 1})]
    # redelivery of the same record (stream retry) runs nothing twice
    assert outbox.deliver(ev.event_id, "test.happened", {"x": 1}) == 0
    assert len(SEEN) == 1


def test_timer_fires_once_when_due(aws, drain, clock):
    SEEN.clear()
    tid = timers.schedule("test-kind", clock.now() + timedelta(minutes=10), {"k": "v"}, key="abc")
    assert tid == "test-kind#abc"
    assert timers.sweep() == 0
    clock.advance(minutes=11)
    assert timers.sweep() == 1
    assert timers.sweep() == 0  # overlapping or repeated sweeps fire nothing twice
    drain()
    assert [p["k"] for _, p in SEEN] == ["v"]


def test_cancelled_timer_never_fires(aws, drain, clock):
    SEEN.clear()
    tid = timers.schedule("test-kind", clock.now() + timedelta(minutes=1), {}, key="c1")
    timers.cancel(tid)
    clock.advance(minutes=5)
    assert timers.sweep() == 0
    assert drain() == []


def test_sweep_queries_only_and_never_scans(aws, clock):
    for i in range(3):
        timers.schedule("test-kind", clock.now() + timedelta(seconds=i), {}, key=f"s{i}")
    clock.advance(minutes=1)
    with count_ddb_calls() as calls:
        assert timers.sweep() == 3
    assert "Scan" not in calls
    assert calls.count("Query") == 8  # one per shard


def test_events_after_a_cancelled_transaction_still_arrive(aws, drain):
    """A refused transaction must not blind the stream reader to later events."""
    import pytest
    from pynamodb.exceptions import TransactWriteError

    SEEN.clear()
    first = outbox.publish("test.happened", {"n": 1})
    with pytest.raises(TransactWriteError):
        with outbox.transaction() as tx:
            outbox.emit(tx, "test.happened", {"n": 2})
            tx.save(outbox.OutboxEvent(first.event_id, type="x", payload={}, created_at=first.created_at,
                                       expires_at=first.expires_at),
                    condition=outbox.OutboxEvent.event_id.does_not_exist())
    outbox.publish("test.happened", {"n": 3})
    drain()
    assert [p["n"] for _, p in SEEN] == [1, 3]


def test_cancel_outside_a_transaction_leaves_a_fired_timer_and_says_so(aws, drain, clock, caplog):
    tid = timers.schedule("test-kind", clock.now() + timedelta(minutes=1), {}, key="f1")
    clock.advance(minutes=2)
    assert timers.sweep() == 1
    timers.cancel(tid)  # already fired: left alone, logged
    assert timers.Timer.get(tid).status == "fired"
    timers.cancel("test-kind#never-existed")  # never existed: left alone too


def test_cancel_in_a_transaction_takes_a_pending_timer_off_the_index(aws, clock):
    tid = timers.schedule("test-kind", clock.now() + timedelta(minutes=1), {}, key="t1")
    with outbox.transaction() as tx:
        timers.cancel(tid, tx=tx)
    t = timers.Timer.get(tid)
    assert t.status == "cancelled" and t.shard is None
    clock.advance(minutes=2)
    assert timers.sweep() == 0


def test_transactions_share_one_connection_per_process(aws):
    """A new botocore client per TransactWriteItems cost ~50 ms of CPU each (issue #10, item 15)."""
    seen = []
    for i in range(3):
        with outbox.transaction() as tx:
            outbox.emit(tx, "test.happened", {"i": i})
            seen.append(tx._connection)
    assert seen[0] is seen[1] is seen[2]
    assert seen[0].client is seen[2].client


def test_tracing_off_never_imports_the_xray_sdk():
    import subprocess
    import sys

    code = ("import os, sys; os.environ['POWERTOOLS_TRACE_DISABLED']='true'\n"
            "from chalicelib.core.observability import tracing_middleware\n"
            "assert tracing_middleware('ev', lambda e: e + '!') == 'ev!'\n"
            "print(sorted(m for m in sys.modules if m.startswith('aws_xray_sdk')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


# The 10,000. moto's cost per call is fixed, not the table's size (an UpdateItem cost the
# same on 300 items and on 10,000); what made this slow was moto writing its answers (a third of
# an item call's CPU before devstack's fast_dynamodb_answers). Still ~4 calls of moto per timer, so
# this file runs in its own process, started first (scripts/run_tests.py SLOW_FIRST).
MANY = int(os.environ.get("SUIZHEN_TEST_MANY_TIMERS", "10000"))


def test_sweep_hands_off_many_due_timers_in_one_invocation_each_action_once(aws, drain, clock):
    SEEN.clear()
    due = clock.now() + timedelta(seconds=30)
    with timers.Timer.batch_write() as batch:
        for i in range(MANY):
            tid = timers.timer_id_for("test-kind", f"m{i}")
            batch.save(timers.Timer(tid, kind="test-kind", due=timers.due_key(due), status="pending",
                                    shard=timers._shard_of(tid), payload={"i": i}))
    drain.skip_existing()
    clock.advance(minutes=1)
    budget = {"left": 60_000}
    with count_ddb_calls() as calls:
        assert timers.sweep(remaining_ms=lambda: budget["left"]) == MANY
    assert calls.count("UpdateItem") == MANY and "Scan" not in calls and "TransactWriteItems" not in calls
    assert calls.count("Query") <= 8 + MANY // 500  # pages of ~1 MB per shard
    messages = [m for reader in drain.readers for r in reader.read() for m in events.messages_of(r)]
    assert len(messages) == MANY
    for m in messages:  # the queue delivers every message twice
        for _ in range(2):
            events.deliver_to_unit(events.unit_of_consumer(f"{__name__}._record"), m)
    assert sorted(p["i"] for _, p in SEEN) == list(range(MANY))


def test_sweep_stops_cleanly_when_its_time_runs_out(aws, drain, clock):
    for i in range(20):
        timers.schedule("test-kind", clock.now(), {"i": i}, key=f"late{i}")
    clock.advance(minutes=1)
    left = iter([60_000] * 5 + [1_000] * 1000)
    fired = timers.sweep(remaining_ms=lambda: next(left), workers=1)
    assert 0 < fired < 20
    assert timers.sweep() == 20 - fired  # the rest is left pending for the next run


def test_a_cancelled_or_rescheduled_timer_is_not_claimed(aws, clock):
    timers.schedule("test-kind", clock.now() + timedelta(minutes=1), {}, key="r1")
    clock.advance(minutes=2)
    # rescheduled later between the index read and the claim: the claim's condition refuses it
    timers.schedule("test-kind", clock.now() + timedelta(hours=1), {}, key="r1")
    assert timers._claim("test-kind#r1", timers.due_key(clock.now())) is False
    assert timers.sweep() == 0
