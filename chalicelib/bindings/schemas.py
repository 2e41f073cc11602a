"""Request and response bodies of the bindings routes."""

from datetime import date
from typing import Literal

from pydantic import Field, RootModel, field_validator

from chalicelib.accounts.schemas import normalize_phone
from chalicelib.core.schemas import ListQuery, Request, Response

VisitType = Literal["outpatient", "inpatient", "surgery"]


class Consent(Request):
    accepted: bool = Field(description="Separate consent (PIPL) to share health data with this doctor")
    version: str = Field(min_length=1, max_length=20)


class ScanRequest(Request):
    code: str = Field(min_length=10, max_length=400)
    profile_id: str = Field(min_length=1, max_length=40)
    visit_date: date
    visit_type: VisitType
    hospital: str = Field(min_length=2, max_length=80)
    diagnosis: str | None = Field(default=None, max_length=500)
    attachment_ids: list[str] = Field(default_factory=list, max_length=9)
    consent: Consent


class BindingOut(Response):
    binding_id: str
    doctor_id: str
    profile_id: str
    patient_name: str
    status: str
    code_kind: str
    groups: list[str]
    requested_at: str
    activated_at: str | None = None
    ended_at: str | None = None
    free_until: str | None = None
    free_messages: int
    reject_reason: str | None = None


class BindingDetail(BindingOut):
    """With the visit evidence (health data: every read is audited)."""

    patient_account_id: str
    visit_date: str
    visit_type: str
    hospital: str
    diagnosis: str | None = None
    attachment_ids: list[str]
    consent_version: str
    consent_at: str


class BindingList(RootModel[list[BindingDetail]]):
    pass


class ScanResult(BindingOut):
    created: bool = Field(description="false when the scan found an existing binding (idempotent re-scan)")


class LiveCode(Response):
    code: str
    url: str
    expires_at: str
    expires_in: int


class StoredCode(Response):
    code: str
    kind: str
    url: str
    status: str
    label: str | None = None
    created_at: str
    expires_at: str | None = None


class SlipCreate(Request):
    label: str | None = Field(default=None, max_length=60, description="e.g. the visit it is for")
    patient_phone: str | None = Field(default=None, max_length=20)
    valid_hours: int = Field(default=24, ge=1, le=24)

    _p = field_validator("patient_phone")(lambda v: normalize_phone(v) if v else None)


class CodeInfo(Response):
    kind: str
    doctor: dict


class FollowUpSettings(Response):
    free_days: int
    free_messages: int
    visit_window_days: int


class FollowUpSettingsUpdate(Request):
    free_days: int = Field(ge=0, le=90)
    free_messages: int = Field(ge=0, le=100)
    visit_window_days: int = Field(ge=1, le=365)


class PatientsQuery(ListQuery):
    group: str | None = Field(default=None, max_length=20)
    q: str | None = Field(default=None, max_length=40)


class StatusQuery(ListQuery):
    status: Literal["active", "pending", "blocked", "ended", "rejected"] = "active"


class RejectBody(Request):
    reason: str = Field(min_length=1, max_length=200)


class GroupsBody(Request):
    groups: list[str] = Field(max_length=10)
