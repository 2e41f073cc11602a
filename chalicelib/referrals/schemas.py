"""Surgery referral (名医主刀) request/response schemas."""

import datetime as dt
from typing import Literal

from pydantic import Field

from chalicelib.core.schemas import (  # noqa: F401  (named by routes)
    DateStr,
    DigitString,
    ListQuery,
    Name,
    Ok,
    Request,
    Response,
    Text,
    Timestamp,
    Token,
)

DOC_TYPES = ("image/jpeg", "image/png", "application/pdf", "application/dicom")
HospitalLevel = Literal["3A", "3B", "2A", "2B", "1"]
Urgency = Literal["routine", "soon", "urgent"]
RecordKind = Literal["report", "imaging", "pathology", "discharge_summary", "other", "invitation", "approval"]
CancelCause = Literal["patient", "surgeon", "host", "platform"]
RegionCode = DigitString


# --- partner hospitals (operators) -----------------------------------------------------------

class Contact(Request):
    name: Name = Field(min_length=1, max_length=40)
    role: Name = Field(min_length=1, max_length=40, description="e.g. 医务科, 手术室护士长")
    phone: DigitString = Field(min_length=5, max_length=20)


class Window(Request):
    kind: Literal["or", "bed"] = Field(description="operating room or beds")
    starts_on: dt.date
    ends_on: dt.date
    capacity: int = Field(default=1, ge=1, le=100)


class HospitalIn(Request):
    name: Name = Field(min_length=1, max_length=100)
    level: HospitalLevel
    region_code: RegionCode = Field(min_length=6, max_length=6, description="GB/T 2260 county code")
    region_name: Name = Field(min_length=1, max_length=60)
    departments: list[Name] = Field(min_length=1, max_length=40)
    contacts: list[Contact] = Field(default_factory=list, max_length=10)
    windows: list[Window] = Field(default_factory=list, max_length=60)
    active: bool = True


class ContactOut(Response):
    name: str
    role: str
    phone: str


class WindowOut(Response):
    kind: str
    starts_on: DateStr
    ends_on: DateStr
    capacity: int = 1


class HospitalOut(Response):
    hospital_id: str
    name: str
    level: str
    region_code: str
    region_name: str
    departments: list[str]
    contacts: list[ContactOut]
    windows: list[WindowOut]
    active: bool
    updated_at: Timestamp


class HospitalBrief(Response):
    hospital_id: str
    name: str
    level: str
    region_name: str


# --- surgeons ---------------------------------------------------------------------------------

class TravelWindow(Request):
    starts_on: dt.date
    ends_on: dt.date


class TravelWindowOut(Response):
    starts_on: DateStr
    ends_on: DateStr


class SurgeonIn(Request):
    specialties: list[Name] = Field(min_length=1, max_length=10)
    region_code: RegionCode = Field(min_length=6, max_length=6, description="where the surgeon's hospital is")
    windows: list[TravelWindow] = Field(default_factory=list, max_length=30, description="dates free to travel")
    available: bool = True
    max_open: int = Field(default=5, ge=1, le=30)


class SurgeonOut(Response):
    doctor_id: str
    name: str
    hospital: str
    department: str
    title: str
    specialties: list[str]
    region_code: str
    windows: list[TravelWindowOut]
    available: bool
    max_open: int
    open_cases: int


class Candidate(Response):
    surgeon: SurgeonOut
    distance: int = Field(description="0 same county, 1 same city, 2 same province, 3 farther (from the case's region)")
    window_fits: bool = Field(description="a travel window overlaps the patient's preferred dates")


class HospitalCandidate(Response):
    hospital: HospitalBrief
    distance: int
    window_fits: bool = Field(description="an operating-room window overlaps the patient's preferred dates")
    has_department: bool


class Candidates(Response):
    surgeons: list[Candidate]
    hospitals: list[HospitalCandidate]


# --- cases ------------------------------------------------------------------------------------

class ReferralConsentIn(Request):
    accepted: Literal[True]
    version: Token = Field(max_length=20)


class ReferralConsentText(Response):
    kind: str
    title: str
    text: str
    version: str


class CaseFields(Request):
    diagnosis: Text = Field(min_length=1, max_length=1000)
    operation: Text = Field(min_length=1, max_length=500, description="the proposed operation")
    specialty: Name = Field(min_length=1, max_length=40)
    urgency: Urgency
    region_code: RegionCode = Field(min_length=6, max_length=6, description="preferred region (county code)")
    window_from: dt.date = Field(description="preferred dates, Asia/Shanghai")
    window_to: dt.date
    notes: Text | None = Field(default=None, max_length=2000)


class ReferralCaseIn(CaseFields):
    """A patient's own case, for one of the account's profiles."""

    profile_id: Token = Field(min_length=1, max_length=40)
    consent: ReferralConsentIn = Field(description="the referral consent (GET /v1/referrals/consents/referral)")


class DoctorCaseIn(CaseFields):
    """A local doctor's case on behalf of a bound patient; the patient consents and pays in the app."""

    binding_id: Token = Field(min_length=1, max_length=40)


class ReferralOrderRef(Response):
    order_id: str
    amount_fen: int
    status: str
    expires_at: Timestamp


class ChecklistItem(Response):
    item_id: str
    kind: str
    title: str
    text: str
    remind_at: Timestamp
    done_at: Timestamp | None = None


class Paperwork(Response):
    invitation: bool = Field(description="the host hospital's written invitation is recorded")
    home_approval: bool = Field(description="the surgeon's own hospital's approval is recorded")
    patient_consent: bool = Field(description="the patient's informed consent to the operation is recorded")


class ReferralCaseOut(Response):
    case_id: str
    profile_id: str
    patient_name: str
    submitted_by: str
    referrer_id: str | None = None
    status: str
    diagnosis: str
    operation: str
    specialty: str
    urgency: str
    region_code: str
    window_from: DateStr
    window_to: DateStr
    notes: str | None = None
    fee_fen: int
    order_id: str | None = None
    surgeon: SurgeonOut | None = None
    hospital: HospitalBrief | None = None
    proposed_dates: list[Timestamp]
    paperwork: Paperwork
    surgery_at: Timestamp | None = None
    checklist: list[ChecklistItem]
    done_at: Timestamp | None = None
    plan_id: str | None = Field(default=None, description="the post-operative follow-up plan")
    plan_status: str | None = None
    cancel_cause: str | None = None
    cancel_reason: str | None = None
    refunded: bool = False
    created_at: Timestamp


class ReferralCaseCreated(Response):
    case: ReferralCaseOut
    order: ReferralOrderRef | None = None


class DocIn(Request):
    kind: RecordKind
    title: Name | None = Field(default=None, max_length=100)
    content_type: Literal[DOC_TYPES]  # type: ignore[valid-type]
    size: int = Field(gt=0, le=50 * 1024 * 1024)


class DocUpload(Response):
    doc_id: str
    upload_url: str
    fields: dict[str, str] = Field(description="form fields to post with the file (presigned S3 POST)")
    expires_in: int


class DocOut(Response):
    doc_id: str
    kind: str
    title: str | None = None
    content_type: str
    size: int
    uploader_role: str
    created_at: Timestamp


class DocLink(Response):
    doc_id: str
    url: str
    content_type: str
    expires_in: int


class DocRef(Request):
    doc_id: Token = Field(min_length=1, max_length=40, description="an uploaded document of this case")


class ReferralQueueQuery(ListQuery):
    queue: Literal["triage", "matching"] = "triage"


class DoctorCasesQuery(ListQuery):
    side: Literal["referrer", "surgeon"] = Field(default="surgeon", description="cases you referred, or hold as surgeon")


class Propose(Request):
    surgeon_id: Token = Field(min_length=1, max_length=40)
    hospital_id: Token = Field(min_length=1, max_length=40)


class AcceptIn(Request):
    dates: list[dt.datetime] = Field(min_length=1, max_length=5, description="proposed operation times (RFC 3339)")


class ReasonIn(Request):
    reason: Text = Field(min_length=1, max_length=500)


class ReferralNote(Request):
    reason: Text | None = Field(default=None, max_length=500)


class ConfirmIn(Request):
    surgery_at: dt.datetime = Field(description="one of the surgeon's proposed dates")


class CancelIn(Request):
    cause: CancelCause = Field(description="who caused it: only a patient's cancellation after confirmation is kept")
    reason: Text = Field(min_length=1, max_length=500)


class DoneIn(Request):
    note: Text | None = Field(default=None, max_length=1000)
