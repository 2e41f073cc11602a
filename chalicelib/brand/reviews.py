"""Reviews only from real care.

A right to review is recorded when another domain says a service was completed (``care.py``
consumes the events): a consultation that closed answered, a 加号 booking checked in, a
second-opinion report published, a surgery done. One review per right, within
``REVIEW_WINDOW`` (30 days) of completion; the patient is shown masked (张**). Patients report,
operators fold (fake, ghost-written, coerced, abusive), the doctor replies once. Every shown
review is in the doctor's counter item; folding takes it out, in the same transaction.
"""

from __future__ import annotations

from datetime import timedelta

from pynamodb.exceptions import TransactWriteError

from chalicelib.core import clock
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.outbox import transaction
from chalicelib.core.pagination import Page, parse_limit, query_page

from . import ranking
from .models import Ratings as RatingsItem
from .models import Review, ReviewReport, ReviewRight
from .schemas import AdminReviewOut, Ratings, Reviewable, ReviewIn, ReviewOut

REVIEW_WINDOW = timedelta(days=30)
DIMS = ranking.DIMENSIONS


def mask_name(name: str | None) -> str:
    name = (name or "").strip()
    return f"{name[0]}**" if name else "匿名患者"


def _overall(r: Review) -> float:
    return round(sum(int(getattr(r.ratings, d)) for d in DIMS) / len(DIMS), 2)


def review_out(r: Review) -> ReviewOut:
    return ReviewOut(review_id=r.review_id, doctor_id=r.doctor_id, kind=r.kind, patient=r.patient_masked,
                     ratings=Ratings(**{d: int(getattr(r.ratings, d)) for d in DIMS}), overall=_overall(r),
                     text=r.text, reply=r.reply, replied_at=clock.iso(r.replied_at), created_at=clock.iso(r.created_at))


def admin_out(r: Review) -> AdminReviewOut:
    return AdminReviewOut(**review_out(r).model_dump(), status=r.status, reports=int(r.reports or 0),
                          fold_reason=r.fold_reason)


def _right(service_key: str) -> ReviewRight | None:
    try:
        return ReviewRight.get(service_key, consistent_read=True)
    except ReviewRight.DoesNotExist:
        return None


def masked_patient(right: ReviewRight) -> str:
    from chalicelib.accounts import service as accounts

    if right.profile_id:
        try:
            return mask_name(accounts.get_profile(right.account_id, right.profile_id).real_name)
        except NotFound:
            pass
    return mask_name(None)


def create(caller, body: ReviewIn) -> ReviewOut:
    right = _right(body.service_key)
    if right is None or right.account_id != caller.account_id:
        raise NotFound("no completed service to review")
    now = clock.now()
    if right.review_id:
        raise Conflict("this service has already been reviewed", code="already_reviewed")
    if now > right.review_by:
        raise Unprocessable("reviews are accepted within 30 days of the service", code="review_window_closed")
    rid = new_id()
    r = Review(rid, doctor_id=right.doctor_id, service_key=right.service_key, kind=right.kind,
               account_id=caller.account_id, patient_masked=masked_patient(right),
               ratings=RatingsItem(**body.ratings.model_dump()), text=body.text or None, status="shown",
               list_key=f"shown#{now.isoformat()}#{rid}", reports=0, created_at=now)
    points = sum(body.ratings.model_dump().values())

    def extra(tx):
        tx.update(ReviewRight(right.service_key), actions=[ReviewRight.review_id.set(rid)],
                  condition=ReviewRight.review_id.does_not_exist() & (ReviewRight.account_id == caller.account_id))
        tx.save(r, condition=Review.review_id.does_not_exist())
        ranking.count_day(tx, right.doctor_id, reviews=1)

    def fields(s):
        out = {"reviews": int(s.reviews or 0) + 1, "points": int(s.points or 0) + points}
        out.update({d: int(getattr(s, d) or 0) + getattr(body.ratings, d) for d in DIMS})
        return out

    try:
        ranking.change(right.doctor_id, fields, extra)
    except TransactWriteError:
        raise Conflict("this service has already been reviewed", code="already_reviewed")
    return review_out(r)


def reviewables(caller, limit, cursor) -> Page:
    """The caller's completed services (reviewed or not), by doctor; the doctor's name on each."""
    from chalicelib.doctors import service as doctors

    page = query_page(ReviewRight, ReviewRight.by_account.query, caller.account_id, limit=parse_limit(limit),
                      cursor=cursor)
    names = doctors.briefs(r.doctor_id for r in page.items)
    return Page([Reviewable(service_key=r.service_key, kind=r.kind, doctor_id=r.doctor_id,
                            doctor_name=names[r.doctor_id].name if r.doctor_id in names else None,
                            completed_at=clock.iso(r.completed_at), review_by=clock.iso(r.review_by),
                            review_id=r.review_id) for r in page.items], page.next_cursor)


def care_with(account_id: str, doctor_id: str) -> ReviewRight | None:
    """A service this patient completed with this doctor, if any (1 Query, 1 item)."""
    q = ReviewRight.by_account.query(account_id, ReviewRight.account_key.startswith(f"{doctor_id}#"), limit=1)
    return next(iter(q), None)


def public_list(doctor_id: str, limit, cursor) -> Page:
    page = query_page(Review, Review.by_doctor.query, doctor_id, Review.list_key.startswith("shown#"),
                      scan_index_forward=False, limit=parse_limit(limit), cursor=cursor)
    return Page([review_out(r) for r in page.items], page.next_cursor)


def _get(review_id: str) -> Review:
    try:
        return Review.get(review_id, consistent_read=True)
    except Review.DoesNotExist:
        raise NotFound("review not found")


def report(caller, review_id: str, reason: str, note: str | None) -> ReviewOut:
    """A patient reports a shown review; a second report by the same patient changes nothing."""
    r = _get(review_id)
    if r.status != "shown":
        raise NotFound("review not found")
    try:
        with transaction() as tx:
            tx.save(ReviewReport(review_id, caller.account_id, reason=reason, note=note, created_at=clock.now()),
                    condition=ReviewReport.account_id.does_not_exist())
            tx.update(Review(review_id), actions=[Review.reports.add(1), Review.reported.set("yes")],
                      condition=Review.status == "shown")
    except TransactWriteError:
        pass  # reported before by this patient, or folded meanwhile
    return review_out(r)


def reply(caller, review_id: str, text: str) -> ReviewOut:
    r = _get(review_id)
    if r.doctor_id != caller.account_id or r.status != "shown":
        raise NotFound("review not found")
    if r.reply:
        raise Conflict("a review can be replied to once", code="already_replied")
    now = clock.now()
    try:
        r.update(actions=[Review.reply.set(text), Review.replied_at.set(now)],
                 condition=Review.reply.does_not_exist() & (Review.status == "shown"))
    except Exception as exc:
        if exc.__class__.__name__ == "UpdateError":
            raise Conflict("a review can be replied to once", code="already_replied")
        raise
    return review_out(r)


def fold(caller, review_id: str, reason: str) -> AdminReviewOut:
    r = _get(review_id)
    if r.status != "shown":
        raise Conflict("the review is already folded", code="invalid_state")
    now = clock.now()
    scores = {d: int(getattr(r.ratings, d)) for d in DIMS}

    def extra(tx):
        tx.update(Review(review_id), actions=[
            Review.status.set("folded"), Review.fold_reason.set(reason), Review.folded_at.set(now),
            Review.list_key.set(f"folded#{r.created_at.isoformat()}#{review_id}"), Review.reported.remove()],
            condition=Review.status == "shown")

    def fields(s):
        out = {"reviews": max(int(s.reviews or 0) - 1, 0), "points": max(int(s.points or 0) - sum(scores.values()), 0)}
        out.update({d: max(int(getattr(s, d) or 0) - v, 0) for d, v in scores.items()})
        return out

    try:
        ranking.change(r.doctor_id, fields, extra)
    except TransactWriteError:
        raise Conflict("the review is already folded", code="invalid_state")
    return admin_out(_get(review_id))


def dismiss_reports(caller, review_id: str) -> AdminReviewOut:
    r = _get(review_id)
    r.update(actions=[Review.reported.remove()])
    return admin_out(r)


def reported_queue(limit, cursor) -> Page:
    page = query_page(Review, Review.by_reported.query, "yes", limit=parse_limit(limit), cursor=cursor)
    return Page([admin_out(r) for r in page.items], page.next_cursor)


def admin_get(review_id: str) -> AdminReviewOut:
    return admin_out(_get(review_id))


def record_right(kind: str, ref: str, account_id: str, doctor_id: str, profile_id: str | None, completed_at,
                 fields=None) -> None:
    """A completed service (from its domain's event): idempotent by the service key. ``fields``
    also changes the doctor's counter item in the same transaction (response time)."""
    key = f"{kind}.{ref}"
    right = ReviewRight(key, kind=kind, account_id=account_id, profile_id=profile_id, doctor_id=doctor_id,
                        completed_at=completed_at, review_by=completed_at + REVIEW_WINDOW,
                        account_key=f"{doctor_id}#{completed_at.isoformat()}#{key}")
    if _right(key) is not None:
        return

    def extra(tx):
        tx.save(right, condition=ReviewRight.service_key.does_not_exist())

    try:
        ranking.change(doctor_id, fields or (lambda s: {}), extra)
    except TransactWriteError as exc:
        if ReviewRight.Meta.table_name in ranking.failed_tables(exc):
            return  # recorded by a concurrent delivery
        raise
