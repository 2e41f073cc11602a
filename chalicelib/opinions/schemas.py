"""Second-opinion request/response schemas."""

from typing import Literal

from pydantic import Field, JsonValue

from chalicelib.core.schemas import ListQuery, Name, Ok, Request, Response, Text, Timestamp, Token  # noqa: F401  (named by routes)

RECORD_TYPES = ("image/jpeg", "image/png", "application/pdf", "application/dicom")


# --- experts ---------------------------------------------------------------------------------

class ExpertIn(Request):
    price_fen: int = Field(ge=100, le=10_000_000, description="the expert's price in fen, shown to patients up front")
    specialties: list[Name] = Field(min_length=1, max_length=10)
    available: bool = True
    max_open: int = Field(default=5, ge=1, le=50, description="how many cases the expert holds at once")
    bio: Text | None = Field(default=None, max_length=1000)


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
    specialty: Name | None = Field(default=None, max_length=40)


# --- cases -----------------------------------------------------------------------------------

class History(Request):
    present_illness: Text | None = Field(default=None, max_length=4000)
    past_history: Text | None = Field(default=None, max_length=2000)
    medications: Text | None = Field(default=None, max_length=2000)
    allergies: Text | None = Field(default=None, max_length=1000)
    treatments_so_far: Text | None = Field(default=None, max_length=4000)


class HistoryOut(Response):
    present_illness: str | None = None
    past_history: str | None = None
    medications: str | None = None
    allergies: str | None = None
    treatments_so_far: str | None = None


class CaseIn(Request):
    profile_id: Token = Field(min_length=1, max_length=40)
    reason: Literal["treatment_choice", "diagnosis_doubt", "other"]
    questions: list[Text] = Field(min_length=1, max_length=5)
    diagnosis: Text = Field(min_length=1, max_length=500, description="the current diagnosis (required)")
    treating_hospital: Name = Field(min_length=1, max_length=100)
    treating_doctor: Name | None = Field(default=None, max_length=40)
    specialty: Name = Field(min_length=1, max_length=40)
    history: History = Field(default_factory=History)
    expert_id: Token | None = Field(default=None, max_length=40,
                                  description="an expert the patient picked; omit to let the platform match")


class OrderRef(Response):
    order_id: str
    amount_fen: int
    status: str
    expires_at: Timestamp


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
    history: HistoryOut
    price_fen: int
    order_id: str | None = None
    requested_expert_id: str | None = None
    expert: ExpertOut | None = None
    records_note: str | None = None
    summary: str | None = None
    completed_at: Timestamp | None = None
    deadline_at: Timestamp | None = None
    respond_by: Timestamp | None = None
    accepted_at: Timestamp | None = None
    published_at: Timestamp | None = None
    followups_left: int = 0
    refund_reason: str | None = None
    outcome_requested: bool = False
    created_at: Timestamp


class CaseCreated(Response):
    case: CaseOut
    order: OrderRef


class RecordIn(Request):
    kind: Literal["report", "imaging", "pathology", "discharge_summary", "other"]
    title: Name | None = Field(default=None, max_length=100)
    content_type: Literal[RECORD_TYPES]  # type: ignore[valid-type]
    size: int = Field(gt=0, le=50 * 1024 * 1024)


class RecordUpload(Response):
    record_id: str
    upload_url: str
    fields: dict[str, str] = Field(description="form fields to post with the file (presigned S3 POST)")
    expires_in: int


class RecordOut(Response):
    record_id: str
    kind: str
    title: str | None = None
    content_type: str
    size: int
    uploaded: bool = Field(description="the file was found in the bucket (confirm the upload); until then "
                                       "only the patient sees the record")
    created_at: Timestamp


class RecordLink(Response):
    record_id: str
    url: str
    content_type: str
    expires_in: int


# --- triage, matching ------------------------------------------------------------------------

class QueueQuery(ListQuery):
    queue: Literal["triage", "matching"] = "triage"


class RequestRecords(Request):
    note: Text = Field(min_length=1, max_length=1000, description="what is missing (shown to the patient)")


class Resubmit(Request):
    note: Text | None = Field(default=None, max_length=1000)


class Complete(Request):
    summary: Text = Field(min_length=1, max_length=2000, description="the open questions, for the expert")


class Assign(Request):
    expert_id: Token | None = Field(default=None, max_length=40, description="omit: match by specialty and load")


class Decline(Request):
    reason: Text | None = Field(default=None, max_length=500)


# --- thread ----------------------------------------------------------------------------------

class MessageIn(Request):
    text: Text = Field(min_length=1, max_length=2000)
    reply_to: Token | None = Field(default=None, max_length=40)


class CaseMessageOut(Response):
    message_id: str
    kind: str
    sender_role: str
    text: str
    reply_to: str | None = None
    created_at: Timestamp


# --- report ----------------------------------------------------------------------------------

class Answer(Request):
    question: int = Field(ge=0, le=4, description="index into the case's questions")
    answer: Text = Field(min_length=1, max_length=2000)


class TreatmentOption(Request):
    option: Text = Field(min_length=1, max_length=500)
    pros: Text = Field(min_length=1, max_length=2000)
    cons: Text = Field(min_length=1, max_length=2000)


class ReportIn(Request):
    diagnosis_review: Literal["confirmed", "refined", "different"]
    diagnosis_comment: Text = Field(min_length=1, max_length=2000)
    answers: list[Answer] = Field(min_length=1, max_length=5)
    treatment_options: list[TreatmentOption] = Field(min_length=1, max_length=6)
    recommended_tests: list[Text] = Field(default_factory=list, max_length=10)
    urgency: Literal["routine", "soon", "urgent"]
    note_to_treating_doctor: Text = Field(min_length=1, max_length=2000)


class ReportOut(Response):
    case_id: str
    expert: ExpertOut
    diagnosis: str
    questions: list[str]
    report: dict[str, JsonValue] = Field(description="the fields of ReportIn as the expert published them")
    addenda: list[CaseMessageOut]
    published_at: Timestamp


class ShareLink(Response):
    url: str
    expires_at: Timestamp


class RefundIn(Request):
    ground: Literal["expert_unavailable", "service_failure", "duplicate", "disagreement", "other"]
    reason: Text = Field(min_length=1, max_length=500)


class OutcomeIn(Request):
    followed_advice: Literal["yes", "partly", "no"]
    treatment_changed: bool
    comment: Text | None = Field(default=None, max_length=1000)


class Stats(Response):
    paid: int
    reports: int
    confirmed_share: float | None
    refined_share: float | None
    different_share: float | None
    avg_turnaround_hours: float | None
    refunds: int
    refund_rate: float | None
    refunds_by_ground: dict[str, int]
    outcomes: int
    followed_share: float | None
