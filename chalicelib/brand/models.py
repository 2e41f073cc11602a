"""Doctor brand tables: articles, review rights, reviews and their reports, follows, thank-you
letters, the per-doctor counter item, per-day counters and the ranking boards."""

from pynamodb.attributes import (
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.core.db import meta, register


class _Index(GlobalSecondaryIndex):
    class Meta:
        projection = AllProjection()


class ArticlesByDoctor(_Index):
    """A doctor's articles: ``published#<time>#<id>`` (newest first) or ``withdrawn#…``."""

    class Meta(_Index.Meta):
        index_name = "by_doctor"

    doctor_id = UnicodeAttribute(hash_key=True)
    list_key = UnicodeAttribute(range_key=True)


@register
class Article(Model):
    """Patient education the doctor writes; the same ``title``/``body``/``images`` shape as a
    follow-up plan's article item, which can link one by ``article_id``."""

    Meta = meta("brand_articles")
    article_id = UnicodeAttribute(hash_key=True)
    doctor_id = UnicodeAttribute()
    title = UnicodeAttribute()
    body = UnicodeAttribute()
    images = ListAttribute(of=UnicodeAttribute, default=list)
    status = UnicodeAttribute()  # published | withdrawn
    list_key = UnicodeAttribute()
    published_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    by_doctor = ArticlesByDoctor()


class RightsByAccount(_Index):
    """A patient's completed services, by doctor then time: ``<doctor_id>#<completed>#<key>``."""

    class Meta(_Index.Meta):
        index_name = "by_account"

    account_id = UnicodeAttribute(hash_key=True)
    account_key = UnicodeAttribute(range_key=True)


@register
class ReviewRight(Model):
    """One completed service (``<kind>.<id>``), recorded from its domain's event: the right to
    review it once, until ``review_by`` (completion + 30 days)."""

    Meta = meta("brand_review_rights")
    service_key = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()  # consultation | booking | opinion | surgery
    account_id = UnicodeAttribute()
    profile_id = UnicodeAttribute(null=True)
    doctor_id = UnicodeAttribute()
    completed_at = UTCDateTimeAttribute()
    review_by = UTCDateTimeAttribute()
    review_id = UnicodeAttribute(null=True)
    account_key = UnicodeAttribute()
    by_account = RightsByAccount()


class ReviewsByDoctor(_Index):
    """``shown#<time>#<id>`` (the public list, newest first) or ``folded#…``."""

    class Meta(_Index.Meta):
        index_name = "by_doctor"

    doctor_id = UnicodeAttribute(hash_key=True)
    list_key = UnicodeAttribute(range_key=True)


class ReviewsReported(_Index):
    """Operators' queue: shown reviews with an open report (sparse)."""

    class Meta(_Index.Meta):
        index_name = "reported"

    reported = UnicodeAttribute(hash_key=True)
    review_id = UnicodeAttribute(range_key=True)


class Ratings(MapAttribute):
    skill = NumberAttribute()
    attitude = NumberAttribute()
    explanation = NumberAttribute()


@register
class Review(Model):
    Meta = meta("brand_reviews")
    review_id = UnicodeAttribute(hash_key=True)
    doctor_id = UnicodeAttribute()
    service_key = UnicodeAttribute()
    kind = UnicodeAttribute()
    account_id = UnicodeAttribute()
    patient_masked = UnicodeAttribute()  # only the masked form is stored
    ratings = Ratings()
    text = UnicodeAttribute(null=True)
    status = UnicodeAttribute()  # shown | folded
    list_key = UnicodeAttribute()
    reports = NumberAttribute(default=0)
    reported = UnicodeAttribute(null=True)
    fold_reason = UnicodeAttribute(null=True)
    folded_at = UTCDateTimeAttribute(null=True)
    reply = UnicodeAttribute(null=True)
    replied_at = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    by_doctor = ReviewsByDoctor()
    by_reported = ReviewsReported()


@register
class ReviewReport(Model):
    """One report per patient per review."""

    Meta = meta("brand_review_reports")
    review_id = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute(range_key=True)
    reason = UnicodeAttribute()
    note = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()


class FollowsByAccount(_Index):
    class Meta(_Index.Meta):
        index_name = "by_account"

    account_id = UnicodeAttribute(hash_key=True)
    doctor_id = UnicodeAttribute(range_key=True)


@register
class Follow(Model):
    Meta = meta("brand_follows")
    doctor_id = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute(range_key=True)
    followed_at = UTCDateTimeAttribute()
    seen_at = UTCDateTimeAttribute()
    by_account = FollowsByAccount()


class LettersByDoctor(_Index):
    """``approved#<time>#<id>`` (shown, newest first), ``pending#…``, ``rejected#…``."""

    class Meta(_Index.Meta):
        index_name = "by_doctor"

    doctor_id = UnicodeAttribute(hash_key=True)
    list_key = UnicodeAttribute(range_key=True)


class LettersByStatus(_Index):
    """Operators' moderation queue, oldest first."""

    class Meta(_Index.Meta):
        index_name = "by_status"

    status = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


@register
class Letter(Model):
    """A thank-you letter (感谢信): text only, shown after an operator approves it."""

    Meta = meta("brand_letters")
    letter_id = UnicodeAttribute(hash_key=True)
    doctor_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    patient_masked = UnicodeAttribute()
    text = UnicodeAttribute()
    status = UnicodeAttribute()  # pending | approved | rejected
    list_key = UnicodeAttribute()
    created_key = UnicodeAttribute()
    reject_reason = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    moderated_at = UTCDateTimeAttribute(null=True)
    by_doctor = LettersByDoctor()
    by_status = LettersByStatus()


@register
class BrandStats(Model):
    """The doctor's counter item: every figure the page and the boards show, kept up to date by
    the write that changes it (never recomputed by reading the reviews). ``points`` is the sum of
    all dimension scores of shown reviews; ``rank_*`` are the doctor's current board keys."""

    Meta = meta("brand_stats")
    doctor_id = UnicodeAttribute(hash_key=True)
    reviews = NumberAttribute(default=0)
    points = NumberAttribute(default=0)
    skill = NumberAttribute(default=0)
    attitude = NumberAttribute(default=0)
    explanation = NumberAttribute(default=0)
    followers = NumberAttribute(default=0)
    letters = NumberAttribute(default=0)
    articles = NumberAttribute(default=0)
    answered = NumberAttribute(default=0)
    answer_seconds = NumberAttribute(default=0)
    next_session_at = UTCDateTimeAttribute(null=True)
    last_article_id = UnicodeAttribute(null=True)
    last_article_title = UnicodeAttribute(null=True)
    last_article_at = UTCDateTimeAttribute(null=True)
    last_session_id = UnicodeAttribute(null=True)
    last_session_date = UnicodeAttribute(null=True)
    last_session_at = UTCDateTimeAttribute(null=True)
    rank_rating = UnicodeAttribute(null=True)
    rank_response = UnicodeAttribute(null=True)
    rank_availability = UnicodeAttribute(null=True)
    version = NumberAttribute(default=0)


@register
class BrandDaily(Model):
    """Per-doctor per-day counters (Asia/Shanghai days) for the doctor's trends."""

    Meta = meta("brand_daily")
    doctor_id = UnicodeAttribute(hash_key=True)
    day = UnicodeAttribute(range_key=True)  # YYYY-MM-DD
    follows = NumberAttribute(default=0)
    unfollows = NumberAttribute(default=0)
    reviews = NumberAttribute(default=0)
    letters = NumberAttribute(default=0)


@register
class BrandRank(Model):
    """The directory's boards, one item per (board, verified doctor): ``board`` is ``rating`` |
    ``response`` | ``availability``; ``rank`` is ``<sortable figure>#<doctor_id>`` so one Query
    reads a board in order."""

    Meta = meta("brand_ranks")
    board = UnicodeAttribute(hash_key=True)
    rank = UnicodeAttribute(range_key=True)
    doctor_id = UnicodeAttribute()
