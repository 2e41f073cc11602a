"""Transactional outbox and the dispatcher that delivers its events.

A domain writes its state change and its event in one ``TransactWriteItems``::

    with transaction() as tx:
        tx.save(binding, condition=...)
        emit(tx, "binding.activated", {"binding_id": ...})

The outbox table's stream (DynamoDB Streams on AWS, a poller in the local stack) feeds
``dispatch`` which calls every consumer registered for the event's type. A consumer runs at
most once per event id: its completion is recorded, and redelivered events skip it. A consumer
that raises makes the batch fail so the stream retries it; consumers must be idempotent anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import lru_cache
from typing import Any

from pynamodb.attributes import JSONAttribute, TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import PutError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from . import clock
from .config import get_settings
from .db import meta, register
from .ids import new_id
from .observability import logger

RETAIN_EVENTS = timedelta(days=7)


@register
class OutboxEvent(Model):
    Meta = meta("outbox", stream_view_type="NEW_IMAGE")
    event_id = UnicodeAttribute(hash_key=True)
    type = UnicodeAttribute()
    payload = JSONAttribute()
    created_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute()


@register
class ConsumedEvent(Model):
    """Marks that one consumer has handled one event (idempotency by event id)."""

    Meta = meta("consumed_events")
    key = UnicodeAttribute(hash_key=True)  # "<consumer>#<event_id>"
    expires_at = TTLAttribute()


@lru_cache(maxsize=1)
def _connection() -> Connection:
    """One PynamoDB connection (one botocore client, ~50 ms of CPU to build) per process, made on
    first use — after moto or the local endpoint is in place. Its client is thread-safe."""
    return Connection(region=get_settings().region, max_retry_attempts=2)


def reset_connection() -> None:
    """Forget the connection (tests that restart moto)."""
    _connection.cache_clear()


@contextmanager
def transaction() -> Iterator[TransactWrite]:
    with TransactWrite(connection=_connection()) as tx:
        yield tx


def new_event(type_: str, payload: dict[str, Any]) -> OutboxEvent:
    now = clock.now()
    return OutboxEvent(new_id(), type=type_, payload=payload, created_at=now, expires_at=now + RETAIN_EVENTS)


def emit(tx: TransactWrite, type_: str, payload: dict[str, Any]) -> OutboxEvent:
    event = new_event(type_, payload)
    tx.save(event, condition=OutboxEvent.event_id.does_not_exist())
    return event


def publish(type_: str, payload: dict[str, Any]) -> OutboxEvent:
    """An event with no accompanying state change (one PutItem)."""
    event = new_event(type_, payload)
    event.save(condition=OutboxEvent.event_id.does_not_exist())
    return event


Consumer = Callable[[str, dict[str, Any]], None]
_CONSUMERS: dict[str, list[tuple[str, Consumer]]] = {}


def consumer(*event_types: str) -> Callable[[Consumer], Consumer]:
    """Register ``fn(event_id, payload)`` for event types (``"timer.<kind>"`` for timers)."""

    def register_fn(fn: Consumer) -> Consumer:
        name = f"{fn.__module__}.{fn.__qualname__}"
        for t in event_types:
            _CONSUMERS.setdefault(t, []).append((name, fn))
        return fn

    return register_fn


def consumers_for(type_: str) -> list[tuple[str, Consumer]]:
    """Consumers registered so far: services register theirs when imported, and whoever delivers
    (``chalicelib.events``) imports the services it delivers to first."""
    return list(_CONSUMERS.get(type_, []))


def deliver(event_id: str, type_: str, payload: dict[str, Any]) -> int:
    """Run every consumer of one event that has not yet run for it; returns how many ran."""
    ran = 0
    for name, fn in consumers_for(type_):
        key = f"{name}#{event_id}"
        try:
            ConsumedEvent.get(key, consistent_read=True)
            continue
        except ConsumedEvent.DoesNotExist:
            pass
        fn(event_id, payload)
        try:
            ConsumedEvent(key, expires_at=clock.now() + RETAIN_EVENTS).save(condition=ConsumedEvent.key.does_not_exist())
        except PutError:
            pass  # another delivery finished first; the consumer is idempotent
        ran += 1
        logger.info("event consumed", extra={"event_id": event_id, "event_type": type_, "consumer": name})
    return ran


def dispatch(records: Iterable[Any]) -> int:
    """Entry for the stream handler: ``records`` are Chalice ``DynamoDBRecord``s or raw dicts."""
    count = 0
    for record in records:
        name = getattr(record, "event_name", None) or record.get("eventName")
        if name != "INSERT":
            continue
        image = getattr(record, "new_image", None)
        if image is None:
            image = record["dynamodb"]["NewImage"]
        event = OutboxEvent.from_raw_data(image)
        count += deliver(event.event_id, event.type, event.payload)
    return count
