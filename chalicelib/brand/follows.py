"""Followers: follow / unfollow (idempotent), the patient's following list with each doctor's
news, and the doctor's counts and per-day trends.

**Why a following list and not a fan-out feed or notifications.** A doctor's news (a new article,
a new 加号 session) is written once, onto the doctor's counter item; a follower's list reads it
with one Query of their follows and one BatchGetItem of those doctors' counter items, and marks
a doctor ``has_news`` until the patient opens it (``seen``). Publishing costs the same for a
doctor with ten followers or fifty thousand — no per-follower writes, no queue fan-out, no push
storm (and 加号 seats go to patients who asked: bound patients already get booking news in
their conversation). What it does not do is interrupt: a follower sees news when they look.
"""

from __future__ import annotations

from datetime import timedelta

from pynamodb.exceptions import TransactWriteError

from chalicelib.core import clock
from chalicelib.core.pagination import Page, parse_limit, query_page

from . import ranking
from .models import BrandDaily, Follow
from .schemas import BrandStatsOut, DayCount, FollowingRow, FollowOut


def _verified(doctor_id: str) -> None:
    from chalicelib.doctors import service as doctors

    doctors.get_verified(doctor_id)


def _exists(doctor_id: str, account_id: str) -> bool:
    try:
        Follow.get(doctor_id, account_id, consistent_read=True)
        return True
    except Follow.DoesNotExist:
        return False


def follow(caller, doctor_id: str) -> FollowOut:
    _verified(doctor_id)
    if not _exists(doctor_id, caller.account_id):
        now = clock.now()

        def extra(tx):
            tx.save(Follow(doctor_id, caller.account_id, followed_at=now, seen_at=now),
                    condition=Follow.account_id.does_not_exist())
            ranking.count_day(tx, doctor_id, follows=1)

        try:
            ranking.change(doctor_id, lambda s: {"followers": int(s.followers or 0) + 1}, extra)
        except TransactWriteError as exc:
            if Follow.Meta.table_name not in ranking.failed_tables(exc):
                raise  # a concurrent follow by the same patient counts once
    return FollowOut(doctor_id=doctor_id, following=True, followers=int(ranking.get_stats(doctor_id).followers or 0))


def unfollow(caller, doctor_id: str) -> FollowOut:
    if _exists(doctor_id, caller.account_id):
        def extra(tx):
            tx.delete(Follow(doctor_id, caller.account_id), condition=Follow.account_id.exists())
            ranking.count_day(tx, doctor_id, unfollows=1)

        try:
            ranking.change(doctor_id, lambda s: {"followers": max(int(s.followers or 0) - 1, 0)}, extra)
        except TransactWriteError as exc:
            if Follow.Meta.table_name not in ranking.failed_tables(exc):
                raise
    return FollowOut(doctor_id=doctor_id, following=False, followers=int(ranking.get_stats(doctor_id).followers or 0))


def following(caller, limit, cursor) -> Page:
    """1 Query (follows) + 1 BatchGetItem (counter items) + 1 BatchGetItem (doctors' names)."""
    from chalicelib.doctors import service as doctors

    page = query_page(Follow, Follow.by_account.query, caller.account_id, limit=parse_limit(limit), cursor=cursor)
    ids = [f.doctor_id for f in page.items]
    stats = ranking.stats_of(ids)
    names = doctors.briefs(ids)
    rows = []
    for f in page.items:
        s, b = stats.get(f.doctor_id), names.get(f.doctor_id)
        art_at = s.last_article_at if s else None
        ses_at = s.last_session_at if s else None
        latest = max((t for t in (art_at, ses_at) if t), default=None)
        rows.append(FollowingRow(
            doctor_id=f.doctor_id, name=b.name if b else None, title=b.title if b else None,
            hospital=b.hospital if b else None, followed_at=clock.iso(f.followed_at),
            latest_article_id=s.last_article_id if s else None, latest_article_title=s.last_article_title if s else None,
            latest_article_at=clock.iso(art_at), latest_session_id=s.last_session_id if s else None,
            latest_session_date=s.last_session_date if s else None, latest_session_at=clock.iso(ses_at),
            has_news=bool(latest and latest > f.seen_at)))
    return Page(rows, page.next_cursor)


def seen(caller, doctor_id: str) -> FollowOut:
    try:
        Follow(doctor_id, caller.account_id).update(actions=[Follow.seen_at.set(clock.now())],
                                                    condition=Follow.account_id.exists())
    except Exception as exc:
        if exc.__class__.__name__ != "UpdateError":
            raise
        from chalicelib.core.errors import NotFound

        raise NotFound("you do not follow this doctor")
    return FollowOut(doctor_id=doctor_id, following=True, followers=int(ranking.get_stats(doctor_id).followers or 0))


def doctor_stats(caller, days: int) -> BrandStatsOut:
    """1 GetItem (counter item) + 1 Query (the day range)."""
    s = ranking.get_stats(caller.account_id)
    end = clock.now().astimezone(clock.SHANGHAI).date()
    start = end - timedelta(days=days - 1)
    got = {d.day: d for d in BrandDaily.query(caller.account_id, BrandDaily.day.between(start.isoformat(),
                                                                                       end.isoformat()))}
    out = []
    for i in range(days):
        day = (start + timedelta(days=i)).isoformat()
        d = got.get(day)
        out.append(DayCount(day=day, follows=int(d.follows or 0) if d else 0, unfollows=int(d.unfollows or 0) if d else 0,
                            reviews=int(d.reviews or 0) if d else 0, letters=int(d.letters or 0) if d else 0))
    return BrandStatsOut(doctor_id=caller.account_id, followers=int(s.followers or 0), reviews=int(s.reviews or 0),
                         score=ranking.score(s), letters=int(s.letters or 0), articles=int(s.articles or 0),
                         mean_response_s=ranking.mean_response_s(s), days=out)
