"""Durable timers: one mechanism for every "at time T do X".

``schedule(kind, due_at, payload, key=...)`` stores a timer. The minute sweep queries the
sparse ``due`` index, shards in parallel (``shard = hash(timer_id) % N``, range key = due time),
for what is due — never a Scan — and claims each timer by one conditional ``UpdateItem``:
status pending → fired. The condition makes the claim exactly-once even when sweeps overlap; the
timers table's stream carries each claim to the relay (``chalicelib/events.py``), which sends
``timer.<kind>`` to the owning unit's queue, so the hand-off survives a crash. Consumers
register with ``@consumer("timer.<kind>")`` and must re-check their own state (a cancelled
booking's expiry timer may race with the cancellation).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.attributes import JSONAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from . import clock
from .config import get_settings
from .db import meta, register
from .ids import new_id
from .observability import logger

KEEP_DONE = timedelta(days=30)


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
    Meta = meta("timers", stream_view_type="NEW_AND_OLD_IMAGES")
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
    actions: list[Action] = [Timer.status.set("cancelled"), Timer.shard.remove(),
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


# The hand-off's stream filter (Lambda event filtering on the timers table's stream, and the
# local relay): exactly the claims — pending → fired. Cancellations, re-schedules and TTL
# deletions never reach the relay.
FIRED_FILTER: dict = {"eventName": ["MODIFY"],
                      "dynamodb": {"OldImage": {"status": {"S": ["pending"]}},
                                   "NewImage": {"status": {"S": ["fired"]}}}}
STOP_WITH_MS_LEFT = 5_000


def sweep(now: datetime | None = None, *, remaining_ms: Callable[[], int] | None = None,
          workers: int | None = None) -> int:
    """Claim every due timer; returns how many this call claimed. Re-running claims nothing twice.

    Shards are swept in parallel (one thread each, up to ``workers``). Each due timer is claimed
    by one conditional ``UpdateItem`` (pending and still due → fired): the claim is the hand-off,
    because the timers table's stream carries it to the relay, which publishes ``timer.<kind>``
    to the owning unit's queue — durable like the outbox (the record is written with the claim),
    one write per timer and no transaction (a transaction costs twice the write units). With
    ``remaining_ms`` (Lambda's ``get_remaining_time_in_millis``) it stops claiming when less than
    ``STOP_WITH_MS_LEFT`` remains; what is left stays pending for the next run.
    """
    now = now or clock.now()
    upto = due_key(now)
    shards = [str(s) for s in range(get_settings().timer_shards)]

    def out_of_time() -> bool:
        return remaining_ms is not None and remaining_ms() < STOP_WITH_MS_LEFT

    with ThreadPoolExecutor(max_workers=workers or len(shards), thread_name_prefix="sweep") as pool:
        counts = list(pool.map(lambda shard: _sweep_shard(shard, upto, out_of_time), shards))
    fired = sum(n for n, _ in counts)
    if any(stopped for _, stopped in counts):
        logger.warning("sweep stopped before its time ran out; the rest is left for the next run",
                       extra={"fired": fired})
    return fired


def _sweep_shard(shard: str, upto: str, out_of_time: Callable[[], bool]) -> tuple[int, bool]:
    fired = 0
    for timer in Timer.due_index.query(shard, Timer.due <= upto):
        if out_of_time():
            return fired, True
        if _claim(timer.timer_id, upto):
            fired += 1
    return fired, False


def _claim(timer_id: str, upto: str) -> bool:
    try:
        Timer(timer_id).update(
            actions=[Timer.status.set("fired"), Timer.shard.remove(), Timer.expires_at.set(clock.now() + KEEP_DONE)],
            # still pending, and not moved later since the index was read
            condition=(Timer.status == "pending") & (Timer.due <= upto),
        )
    except UpdateError as exc:
        if not _condition_failed(exc):
            raise
        return False  # cancelled, rescheduled or claimed by an overlapping sweep
    logger.info("timer fired", extra={"timer_id": timer_id})
    return True
