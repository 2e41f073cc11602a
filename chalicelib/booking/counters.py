"""Parts of day and the doctor's per-day demand counters (``DemandCounter``).

A request asks for a date range and parts of day (morning / afternoon / evening; none named =
any). It covers k = days × parts slots and adds 1/k to the weighted demand of each, so a request
counts as one request in total however wide it is. Weights are integers in 1/1,000,000 of a
request: DynamoDB adds and subtracts integers exactly, so closing a request takes away exactly
what opening it added (a decimal 1/3 would not round-trip).

Counters move only inside the transaction that opens or closes the request (never from an
event), so they are exact and visible at once; only days from today on are moved — the view
never shows a past day, and a request that lapses at the end of its range moves nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from pynamodb.expressions.update import Action

from chalicelib.core import clock

from .models import DemandCounter, SlotRequest

PARTS = ("morning", "afternoon", "evening")
WEIGHT_UNIT = 1_000_000
AFTERNOON_FROM, EVENING_FROM = time(12), time(18)  # Asia/Shanghai wall clock
KEEP_PAST = timedelta(days=30)  # a counter item's TTL after its day


def part_of(starts_at: datetime) -> str:
    """The part of day a session starting at ``starts_at`` falls in (Asia/Shanghai)."""
    t = starts_at.astimezone(clock.SHANGHAI).time()
    if t < AFTERNOON_FROM:
        return "morning"
    return "afternoon" if t < EVENING_FROM else "evening"


def normalize(parts: Iterable[str] | None) -> list[str]:
    """The parts a request covers, in day order; ``any`` (or none named) is all three."""
    named = set(parts or ())
    if not named or "any" in named:
        return list(PARTS)
    return [p for p in PARTS if p in named]


def request_parts(r: SlotRequest) -> list[str]:
    return normalize(r.parts)


def days_between(first: str, last: str) -> list[str]:
    a, b = date.fromisoformat(first), date.fromisoformat(last)
    return [(a + timedelta(days=i)).isoformat() for i in range((b - a).days + 1)]


def weight_of(n_days: int, parts: list[str]) -> int:
    return round(WEIGHT_UNIT / (n_days * len(parts)))


def move(tx, r: SlotRequest, sign: int, today: str) -> int:
    """Inside ``tx``: add (``sign`` 1) or take away (-1) an open request's share on each of its
    days from ``today`` on; one Update per day (a range is at most 61 days, within the 100 items
    of a transaction). Returns how many days were moved. A request without ``weight_u`` (made
    before the counters) was never added, so nothing is taken away."""
    if r.weight_u is None:
        return 0
    parts = request_parts(r)
    w = int(r.weight_u) * sign
    days = [d for d in days_between(r.date_from, r.date_to) if d >= today]
    for d in days:
        actions: list[Action] = [DemandCounter.n.add(sign)]
        for p in parts:
            actions += [getattr(DemandCounter, f"n_{p}").add(sign), getattr(DemandCounter, f"w_{p}").add(w)]
        if sign > 0:
            expires = datetime.combine(date.fromisoformat(d), time(0), tzinfo=clock.SHANGHAI) + KEEP_PAST
            actions.append(DemandCounter.expires_at.set(expires))
        tx.update(DemandCounter(r.doctor_id, d), actions=actions)
    return len(days)
