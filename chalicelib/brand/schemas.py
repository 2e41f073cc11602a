"""Request and response bodies of the doctor brand routes."""

from typing import Literal

from pydantic import Field

from chalicelib.core.schemas import DateStr, ListQuery, Name, Request, Response, Text, Timestamp, Token

ServiceKind = Literal["consultation", "booking", "opinion", "surgery"]
FoldReason = Literal["fake", "ghost_written", "coerced", "abusive", "other"]
ReportReason = Literal["fake", "ghost_written", "coerced", "abusive", "privacy", "other"]
Board = Literal["rating", "response", "availability"]
LetterStatus = Literal["pending", "approved", "rejected"]

SERVICE_KEY = r"^(consultation|booking|opinion|surgery)\.[0-9A-Za-z_-]{1,64}$"


# --- articles --------------------------------------------------------------------------------

class ArticleIn(Request):
    """The same fields (and limits) as a follow-up plan's article item."""

    title: Name = Field(min_length=1, max_length=100)
    body: Text = Field(min_length=1, max_length=20000)
    images: list[Token] = Field(default_factory=list, max_length=20, description="image URLs or attachment ids")


class ArticleUpdate(Request):
    title: Name | None = Field(default=None, min_length=1, max_length=100)
    body: Text | None = Field(default=None, min_length=1, max_length=20000)
    images: list[Token] | None = Field(default=None, max_length=20)


class ArticleOut(Response):
    article_id: str
    doctor_id: str
    title: str
    body: str
    images: list[str]
    status: str
    published_at: Timestamp
    updated_at: Timestamp
    path: str = Field(description="where apps and follow-up plans open it: /v1/articles/{article_id}")


class ArticleRow(Response):
    article_id: str
    title: str
    excerpt: str
    published_at: Timestamp


# --- reviews ---------------------------------------------------------------------------------

class RatingsIn(Request):
    skill: int = Field(ge=1, le=5, description="医术 / how the problem was handled")
    attitude: int = Field(ge=1, le=5, description="态度")
    explanation: int = Field(ge=1, le=5, description="解释是否清楚")


class ReviewIn(Request):
    service_key: str = Field(pattern=SERVICE_KEY, description="from GET /v1/me/reviewables")
    ratings: RatingsIn
    text: Text | None = Field(default=None, max_length=1000)


class Ratings(Response):
    skill: int
    attitude: int
    explanation: int


class ReviewOut(Response):
    """A review as anyone sees it: the patient masked (张**), never named."""

    review_id: str
    doctor_id: str
    kind: ServiceKind
    patient: str = Field(description="masked, e.g. 张**")
    ratings: Ratings
    overall: float
    text: str | None = None
    reply: str | None = None
    replied_at: Timestamp | None = None
    created_at: Timestamp


class AdminReviewOut(ReviewOut):
    status: str
    reports: int
    fold_reason: str | None = None


class Reviewable(Response):
    """A completed service the patient may review once, until ``review_by``."""

    service_key: str
    kind: ServiceKind
    doctor_id: str
    doctor_name: str | None = None
    completed_at: Timestamp
    review_by: Timestamp
    review_id: str | None = None


class ReviewReportIn(Request):
    reason: ReportReason
    note: Text | None = Field(default=None, max_length=500)


class FoldIn(Request):
    reason: FoldReason


class ReplyIn(Request):
    text: Text = Field(min_length=1, max_length=1000)


class ReviewQueueQuery(ListQuery):
    pass


# --- followers -------------------------------------------------------------------------------

class FollowOut(Response):
    doctor_id: str
    following: bool
    followers: int


class FollowingRow(Response):
    """A followed doctor with their newest article and newest 加号 session; ``has_news`` until
    the patient marks the doctor seen."""

    doctor_id: str
    name: str | None = None
    title: str | None = None
    hospital: str | None = None
    followed_at: Timestamp
    latest_article_id: str | None = None
    latest_article_title: str | None = None
    latest_article_at: Timestamp | None = None
    latest_session_id: str | None = None
    latest_session_date: DateStr | None = None
    latest_session_at: Timestamp | None = None
    has_news: bool


class DayCount(Response):
    day: DateStr
    follows: int
    unfollows: int
    reviews: int
    letters: int


class BrandStatsOut(Response):
    doctor_id: str
    followers: int
    reviews: int
    score: float
    letters: int
    articles: int
    mean_response_s: int | None = None
    days: list[DayCount] = Field(description="per-day counters, oldest first (Asia/Shanghai days)")


class StatsQuery(Request):
    days: int = Field(default=30, ge=1, le=90)


# --- letters ---------------------------------------------------------------------------------

class LetterIn(Request):
    text: Text = Field(min_length=5, max_length=2000)


class LetterOut(Response):
    letter_id: str
    doctor_id: str
    patient: str
    text: str
    created_at: Timestamp


class AdminLetterOut(LetterOut):
    status: LetterStatus
    reject_reason: str | None = None


class LetterQueueQuery(ListQuery):
    status: LetterStatus = "pending"


class LetterReject(Request):
    reason: Text = Field(min_length=2, max_length=500)


# --- page and directory ----------------------------------------------------------------------

class Score(Response):
    score: float = Field(description="Bayesian average: (10 × 4.0 + Σ overall) / (10 + reviews)")
    reviews: int
    skill: float | None = None
    attitude: float | None = None
    explanation: float | None = None


class ConsultationService(Response):
    price_fen: int
    hours: int
    messages: int
    reply_deadline_hours: int
    away: bool


class SessionService(Response):
    session_id: str
    starts_at: Timestamp
    ends_at: Timestamp
    hospital: str
    fee_fen: int
    seats_left: int


class OpinionService(Response):
    price_fen: int
    available: bool
    specialties: list[str]


class Services(Response):
    consultation: ConsultationService | None = None
    sessions: list[SessionService] = Field(description="upcoming open 加号 sessions, soonest first")
    second_opinion: OpinionService | None = None
    surgery_areas: list[str] = Field(description="areas the doctor operates in as a visiting surgeon (名医主刀)")


class DoctorPage(Response):
    doctor_id: str
    name: str
    title: str
    hospital: str
    department: str
    city: str | None = None
    specialties: list[str]
    bio: str | None = None
    score: Score
    followers: int
    mean_response_s: int | None = None
    services: Services
    articles: list[ArticleRow]
    reviews: list[ReviewOut]
    letters: list[LetterOut]
    share_path: str = Field(description="the shareable H5 page")


class RankedDoctor(Response):
    doctor_id: str
    name: str
    title: str
    hospital: str
    department: str
    score: float
    reviews: int
    mean_response_s: int | None = None
    next_session_at: Timestamp | None = None


class BoardQuery(ListQuery):
    sort: Board = Field(default="rating", description=(
        "rating: Bayesian average (10 pseudo-reviews at 4.0 + the doctor's reviews), highest first; "
        "response: mean time from a paid consultation's opening to the first answer, fastest first, "
        "doctors without answered consultations last; availability: soonest upcoming open 加号 session "
        "first, doctors without one last. Ties: doctor id, descending for rating, ascending otherwise."))
