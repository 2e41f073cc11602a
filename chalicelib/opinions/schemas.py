"""Second-opinion request/response schemas."""

from typing import Literal

from pydantic import Field

from chalicelib.core.schemas import ListQuery, Ok, Request, Response  # noqa: F401  (named by routes)

Text = Field(min_length=1, max_length=2000)
RECORD_TYPES = ("image/jpeg", "image/png", "application/pdf", "application/dicom")


# --- experts ---------------------------------------------------------------------------------

class ExpertIn(Request):
    price_fen: int = Field(ge=100, le=10_000_000, description="the expert's price in fen, shown to patients up front")
    specialties: list[str] = Field(min_length=1, max_length=10)
    available: bool = True
    max_open: int = Field(default=5, ge=1, le=50, description="how many cases the expert holds at once")
    bio: str | None = Field(default=None, max_length=1000)


class ExpertOut(Response):
    doctor_id: str
    name: str
    hospital: str
    department: str
    title: str
    specialties: list[str]
    price_fen: int
    available: bool
    max_open: int
    open_cases: int
    bio: str | None = None


class ExpertsQuery(ListQuery):
    specialty: str | None = Field(default=None, max_length=40)


# --- cases -----------------------------------------------------------------------------------

class History(Request):
    present_illness: str | None = Field(default=None, max_length=4000)
    past_history: str | None = Field(default=None, max_length=2000)
    medications: str | None = Field(default=None, max_length=2000)
    allergies: str | None = Field(default=None, max_length=1000)
    treatments_so_far: str | None = Field(default=None, max_length=4000)


class CaseIn(Request):
    profile_id: str = Field(min_length=1, max_length=40)
    reason: Literal["treatment_choice", "diagnosis_doubt", "other"]
    questions: list[str] = Field(min_length=1, max_length=5)
    diagnosis: str = Field(min_length=1, max_length=500, description="the current diagnosis (required)")
    treating_hospital: str = Field(min_length=1, max_length=100)
    treating_doctor: str | None = Field(default=None, max_length=40)
    specialty: str = Field(min_length=1, max_length=40)
    history: History = Field(default_factory=History)
    expert_id: str | None = Field(default=None, max_length=40,
                                  description="an expert the patient picked; omit to let the platform match")


class OrderRef(Response):
    order_id: str
    amount_fen: int
    status: str
    expires_at: str


class CaseOut(Response):
    case_id: str
    profile_id: str
    patient_name: str
    status: str
    reason: str
    questions: list[str]
    diagnosis: str
    treating_hospital: str
    treating_doctor: str | None = None
    specialty: str
    history: dict
    price_fen: int
    order_id: str | None = None
    requested_expert_id: str | None = None
    expert: ExpertOut | None = None
    records_note: str | None = None
    summary: str | None = None
    completed_at: str | None = None
    deadline_at: str | None = None
    respond_by: str | None = None
    accepted_at: str | None = None
    published_at: str | None = None
    followups_left: int = 0
    refund_reason: str | None = None
    outcome_requested: bool = False
    created_at: str


class CaseCreated(Response):
    case: CaseOut
    order: OrderRef


class RecordIn(Request):
    kind: Literal["report", "imaging", "pathology", "discharge_summary", "other"]
    title: str | None = Field(default=None, max_length=100)
    content_type: Literal[RECORD_TYPES]  # type: ignore[valid-type]
    size: int = Field(gt=0, le=50 * 1024 * 1024)


class RecordUpload(Response):
    record_id: str
    upload_url: str
    fields: dict
    expires_in: int


class RecordOut(Response):
    record_id: str
    kind: str
    title: str | None = None
    content_type: str
    size: int
    created_at: str


class RecordLink(Response):
    record_id: str
    url: str
    content_type: str
    expires_in: int


# --- triage, matching ------------------------------------------------------------------------

class QueueQuery(ListQuery):
    queue: Literal["triage", "matching"] = "triage"


class RequestRecords(Request):
    note: str = Field(min_length=1, max_length=1000, description="what is missing (shown to the patient)")


class Resubmit(Request):
    note: str | None = Field(default=None, max_length=1000)


class Complete(Request):
    summary: str = Field(min_length=1, max_length=2000, description="the open questions, for the expert")


class Assign(Request):
    expert_id: str | None = Field(default=None, max_length=40, description="omit: match by specialty and load")


class Decline(Request):
    reason: str | None = Field(default=None, max_length=500)


# --- thread ----------------------------------------------------------------------------------

class MessageIn(Request):
    text: str = Text
    reply_to: str | None = Field(default=None, max_length=40)


class MessageOut(Response):
    message_id: str
    kind: str
    sender_role: str
    text: str
    reply_to: str | None = None
    created_at: str


# --- report ----------------------------------------------------------------------------------

class Answer(Request):
    question: int = Field(ge=0, le=4, description="index into the case's questions")
    answer: str = Text


class TreatmentOption(Request):
    option: str = Field(min_length=1, max_length=500)
    pros: str = Field(min_length=1, max_length=2000)
    cons: str = Field(min_length=1, max_length=2000)


class ReportIn(Request):
    diagnosis_review: Literal["confirmed", "refined", "different"]
    diagnosis_comment: str = Text
    answers: list[Answer] = Field(min_length=1, max_length=5)
    treatment_options: list[TreatmentOption] = Field(min_length=1, max_length=6)
    recommended_tests: list[str] = Field(default_factory=list, max_length=10)
    urgency: Literal["routine", "soon", "urgent"]
    note_to_treating_doctor: str = Text


class ReportOut(Response):
    case_id: str
    expert: ExpertOut
    diagnosis: str
    questions: list[str]
    report: dict
    addenda: list[MessageOut]
    published_at: str


class ShareLink(Response):
    url: str
    expires_at: str


class RefundIn(Request):
    ground: Literal["expert_unavailable", "service_failure", "duplicate", "disagreement", "other"]
    reason: str = Field(min_length=1, max_length=500)


class OutcomeIn(Request):
    followed_advice: Literal["yes", "partly", "no"]
    treatment_changed: bool
    comment: str | None = Field(default=None, max_length=1000)


class Stats(Response):
    paid: int
    reports: int
    confirmed_share: float | None
    refined_share: float | None
    different_share: float | None
    avg_turnaround_hours: float | None
    refunds: int
    refund_rate: float | None
    refunds_by_ground: dict
    outcomes: int
    followed_share: float | None
