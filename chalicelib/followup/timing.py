"""When each occurrence of a plan item is due (pure functions over the item's stored dict).

Times are Asia/Shanghai wall-clock times on days counted from the anchor date (T+0 = the anchor
day); results are UTC. A repeating item's answer window never runs past its next occurrence, so
completing or missing one always leaves the next in the future.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from chalicelib.core.clock import SHANGHAI

MEDICATION_WINDOW_H = 12
SEARCH_LIMIT = 5000


def _t(value: str) -> time:
    return time.fromisoformat(value)


def _at(anchor: date, offset_days: int, at: time) -> datetime:
    return datetime.combine(anchor + timedelta(days=offset_days), at, SHANGHAI).astimezone(UTC)


def due_of(item: dict, anchor: date, n: int) -> datetime | None:
    """Due time of occurrence ``n`` (0-based), or None past the item's last occurrence."""
    if n < 0:
        return None
    if item["kind"] == "medication":
        med = item["medication"]
        times = sorted(_t(t) for t in med["times"])
        day, slot = divmod(n, len(times))
        if day >= med["days"]:
            return None
        return _at(anchor, item["offset_days"] + day, times[slot])
    rep = item.get("repeat")
    if not rep:
        return _at(anchor, item["offset_days"], _t(item["time"])) if n == 0 else None
    if rep.get("count") is not None and n >= rep["count"]:
        return None
    offset = item["offset_days"] + n * rep["every_days"]
    if rep.get("until_offset_days") is not None and offset > rep["until_offset_days"]:
        return None
    return _at(anchor, offset, _t(item["time"]))


def first_due(item: dict, anchor: date, start: int, now: datetime, default_h: int) -> tuple[int, datetime] | None:
    """The first occurrence ≥ ``start`` whose window is still open at ``now`` (what is past is
    skipped; one due earlier today that can still be answered is kept, and opens at once)."""
    n = start
    while n < start + SEARCH_LIMIT:
        due = due_of(item, anchor, n)
        if due is None:
            return None
        if window_of(item, anchor, n, default_h)[0] > now:
            return n, due
        n += 1
    return None


def window_of(item: dict, anchor: date, n: int, default_h: int) -> tuple[datetime, datetime]:
    """(window end, reminder time) for occurrence ``n``: the item's window (or the default),
    cut at the next occurrence; the one reminder halfway through a short window, otherwise a
    day before the window closes."""
    due = due_of(item, anchor, n)
    assert due is not None
    hours = item.get("window_hours") or (MEDICATION_WINDOW_H if item["kind"] == "medication" else default_h)
    end = due + timedelta(hours=hours)
    nxt = due_of(item, anchor, n + 1)
    if nxt is not None and nxt < end:
        end = nxt
    span = end - due
    remind = end - timedelta(hours=24) if span >= timedelta(hours=48) else due + span / 2
    return end, remind
