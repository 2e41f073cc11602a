"""Event routing, one layer above the shared core (it knows the domains).

The path of an event on AWS::

    outbox table ─stream (INSERT only)────────────────┐
    timers table ─stream (claims: pending → fired)────┴→ relay ─SNS PublishBatch→ events topic
        ─subscription filtered on the "type" attribute→ <unit> queue (+ DLQ) → <unit> consumer

* **Subscriptions** are not typed anywhere: a consumer registers with ``@outbox.consumer(type)``
  in ``chalicelib/<domain>/…``; its module path names its domain, the domain names its unit
  (``chalicelib/topology.py``). ``subscriptions()`` is the resulting table — the template's
  filter policies, the local stack's subscriptions and the README table are generated from it.
* **The relay** (``relay``) turns stream records into messages (an outbox event, or a timer the
  sweep claimed → ``timer.<kind>``) and publishes those that have a subscriber, ten per call.
  It reports the first record it could not publish, so the stream retries from there.
* **A unit's consumer** (``consume``) runs the unit's consumers for each message with
  Powertools batch processing and answers ``batchItemFailures``: a failing message is retried
  alone (and parked in the DLQ after ``maxReceiveCount``) while its batch-mates are deleted.

Delivery is at-least-once everywhere; consumers are idempotent by event id (timer consumers by
their own state). ``deliver_records`` runs the same routing in-process, for the tests' drain.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Container, Iterable
from typing import Any

from chalicelib import topology
from chalicelib.core import deadline, outbox, timers
from chalicelib.core.observability import logger
from chalicelib.domains import DOMAINS, load_all, load_domain, load_shared

# Lambda event filtering on the relay's two streams (the template's FilterCriteria, and honoured
# by the local relay): new outbox events only (TTL deletions never reach it), and timer claims.
STREAM_FILTER: dict[str, list[str]] = {"eventName": ["INSERT"]}
TIMER_FILTER: dict = timers.FIRED_FILTER
SNS_BATCH = 10

Message = dict[str, Any]  # {"event_id", "type", "payload"}


def domain_of(consumer_name: str) -> str:
    """``chalicelib.<domain>.…`` → ``<domain>``; anything else (a test module) is its own module."""
    parts = consumer_name.split(".")
    if len(parts) > 2 and parts[0] == "chalicelib" and parts[1] in DOMAINS:
        return parts[1]
    return consumer_name.rsplit(".", 1)[0]


def unit_of_consumer(consumer_name: str) -> str:
    return topology.unit_of(domain_of(consumer_name))


def subscriptions(deployed: bool = False) -> dict[str, tuple[str, ...]]:
    """event type → the units that consume it (every domain loaded first). ``deployed``: only
    the units of ``chalicelib/topology.py`` (not consumers that tests register)."""
    load_all()
    units = topology.units()
    out: dict[str, tuple[str, ...]] = {}
    for type_, consumers in sorted(outbox.registered_consumers().items()):
        us = {unit_of_consumer(name) for name, _ in consumers}
        if deployed:
            us &= set(units)
        if us:
            out[type_] = tuple(sorted(us))
    return out


def types_for(unit: str) -> list[str]:
    return sorted(t for t, units in subscriptions().items() if unit in units)


def subscribers(type_: str) -> tuple[str, ...]:
    return tuple(sorted({unit_of_consumer(name) for name, _ in outbox.consumers_for(type_)}))


# -- relay ----------------------------------------------------------------------------------------
def matches(value: Any, pattern: Any) -> bool:
    """Lambda event filtering's core rule: every key of the pattern present and matching; a list
    of values is "one of these"."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(k in value and matches(value[k], p) for k, p in pattern.items())
    return value in pattern


def matches_stream_filter(record: dict) -> bool:
    """A record the relay's event source mappings let through (outbox INSERTs, timer claims)."""
    return matches(record, STREAM_FILTER) or matches(record, TIMER_FILTER)


def messages_of(record: dict) -> list[Message]:
    keys = record.get("dynamodb", {}).get("Keys", {})
    if "event_id" in keys and matches(record, STREAM_FILTER):
        event = outbox.OutboxEvent.from_raw_data(record["dynamodb"]["NewImage"])
        return [{"event_id": event.event_id, "type": event.type, "payload": event.payload}]
    if "timer_id" in keys and matches(record, TIMER_FILTER):
        timer = timers.Timer.from_raw_data(record["dynamodb"]["NewImage"])
        # One id per firing, stable across redeliveries of the same stream record.
        event_id = f"{timer.timer_id}@{record['dynamodb']['SequenceNumber']}"
        return [{"event_id": event_id, "type": f"timer.{timer.kind}",
                 "payload": {"timer_id": timer.timer_id, "due": timer.due, **timer.payload}}]
    return []


Publisher = Callable[[list[Message]], list[int]]  # → indexes of the messages it failed to publish


def sns_publisher(topic_arn: str | None = None) -> Publisher:
    from chalicelib.core.aws import client
    from chalicelib.core.config import get_settings

    arn = topic_arn or get_settings().events_topic_arn

    def publish(messages: list[Message]) -> list[int]:
        entries = [{"Id": str(i), "Message": json.dumps(m, ensure_ascii=False, separators=(",", ":")),
                    "MessageAttributes": {"type": {"DataType": "String", "StringValue": m["type"]}}}
                   for i, m in enumerate(messages)]
        resp = client("sns").publish_batch(TopicArn=arn, PublishBatchRequestEntries=entries)
        return [int(f["Id"]) for f in resp.get("Failed", [])]

    return publish


def relay(records: list[dict], publish: Publisher | None = None) -> dict:
    """Forward stream records' events to the topic; ``{"batchItemFailures": [...]}`` names the
    first record not fully published (the stream retries from it; what was already published
    is sent again — at-least-once)."""
    load_all()
    publish = publish or sns_publisher()
    pending: list[tuple[int, Message]] = []
    for i, record in enumerate(records):
        pending.extend((i, m) for m in messages_of(record) if subscribers(m["type"]))
    failed: set[int] = set()
    for start in range(0, len(pending), SNS_BATCH):
        chunk = pending[start:start + SNS_BATCH]
        try:
            bad = publish([m for _, m in chunk])
        except Exception:
            logger.exception("relay publish failed", extra={"messages": len(chunk)})
            bad = list(range(len(chunk)))
        failed.update(chunk[j][0] for j in bad)
    if not failed:
        return {"batchItemFailures": []}
    first = min(failed)
    logger.warning("relay: records left for retry", extra={"from_record": first, "records": len(records)})
    return {"batchItemFailures": [{"itemIdentifier": records[first]["dynamodb"]["SequenceNumber"]}]}


# -- consumers ------------------------------------------------------------------------------------
def load_unit(unit: str) -> None:
    load_shared()
    for d in topology.units().get(unit, ()):
        load_domain(d)


def deliver_to_unit(unit: str, message: Message) -> int:
    """Run the unit's consumers of one message (each at most once per completion marker)."""
    load_unit(unit)
    consumers = [(n, fn) for n, fn in outbox.consumers_for(message["type"]) if unit_of_consumer(n) == unit]
    return outbox.run_consumers(message["event_id"], message["type"], message["payload"], consumers)


def consume(unit: str, sqs_event: dict, context: Any = None) -> dict:
    """A unit's SQS batch → ``{"batchItemFailures": [...]}`` (Powertools batch processing)."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    def handle(record) -> None:
        deliver_to_unit(unit, json.loads(record.body))

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    with deadline.invocation(context):
        return dict(process_partial_response(event=sqs_event, record_handler=handle, processor=processor,
                                             context=context))


def deliver_records(records: Iterable[dict], units: Container[str] | None = None) -> list[str]:
    """The whole route in-process (the tests' drain): filter, expand, find subscribers, run each
    unit's consumers (only ``units``' when given). A consumer's exception propagates. Returns the
    delivered messages' types."""
    load_all()
    seen: list[str] = []
    for record in records:
        for message in messages_of(record):
            seen.append(message["type"])
            for unit in subscribers(message["type"]):
                if units is None or unit in units:
                    deliver_to_unit(unit, message)
    return seen
