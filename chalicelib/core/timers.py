"""Durable timers: one mechanism for every "at time T do X".

``schedule(kind, due_at, payload, key=...)`` stores a timer. The minute sweep queries the
sparse ``due`` index shard by shard (``shard = hash(timer_id) % N``, range key = due time) for
what is due — never a Scan — and fires each timer by one conditional ``TransactWriteItems``:
status pending → fired, plus an outbox event ``timer.<kind>``. The condition makes firing
exactly-once even when sweeps overlap; the outbox makes delivery survive a crash. Consumers
register with ``@consumer("timer.<kind>")`` and must re-check their own state (a cancelled
booking's expiry timer may race with the cancellation).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.attributes import JSONAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from . import clock
from .config import get_settings
from .db import meta, register
from .ids import new_id
from .observability import logger
from .outbox import emit, transaction

KEEP_DONE = timedelta(days=30)
SWEEP_PAGE = 100


def due_key(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class DueIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "due"
        projection = AllProjection()

    shard = UnicodeAttribute(hash_key=True)
    due = UnicodeAttribute(range_key=True)


@register
class Timer(Model):
    Meta = meta("timers")
    timer_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()
    due = UnicodeAttribute()
    status = UnicodeAttribute(default="pending")  # pending | fired | cancelled
    # Present only while pending, so the index holds only live timers.
    shard = UnicodeAttribute(null=True)
    payload = JSONAttribute(default=dict)
    expires_at = TTLAttribute(null=True)
    due_index = DueIndex()


def _shard_of(timer_id: str) -> str:
    n = get_settings().timer_shards
    return str(int(hashlib.sha256(timer_id.encode()).hexdigest(), 16) % n)


def timer_id_for(kind: str, key: str) -> str:
    return f"{kind}#{key}"


def schedule(kind: str, due_at: datetime, payload: dict[str, Any], *, key: str | None = None,
             tx: TransactWrite | None = None) -> str:
    """Store a timer (inside ``tx`` when given, so it commits with the domain change).

    ``key`` makes the id deterministic (``kind#key``) so the owner can cancel it later
    without storing the id, and so a retried request does not schedule twice.
    """
    timer_id = timer_id_for(kind, key or new_id())
    timer = Timer(timer_id, kind=kind, due=due_key(due_at), status="pending", shard=_shard_of(timer_id),
                  payload=payload)
    if tx is not None:
        tx.save(timer)
    else:
        timer.save()
    return timer_id


def cancel(timer_id: str, *, tx: TransactWrite | None = None) -> None:
    """Cancel a timer so no sweep claims it.

    In a transaction (how the domains call it): the timer must exist, or the whole transaction
    fails; its status becomes ``cancelled`` whatever it was. A pending timer leaves the due index
    (no sweep can claim it after the commit); one that already fired is only relabelled — its
    event is on its way and its consumer re-checks its own state, as every timer consumer must.
    Outside a transaction: only a pending timer changes; one that already fired, was cancelled
    or never existed is left alone.
    """
    actions = [Timer.status.set("cancelled"), Timer.shard.remove(),
               Timer.expires_at.set(clock.now() + KEEP_DONE)]
    if tx is not None:
        tx.update(Timer(timer_id), actions=actions, condition=Timer.timer_id.exists())
        return
    try:
        Timer(timer_id).update(actions=actions, condition=Timer.status == "pending")
    except UpdateError as exc:
        if not _condition_failed(exc):
            raise
        # Safe to drop: the timer is not pending, so no sweep will fire it because of us, and
        # the action it stood for either ran (its consumer re-checks state) or never will.
        logger.info("timer not pending; nothing to cancel", extra={"timer_id": timer_id})


def _condition_failed(exc: Exception) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def sweep(now: datetime | None = None, *, remaining_ms: Callable[[], int] | None = None) -> int:
    """Fire every due timer; returns how many this call fired. Re-running fires nothing twice."""
    now = now or clock.now()
    upto = due_key(now)
    fired = 0
    for shard in range(get_settings().timer_shards):
        for timer in Timer.due_index.query(str(shard), Timer.due <= upto, limit=SWEEP_PAGE):
            if _fire(timer):
                fired += 1
    return fired


def _fire(timer: Timer) -> bool:
    try:
        with transaction() as tx:
            tx.update(
                Timer(timer.timer_id),
                actions=[Timer.status.set("fired"), Timer.shard.remove(),
                         Timer.expires_at.set(clock.now() + KEEP_DONE)],
                condition=Timer.status == "pending",
            )
            emit(tx, f"timer.{timer.kind}", {"timer_id": timer.timer_id, "due": timer.due, **timer.payload})
    except TransactWriteError:
        return False  # fired or cancelled by someone else
    logger.info("timer fired", extra={"timer_id": timer.timer_id, "kind": timer.kind})
    return True
