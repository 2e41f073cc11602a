"""The event path of AWS, played on the moto server: the outbox stream's relay, the events topic,
one queue (with a DLQ) per unit subscribed with the same filter policy as the template, and one
poller per queue that runs that unit's consumer the way Lambda's SQS event source does.

AWS's rules, kept: a message the consumer does not acknowledge (an entry of
``batchItemFailures``, or the whole batch when the consumer crashes) is not deleted; it reappears
after the queue's visibility timeout and, after ``maxReceiveCount`` receives, moves to the DLQ
(moto's SQS applies the redrive policy on receive, as SQS does). Each poller runs on its own
thread: a failing consumer of one unit never stops another's.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from chalicelib import events, topology
from chalicelib.core.aws import client
from chalicelib.core.observability import logger
from devstack import calls


@dataclass
class UnitQueue:
    unit: str
    url: str
    arn: str
    dlq_url: str
    types: list[str]


@dataclass
class Topology:
    topic_arn: str
    queues: dict[str, UnitQueue] = field(default_factory=dict)
    relay: Relay | None = None  # set by start(): the running relay and pollers (the test clock drives them too)
    pollers: list[Poller] = field(default_factory=list)


# The relay and every poller take their turns under this lock, so that the test clock
# (devstack/clock.py: deliver_now) can deliver everything pending with nothing left in flight.
DELIVERY = threading.RLock()


def _safe(unit: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in unit)


def ensure_topology(stage: str, *, units: Iterable[str] | None = None, visibility_timeout_s: int | None = None,
                    max_receive_count: int | None = None) -> Topology:
    """Topic, queues, DLQs and filtered subscriptions for every consuming unit (idempotent).
    ``units`` / the overrides are for tests (short timeouts, test-module consumers)."""
    sns, sqs = client("sns"), client("sqs")
    topic_arn = sns.create_topic(Name=topology.topic_name(stage))["TopicArn"]
    subs = events.subscriptions()
    wanted = sorted(set(units) if units is not None else {u for us in subs.values() for u in us})
    existing = {s["Endpoint"]: s["SubscriptionArn"]
                for s in sns.list_subscriptions_by_topic(TopicArn=topic_arn).get("Subscriptions", [])}
    topo = Topology(topic_arn)
    for unit in wanted:
        qs = topology.queue_settings(unit)
        dlq_url = sqs.create_queue(QueueName=_safe(topology.dlq_name(stage, unit)),
                                   Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attrs = {"VisibilityTimeout": str(visibility_timeout_s if visibility_timeout_s is not None
                                          else qs.visibility_timeout_s),
                 "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn,
                                              "maxReceiveCount": max_receive_count or qs.max_receive_count})}
        url = sqs.create_queue(QueueName=_safe(topology.queue_name(stage, unit)))["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attrs)
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        types = [t for t, us in subs.items() if unit in us]
        policy = json.dumps({"type": types})
        if arn in existing:
            sns.set_subscription_attributes(SubscriptionArn=existing[arn], AttributeName="FilterPolicy",
                                            AttributeValue=policy)
        else:
            sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, ReturnSubscriptionArn=True,
                          Attributes={"RawMessageDelivery": "true", "FilterPolicy": policy,
                                      "FilterPolicyScope": "MessageAttributes"})
        topo.queues[unit] = UnitQueue(unit, url, arn, dlq_url, types)
    return topo


class Relay:
    """The streams' one reader: what the event sources + ``outbox_relay`` do on AWS, with the
    same filters. A batch the relay could not fully publish is read again
    from its first failed record (the reader's position is set back), as Lambda retries."""

    def __init__(self, topic_arn: str):
        from chalicelib.core.outbox import OutboxEvent
        from chalicelib.core.streams import StreamReader
        from chalicelib.core.timers import Timer

        # The outbox's stream and the timers' (the sweep's claims): two event sources on AWS,
        # each with its own position and its own retries.
        self.readers = [StreamReader(OutboxEvent.Meta.table_name), StreamReader(Timer.Meta.table_name)]
        self.publish = events.sns_publisher(topic_arn)
        self._held: list[list[dict]] = [[] for _ in self.readers]

    def skip_existing(self) -> None:
        for reader in self.readers:
            reader.skip_existing()

    def tick(self) -> int:
        """One invocation per stream; returns how many records were fully published."""
        with calls.part("relay"):
            return self._tick()

    def _tick(self) -> int:
        done = 0
        for i, reader in enumerate(self.readers):
            records = self._held[i] + [r for r in reader.read() if events.matches_stream_filter(r)]
            self._held[i] = []
            if not records:
                continue
            failures = events.relay(records, self.publish)["batchItemFailures"]
            if failures:
                seq = failures[0]["itemIdentifier"]
                first = next(j for j, r in enumerate(records) if r["dynamodb"]["SequenceNumber"] == seq)
                self._held[i] = records[first:]
            done += len(records) - len(self._held[i])
        return done


def sqs_event(messages: list[dict], queue_arn: str) -> dict:
    """Messages from ReceiveMessage in the shape Lambda's SQS event source hands a function."""
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": {k: str(v) for k, v in m.get("Attributes", {}).items()}, "messageAttributes": {},
        "md5OfBody": m.get("MD5OfBody", ""), "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3]} for m in messages]}


class Invocation:
    """Lambda's context as a consumer reads it: the time left of its function's timeout, counted
    from the invocation's start (the local stack does not end a consumer that runs over)."""

    def __init__(self, timeout_s: int):
        self._ends = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - time.monotonic()) * 1000))


class Poller:
    """One unit's event source mapping: receive up to ``batch_size``, invoke the consumer, delete
    what it acknowledged; the rest comes back after the visibility timeout (or goes to the DLQ)."""

    def __init__(self, q: UnitQueue, consume: Callable[[str, dict], dict] | None = None):
        self.q = q
        settings = topology.queue_settings(q.unit)
        self.batch_size = settings.batch_size
        self.consume = consume or (lambda unit, event: events.consume(unit, event,
                                                                      Invocation(settings.consumer.timeout_s)))

    def tick(self) -> tuple[int, int]:
        """One receive → invoke → delete round; returns (received, acknowledged)."""
        sqs = client("sqs")
        got = sqs.receive_message(QueueUrl=self.q.url, MaxNumberOfMessages=self.batch_size,
                                  AttributeNames=["All"]).get("Messages", [])
        if not got:
            return 0, 0
        try:
            started = time.monotonic()
            try:
                with calls.part(self.q.unit):  # the unit's DynamoDB calls, for budgets checked through the stack
                    answer = self.consume(self.q.unit, sqs_event(got, self.q.arn))
            finally:
                calls.invoked(self.q.unit, time.monotonic() - started, len(got))
            failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
        except Exception:  # the function crashed: Lambda acknowledges nothing of the batch
            logger.exception("consumer failed", extra={"unit": self.q.unit})
            failed = {m["MessageId"] for m in got}
        done = [m for m in got if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            sqs.delete_message_batch(QueueUrl=self.q.url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start:start + 10])])
        return len(got), len(done)

    def drain(self, rounds: int = 50) -> int:
        acked = 0
        for _ in range(rounds):
            received, ok = self.tick()
            acked += ok
            if not received:
                break
        return acked


def start(stage: str, stop: threading.Event, log: Callable[[str], None], every_s: float = 0.5) -> Topology:
    """Create the topology on the moto server and run the relay and one poller per queue."""
    topo = ensure_topology(stage)
    relay = Relay(topo.topic_arn)
    relay.skip_existing()

    def run(name: str, fn: Callable[[], object]) -> None:
        def loop() -> None:
            while not stop.wait(every_s):
                try:
                    with DELIVERY:
                        fn()
                except Exception as exc:  # keep the stack up; the error is on the console
                    log(f"{name} failed: {exc!r}")

        threading.Thread(target=loop, name=name, daemon=True).start()

    topo.relay = relay
    run("outbox-relay", relay.tick)
    for q in topo.queues.values():
        poller = Poller(q)
        topo.pollers.append(poller)
        run(f"poller-{q.unit}", poller.drain)
    return topo
