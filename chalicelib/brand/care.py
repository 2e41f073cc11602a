"""What brand learns from the other domains' events (every consumer idempotent by its own keys).

* completed care → a right to review: ``consultation.closed`` (a paid consultation that ended
  answered; an unanswered one is refunded instead), ``booking.checked_in``,
  ``opinion.report_published``, ``referral.surgery_done``;
* ``consultation.closed`` also feeds the response-time board (opened → first answer);
* ``booking.session_published`` / ``booking.session_cancelled`` and the ``brand-availability``
  timer keep the availability board and the followers' "newest 加号 session";
* ``doctor.verified`` puts the doctor on every board.
"""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.core import clock, timers
from chalicelib.core.outbox import consumer

from . import ranking, reviews

AVAILABILITY_TIMER = "brand-availability"


def _when(value: str | None) -> datetime:
    if value:
        try:
            return datetime.fromisoformat(value).astimezone(UTC)
        except ValueError:
            pass
    return clock.now()


@consumer("consultation.closed")
def _on_consultation_closed(event_id: str, p: dict) -> None:
    opened, answered = p.get("opened_at"), p.get("answered_at")
    fields = None
    if opened and answered:
        seconds = max(int((_when(answered) - _when(opened)).total_seconds()), 0)
        fields = lambda s: {"answered": int(s.answered or 0) + 1,  # noqa: E731
                            "answer_seconds": int(s.answer_seconds or 0) + seconds}
    reviews.record_right("consultation", p["consultation_id"], p["patient_account_id"], p["doctor_id"], None,
                         _when(p.get("closed_at")), fields)


@consumer("booking.checked_in")
def _on_checked_in(event_id: str, p: dict) -> None:
    reviews.record_right("booking", p["booking_id"], p["account_id"], p["doctor_id"], p.get("profile_id"),
                         clock.now())


@consumer("opinion.report_published")
def _on_report_published(event_id: str, p: dict) -> None:
    if p.get("expert_id"):
        reviews.record_right("opinion", p["case_id"], p["patient_account_id"], p["expert_id"], p.get("profile_id"),
                             clock.now())


@consumer("referral.surgery_done")
def _on_surgery_done(event_id: str, p: dict) -> None:
    reviews.record_right("surgery", p["case_id"], p["account_id"], p["doctor_id"], p.get("profile_id"),
                         _when(p.get("done_at")))


@consumer("doctor.verified")
def _on_verified(event_id: str, p: dict) -> None:
    ranking.ensure(p["doctor_id"])


def refresh_availability(doctor_id: str, news: dict | None = None) -> None:
    """The soonest upcoming open 加号 session from booking (1 Query), onto the counter item and
    the availability board; a timer at its start refreshes it again."""
    from chalicelib.booking import service as booking

    page = booking.open_sessions(doctor_id, "1", None)
    nxt = ranking.next_session_from(page.items)

    def fields(s):
        out = dict(news or {})
        if s.next_session_at != nxt:
            out["next_session_at"] = nxt
        return out or None

    def extra(tx):
        if nxt is not None:
            timers.schedule(AVAILABILITY_TIMER, nxt, {"doctor_id": doctor_id}, key=doctor_id, tx=tx)

    ranking.change(doctor_id, fields, extra)


@consumer("booking.session_published")
def _on_session_published(event_id: str, p: dict) -> None:
    s = ranking.get_stats(p["doctor_id"], consistent=True)
    news = None
    if s.last_session_id != p["session_id"] and (s.last_session_date or "") <= p.get("date", ""):
        news = {"last_session_id": p["session_id"], "last_session_date": p.get("date"),
                "last_session_at": clock.now()}
    refresh_availability(p["doctor_id"], news)


@consumer("booking.session_cancelled")
def _on_session_cancelled(event_id: str, p: dict) -> None:
    s = ranking.get_stats(p["doctor_id"], consistent=True)
    news = None
    if s.last_session_id == p["session_id"]:
        news = {"last_session_id": None, "last_session_date": None, "last_session_at": None}
    refresh_availability(p["doctor_id"], news)


@consumer(f"timer.{AVAILABILITY_TIMER}")
def _on_availability_timer(event_id: str, p: dict) -> None:
    refresh_availability(p["doctor_id"])

