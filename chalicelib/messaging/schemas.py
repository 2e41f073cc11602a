"""Request and response bodies of the messaging routes."""

from typing import Literal

from pydantic import ConfigDict, Field, model_serializer, model_validator

from chalicelib.core.schemas import (  # noqa: F401  (Ok: routes)
    DateStr,
    ListQuery,
    Name,
    Ok,
    Request,
    Response,
    Text,
    Timestamp,
    Token,
)
from chalicelib.doctors.schemas import DoctorBrief

MAX_TEXT = 2000
CONTENT_TYPES = ("image/jpeg", "image/png", "image/heic", "application/pdf")


class SendMessage(Request):
    kind: Literal["text", "image", "file"] = "text"
    text: Text | None = Field(default=None, min_length=1, max_length=MAX_TEXT)
    attachment_ids: list[Token] = Field(default_factory=list, max_length=9)

    @model_validator(mode="after")
    def _content(self):
        if self.kind == "text" and not self.text:
            raise ValueError("a text message needs text")
        if self.kind != "text" and not self.attachment_ids:
            raise ValueError("an image or file message needs attachment_ids")
        return self


class Card(Response):
    """A structured notice (kind=card). ``type`` says which; the other fields are the ids and times
    the client needs to open the object (each type fills the ones it needs). Cards added later may
    carry further keys."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    type: str = Field(description=(
        "binding_activated, away_auto_reply, consultation_opened, consultation_refunded, consultation_closed, "
        "booking_confirmed, booking_offered (a seat held for the patient: pay before hold_expires_at), "
        "booking_cancelled, booking_reminder, booking_request_declined, booking_request_expired, followup_task (a "
        "follow-up task is due: open it by plan_id and task_id before window_ends_at), followup_task_reminder; "
        "from a group send "
        "(群发, with group_send_id): notice, booking_session (a 加号 session to book)"))
    text: str | None = None
    free_until: Timestamp | None = None
    free_messages: int | None = None
    consultation_id: str | None = None
    ends_at: Timestamp | None = None
    messages: int | None = None
    booking_id: str | None = None
    request_id: str | None = None
    session_id: str | None = None
    status: str | None = None
    starts_at: Timestamp | None = None
    hold_expires_at: Timestamp | None = None
    amount_fen: int | None = None
    hours_before: int | None = None
    reason: str | None = None
    decline_reason: str | None = None
    group_send_id: str | None = None
    title: str | None = None
    date: DateStr | None = None
    hospital: str | None = None

    @model_serializer(mode="wrap")
    def _only_what_it_carries(self, handler):
        return {k: v for k, v in handler(self).items() if v is not None}


class MessageOut(Response):
    message_id: str
    seq: int
    kind: str
    sender_role: str
    sender_id: str | None = None
    text: str | None = None
    attachment_ids: list[str] | None = None
    card: Card | None = Field(default=None, description="kind=card: a structured notice")
    consultation_id: str | None = None
    created_at: Timestamp


class MessagesQuery(ListQuery):
    after: int | None = Field(default=None, ge=0, description="poll: only messages with seq greater than this")


class ConversationOut(Response):
    conversation_id: str
    doctor_id: str
    doctor: DoctorBrief | None = Field(default=None, description="the patient's inbox: who the doctor is")
    patient_account_id: str
    profile_id: str
    patient_name: str
    status: str
    last_preview: str | None = None
    last_at: Timestamp
    unread: int
    seq: int
    free_until: Timestamp
    free_messages_left: int
    consultation_id: str | None = None
    consult_ends_at: Timestamp | None = None
    consult_messages_left: int


class ReadMarker(Response):
    conversation_id: str
    read_seq: int
    unread: int


class PackageIn(Request):
    enabled: bool = True
    price_fen: int = Field(ge=100, le=1_000_000)
    hours: int = Field(default=48, ge=1, le=168)
    messages: int = Field(default=20, ge=1, le=200)
    reply_deadline_hours: int = Field(default=24, ge=1, le=72)


class PackageOut(Response):
    enabled: bool
    price_fen: int
    hours: int
    messages: int
    reply_deadline_hours: int
    away: bool
    away_message: str | None = None


class AwayIn(Request):
    away: bool
    message: Text | None = Field(default=None, max_length=200)


class ConsultationOut(Response):
    consultation_id: str
    conversation_id: str
    status: str
    price_fen: int
    order_id: str | None = None
    opened_at: Timestamp | None = None
    deadline_at: Timestamp | None = None
    ends_at: Timestamp | None = None
    answered_at: Timestamp | None = None


GroupCardType = Literal["booking_session", "notice"]
GroupSendStatus = Literal["planning", "sending", "done"]
GroupSendKind = Literal["text", "card"]


class GroupAudience(Request):
    """Who receives a group send: every active patient, or those in any of the groups.
    Blocked, ended and pending bindings are never included."""

    all_patients: bool = False
    groups: list[Name] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _one(self):
        if self.all_patients == bool(self.groups):
            raise ValueError("give either all_patients=true or a non-empty list of groups")
        for g in self.groups:
            if not 1 <= len(g) <= 20:
                raise ValueError("a group name has 1 to 20 characters")
        return self


class GroupCard(Request):
    """A card in a group send: a 加号 session to book, or a notice (停诊通知, a health reminder)."""

    type: GroupCardType
    session_id: Token | None = Field(default=None, min_length=1, max_length=40)
    title: Name = Field(min_length=1, max_length=40)
    text: Text | None = Field(default=None, max_length=MAX_TEXT)

    @model_validator(mode="after")
    def _session(self):
        if (self.type == "booking_session") != (self.session_id is not None):
            raise ValueError("a booking_session card names its session_id; a notice names none")
        return self


class GroupMessage(GroupAudience):
    text: Text | None = Field(default=None, min_length=1, max_length=MAX_TEXT)
    card: GroupCard | None = None

    @model_validator(mode="after")
    def _content(self):
        if (self.text is None) == (self.card is None):
            raise ValueError("a group message is either text or a card")
        return self


class GroupPreview(Response):
    recipients: int = Field(description="active patients the send would reach now")
    limit: int = Field(description="the most recipients one group send may have")
    sends_left_today: int = Field(description="group sends the doctor may still start today (Asia/Shanghai)")


class GroupAudienceOut(Response):
    all_patients: bool
    groups: list[str]


class GroupSendOut(Response):
    send_id: str
    status: GroupSendStatus
    audience: GroupAudienceOut
    kind: GroupSendKind
    text: str | None = None
    card: Card | None = None
    total: int = Field(description="recipients found so far (final once status is not planning)")
    delivered: int
    failed: int = Field(description="recipients whose conversation was not active any more")
    created_at: Timestamp


class AttachmentIn(Request):
    conversation_id: Token = Field(min_length=1, max_length=40)
    content_type: Literal[CONTENT_TYPES]  # type: ignore[valid-type]
    size: int = Field(gt=0, le=10 * 1024 * 1024)


class AttachmentUpload(Response):
    attachment_id: str
    upload_url: str
    fields: dict[str, str] = Field(description="form fields to POST to upload_url before the file (as `file`)")
    expires_in: int


class AttachmentLink(Response):
    attachment_id: str
    url: str
    content_type: str
    expires_in: int
