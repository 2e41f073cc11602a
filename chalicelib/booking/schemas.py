"""Booking request/response schemas. Times in requests are Asia/Shanghai wall-clock times."""

import datetime as dt
from typing import Literal

from pydantic import Field, model_validator

from chalicelib.core.schemas import DateStr, ListQuery, Name, Ok, Request, Response, Text, Timestamp, Token  # noqa: F401
from chalicelib.doctors.schemas import DoctorBrief

Audience = Literal["bound", "invited"]


class SessionCreate(Request):
    date: dt.date = Field(description="Asia/Shanghai date of the session")
    start_time: dt.time = Field(description="Asia/Shanghai wall-clock start, e.g. 08:30")
    end_time: dt.time
    hospital: Name = Field(min_length=1, max_length=100)
    campus: Name | None = Field(default=None, max_length=100)
    room: Name | None = Field(default=None, max_length=100)
    capacity: int = Field(ge=1, le=200)
    fee_fen: int = Field(ge=0, le=10_000_00)
    audience: Audience = Field(default="bound", description="bound: any patient with an active binding; "
                                                            "invited: only patients the doctor assigns from a request")
    note: Text | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _times(self):
        if self.end_time <= self.start_time:
            raise ValueError("end_time must be after start_time")
        return self


class SessionUpdate(Request):
    capacity: int | None = Field(default=None, ge=1, le=200)
    hospital: Name | None = Field(default=None, min_length=1, max_length=100)
    campus: Name | None = Field(default=None, max_length=100)
    room: Name | None = Field(default=None, max_length=100)
    fee_fen: int | None = Field(default=None, ge=0, le=10_000_00)
    audience: Audience | None = None
    note: Text | None = Field(default=None, max_length=500)


class Reason(Request):
    reason: Text = Field(min_length=1, max_length=500)


class SessionOut(Response):
    session_id: str
    doctor_id: str
    status: str
    date: DateStr
    starts_at: Timestamp
    ends_at: Timestamp
    hospital: str
    campus: str | None
    room: str | None
    capacity: int
    seats_taken: int
    seats_left: int
    held: int
    confirmed: int
    fee_fen: int
    audience: str
    note: str | None
    cancel_reason: str | None = None


class SessionsQuery(ListQuery):
    status: Literal["open", "cancelled"] = "open"


class BookRequest(Request):
    profile_id: Token = Field(min_length=1, max_length=40)


class SessionPlace(Response):
    hospital: str
    campus: str | None = None
    room: str | None = None


class BookingOut(Response):
    booking_id: str
    session_id: str
    doctor_id: str
    profile_id: str
    status: str
    source: str
    order_id: str | None
    amount_fen: int
    hold_expires_at: Timestamp | None
    date: DateStr
    starts_at: Timestamp
    ends_at: Timestamp
    created_at: Timestamp
    confirmed_at: Timestamp | None
    ended_at: Timestamp | None
    end_reason: str | None
    doctor: DoctorBrief | None = Field(default=None, description="lists: who the doctor is")
    place: SessionPlace | None = Field(default=None, description="lists: where the session is (its time is "
                                                                 "date/starts_at/ends_at)")


class RosterEntry(BookingOut):
    account_id: str
    patient_name: str | None = Field(default=None, description="the booked profile's name")


class WaitlistOut(Response):
    session_id: str
    entry_id: str
    profile_id: str
    position: int


class Attendance(Request):
    status: Literal["checked_in", "no_show"]
    code: Token | None = Field(default=None, max_length=80, description="the patient's check-in code (optional)")


class CheckIn(Request):
    code: Token = Field(min_length=10, max_length=80)


class RequestCreate(Request):
    doctor_id: Token = Field(min_length=1, max_length=40)
    profile_id: Token = Field(min_length=1, max_length=40)
    date_from: dt.date
    date_to: dt.date
    reason: Text = Field(min_length=1, max_length=1000)
    attachment_ids: list[Token] = Field(default_factory=list, max_length=9)

    @model_validator(mode="after")
    def _range(self):
        if self.date_to < self.date_from:
            raise ValueError("date_to must not be before date_from")
        if (self.date_to - self.date_from).days > 60:
            raise ValueError("the date range is at most 60 days")
        return self


class Accept(Request):
    session_id: Token = Field(min_length=1, max_length=40)


class RequestOut(Response):
    request_id: str
    doctor_id: str
    profile_id: str
    status: str
    date_from: DateStr
    date_to: DateStr
    reason: str
    attachment_ids: list[str]
    created_at: Timestamp
    expires_at: Timestamp
    decline_reason: str | None
    session_id: str | None
    booking_id: str | None


class DemandDay(Response):
    date: DateStr
    requests: int
    waitlisted: int


class Demand(Response):
    open_requests: list[RequestOut]
    days: list[DemandDay]


class DemandQuery(Request):
    days: int = Field(default=14, ge=1, le=60)
