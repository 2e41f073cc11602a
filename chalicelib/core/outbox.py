"""Transactional outbox and the dispatcher that delivers its events.

A domain writes its state change and its event in one ``TransactWriteItems``::

    with transaction() as tx:
        tx.save(binding, condition=...)
        emit(tx, "binding.activated", {"binding_id": ...})

The outbox table's stream has one reader, the relay (``chalicelib/events.py``), which forwards
each event to the queue of every unit that registered a consumer for its type; each unit's
consumer function runs its consumers. Delivery is at-least-once: a consumer that raises leaves
its message on the queue to be retried (then parked in a DLQ), and a redelivered event may run
a consumer again, so consumers are idempotent by event id (``run_consumers`` records
completions so a redelivery usually skips them, but that is an optimisation, not a guarantee).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import lru_cache
from typing import Any

from pynamodb.attributes import JSONAttribute, TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from . import clock
from .config import get_settings
from .db import meta, register
from .ids import new_id
from .observability import logger
from .transact import RecordingTransactWrite

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
    with RecordingTransactWrite(connection=_connection()) as tx:
        yield tx


def new_event(type_: str, payload: dict[str, Any], event_id: str | None = None) -> OutboxEvent:
    now = clock.now()
    return OutboxEvent(event_id or new_id(), type=type_, payload=payload, created_at=now,
                       expires_at=now + RETAIN_EVENTS)


def emit(tx: TransactWrite, type_: str, payload: dict[str, Any]) -> OutboxEvent:
    event = new_event(type_, payload)
    tx.save(event, condition=OutboxEvent.event_id.does_not_exist())
    return event


def publish(type_: str, payload: dict[str, Any], *, caused_by: str | None = None) -> OutboxEvent:
    """An event with no accompanying state change (one PutItem).

    A consumer that publishes in answer to an event passes that event's id as ``caused_by``: the
    new event's id is derived from it, so a redelivery of the cause publishes nothing twice."""
    event = new_event(type_, payload, f"{caused_by}.{type_}" if caused_by else None)
    try:
        event.save(condition=OutboxEvent.event_id.does_not_exist())
    except PutError as exc:
        if not caused_by or exc.cause_response_code != "ConditionalCheckFailedException":
            raise
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


def registered_consumers() -> dict[str, list[tuple[str, Consumer]]]:
    """event type → [(consumer name, fn)]: what has registered so far (see ``consumers_for``)."""
    return {t: list(cs) for t, cs in _CONSUMERS.items()}


def run_consumers(event_id: str, type_: str, payload: dict[str, Any],
                  consumers: Iterable[tuple[str, Consumer]]) -> int:
    """Run each of ``consumers`` on one event unless its completion marker says it already did;
    returns how many ran. At-least-once, not exactly-once: a consumer runs, then its marker is
    written, so a crash (or a concurrent redelivery) between the two runs it again — consumers
    are idempotent by event id; the marker only saves the repeat in the common case."""
    ran = 0
    for name, fn in consumers:
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
            # A concurrent delivery of the same event finished first and wrote the marker; the
            # consumer ran twice, which it tolerates (idempotent by event id). Nothing is lost.
            logger.info("event consumed concurrently", extra={"event_id": event_id, "consumer": name})
        ran += 1
        logger.info("event consumed", extra={"event_id": event_id, "event_type": type_, "consumer": name})
    return ran


def mark_once(tx: TransactWrite, key: str) -> None:
    """Put a completion marker into ``tx`` that fails the transaction if ``key`` was marked
    before: a consumer whose effect is one transaction becomes exactly-once by committing its
    marker with it (a redelivery's transaction is refused; check ``marked`` to tell why)."""
    tx.save(ConsumedEvent(key, expires_at=clock.now() + RETAIN_EVENTS), condition=ConsumedEvent.key.does_not_exist())


def commit_once(key: str, write: Callable[[TransactWrite], Any]) -> bool:
    """Commit what ``write`` puts into a transaction together with the completion marker ``key``:
    the consumer's effect and its marker land together or not at all, so a redelivered event
    changes nothing. False if ``key`` was marked before (nothing written); any other refusal of
    the transaction propagates."""
    try:
        with transaction() as tx:
            mark_once(tx, key)
            write(tx)
    except TransactWriteError:
        if marked(key):
            return False
        raise
    return True


def marked(key: str) -> bool:
    try:
        ConsumedEvent.get(key, consistent_read=True)
        return True
    except ConsumedEvent.DoesNotExist:
        return False


def deliver(event_id: str, type_: str, payload: dict[str, Any]) -> int:
    """Run every registered consumer of one event that has not yet run for it."""
    return run_consumers(event_id, type_, payload, consumers_for(type_))
