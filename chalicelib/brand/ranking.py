"""The doctor's counter item, the Bayesian score, the directory boards and per-day counters.

**Score.** A review rates three dimensions 1–5; its overall is their mean. The score shown is a
Bayesian average with a prior of ``PRIOR_WEIGHT`` (10) pseudo-reviews at ``PRIOR_MEAN`` (4.0):

    score = (PRIOR_WEIGHT × PRIOR_MEAN + Σ overall) / (PRIOR_WEIGHT + n)

so five 5-star reviews score (40 + 25) / 15 = 4.33 while five hundred 4.8s score
(40 + 2400) / 510 = 4.78; a doctor with no review shows 4.0. The prior is fixed (not the
platform mean) so one doctor's score never moves because of another's reviews.

**Boards.** The directory's three orders are items of :class:`BrandRank`, one per doctor per
board, keyed so one Query reads a board in order:

* ``rating`` — the score above, highest first (ties: newer doctor id first);
* ``response`` — mean time from a paid consultation's opening to the doctor's first answer,
  over every consultation that closed answered; fastest first, doctors with none last;
* ``availability`` — the start of the doctor's soonest upcoming open 加号 session (booking's
  ``open_sessions``), soonest first, doctors with none last; refreshed when a session is
  published or cancelled and when that session starts (a durable timer).

**Counter item.** Every change reads the item, computes the new figures and writes them with a
version condition in one transaction with the board keys that moved (and the caller's own
writes); a concurrent change makes it retry, so figures and boards never drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.update import Action

from chalicelib.core import clock
from chalicelib.core.errors import Conflict
from chalicelib.core.outbox import transaction
from chalicelib.core.transact import failed_items

from .models import BrandDaily, BrandRank, BrandStats

PRIOR_WEIGHT = 10
PRIOR_MEAN = 4.0
DIMENSIONS = ("skill", "attitude", "explanation")
BOARDS = ("rating", "response", "availability")
NONE_KEY = "9999999999"  # sorts after every real figure
RETRIES = 5


def bayesian(points: int, reviews: int) -> float:
    """The shown score from the sum of dimension scores and the number of reviews."""
    return (PRIOR_WEIGHT * PRIOR_MEAN + points / len(DIMENSIONS)) / (PRIOR_WEIGHT + reviews)


def score(s: BrandStats) -> float:
    return round(bayesian(int(s.points or 0), int(s.reviews or 0)), 2)


def mean_response_s(s: BrandStats) -> int | None:
    return int(s.answer_seconds) // int(s.answered) if s.answered else None


def board_keys(s: BrandStats) -> dict[str, str]:
    rating = round(bayesian(int(s.points or 0), int(s.reviews or 0)) * 10000)
    resp = mean_response_s(s)
    nxt = s.next_session_at
    return {"rating": f"{rating:05d}#{s.doctor_id}",
            "response": f"{resp:010d}#{s.doctor_id}" if resp is not None else f"{NONE_KEY}#{s.doctor_id}",
            "availability": (f"{int(nxt.timestamp()):010d}#{s.doctor_id}" if nxt else f"{NONE_KEY}#{s.doctor_id}")}


def get_stats(doctor_id: str, consistent: bool = False) -> BrandStats:
    try:
        return BrandStats.get(doctor_id, consistent_read=consistent)
    except BrandStats.DoesNotExist:
        return BrandStats(doctor_id)


def stats_of(doctor_ids) -> dict[str, BrandStats]:
    """One BatchGetItem for a page of doctors (≤ 100)."""
    ids = list(dict.fromkeys(doctor_ids))
    return {s.doctor_id: s for s in BrandStats.batch_get(ids)} if ids else {}


def today() -> str:
    return clock.now().astimezone(clock.SHANGHAI).date().isoformat()


def count_day(tx, doctor_id: str, **fields: int) -> None:
    """Add to today's per-day counters inside ``tx``."""
    tx.update(BrandDaily(doctor_id, today()), actions=[getattr(BrandDaily, k).add(v) for k, v in fields.items()])


Change = Callable[[BrandStats], dict | None]


def change(doctor_id: str, fields: Change, extra: Callable | None = None) -> BrandStats | None:
    """Apply ``fields(stats)`` (attribute → new value; ``None`` for no change at all) to the
    doctor's counter item with the boards that move and ``extra(tx)``'s writes, in one
    transaction; retries when another change got there first. A failure of ``extra``'s own
    conditions is raised to the caller as the ``TransactWriteError`` with ``.failed`` set."""
    for _ in range(RETRIES):
        s = get_stats(doctor_id, consistent=True)
        version = int(s.version or 0)
        before = board_keys(s)
        new = fields(s)
        if new is None:
            return s
        for k, v in new.items():
            setattr(s, k, v)
        after = board_keys(s)
        actions: list[Action] = [BrandStats.version.set(version + 1)]
        for k, v in new.items():
            attr = getattr(BrandStats, k)
            actions.append(attr.remove() if v is None else attr.set(v))
        for board in BOARDS:
            actions.append(getattr(BrandStats, f"rank_{board}").set(after[board]))
        cond = (BrandStats.version == version) if version else BrandStats.version.does_not_exist()
        tx = None
        try:
            with transaction() as t:
                tx = t
                t.update(BrandStats(doctor_id), actions=actions, condition=cond)
                for board in BOARDS:
                    old = getattr(s, f"rank_{board}") if version else None
                    old = old or before[board]
                    if old != after[board]:
                        t.delete(BrandRank(board, old))
                    if old != after[board] or not version:
                        t.save(BrandRank(board, after[board], doctor_id=doctor_id))
                if extra is not None:
                    extra(t)
        except TransactWriteError as exc:
            failed = failed_items(tx, exc)
            if failed and all(table == BrandStats.Meta.table_name for table, _ in failed):
                continue
            exc.failed = failed  # type: ignore[attr-defined]
            raise
        return s
    raise Conflict("the doctor's figures are changing quickly; try again", code="concurrent_update")


def ensure(doctor_id: str) -> None:
    """A verified doctor gets a counter item and a place on every board (idempotent)."""
    change(doctor_id, lambda s: None if s.version else {})


def failed_tables(exc: TransactWriteError) -> set[str]:
    return {table for table, _ in getattr(exc, "failed", [])}


def next_session_from(sessions: list) -> datetime | None:
    return datetime.fromisoformat(sessions[0].starts_at) if sessions else None
