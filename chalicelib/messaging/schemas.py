"""Request and response bodies of the messaging routes."""

from typing import Literal

from pydantic import Field, model_validator

from chalicelib.core.schemas import ListQuery, Ok, Request, Response  # noqa: F401  (Ok is named by routes)

MAX_TEXT = 2000
CONTENT_TYPES = ("image/jpeg", "image/png", "image/heic", "application/pdf")


class SendMessage(Request):
    kind: Literal["text", "image", "file"] = "text"
    text: str | None = Field(default=None, min_length=1, max_length=MAX_TEXT)
    attachment_ids: list[str] = Field(default_factory=list, max_length=9)

    @model_validator(mode="after")
    def _content(self):
        if self.kind == "text" and not self.text:
            raise ValueError("a text message needs text")
        if self.kind != "text" and not self.attachment_ids:
            raise ValueError("an image or file message needs attachment_ids")
        return self


class MessageOut(Response):
    message_id: str
    seq: int
    kind: str
    sender_role: str
    sender_id: str | None = None
    text: str | None = None
    attachment_ids: list[str] | None = None
    card: dict | None = Field(default=None, description=(
        "kind=card: a structured notice; `type` says which: binding_activated, away_auto_reply, consultation_opened, "
        "consultation_refunded, consultation_closed, booking_confirmed, booking_offered (a seat held for the patient: "
        "pay before hold_expires_at), booking_cancelled, booking_reminder, booking_request_declined, "
        "booking_request_expired, followup_task (a follow-up task is due: open it by plan_id and task_id before "
        "window_ends_at), followup_task_reminder; the other keys are the ids and times the client needs to open the object"))
    consultation_id: str | None = None
    created_at: str


class MessagesQuery(ListQuery):
    after: int | None = Field(default=None, ge=0, description="poll: only messages with seq greater than this")


class ConversationOut(Response):
    conversation_id: str
    doctor_id: str
    patient_account_id: str
    profile_id: str
    patient_name: str
    status: str
    last_preview: str | None = None
    last_at: str
    unread: int
    seq: int
    free_until: str
    free_messages_left: int
    consultation_id: str | None = None
    consult_ends_at: str | None = None
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
    message: str | None = Field(default=None, max_length=200)


class ConsultationOut(Response):
    consultation_id: str
    conversation_id: str
    status: str
    price_fen: int
    order_id: str | None = None
    opened_at: str | None = None
    deadline_at: str | None = None
    ends_at: str | None = None
    answered_at: str | None = None


class GroupMessage(Request):
    group: str = Field(min_length=1, max_length=20)
    text: str = Field(min_length=1, max_length=MAX_TEXT)


class GroupSent(Response):
    sent: int


class AttachmentIn(Request):
    conversation_id: str = Field(min_length=1, max_length=40)
    content_type: Literal[CONTENT_TYPES]  # type: ignore[valid-type]
    size: int = Field(gt=0, le=10 * 1024 * 1024)


class AttachmentUpload(Response):
    attachment_id: str
    upload_url: str
    fields: dict
    expires_in: int


class AttachmentLink(Response):
    attachment_id: str
    url: str
    content_type: str
    expires_in: int
