"""Messaging routes: conversations, messages, read markers, consultations, attachments, group send."""

from chalicelib.core.http import Api, Ctx, ListOf
from chalicelib.core.lazy import lazy_module

service = lazy_module("chalicelib.messaging.service")
api = Api("messaging")
PARTICIPANTS = ("patient", "doctor")


@api.route("/v1/conversations", "GET", roles=PARTICIPANTS, query="MessagesQuery", response=ListOf("ConversationOut"),
           summary="The caller's conversations, latest activity first, with unread counts")
def list_conversations(ctx: Ctx):
    return service.list_conversations(ctx.caller, ctx.query.limit, ctx.query.cursor)


@api.route("/v1/conversations/{conversation_id}", "GET", roles=PARTICIPANTS, response="ConversationOut",
           errors=(404,), summary="One conversation: unread count, free window and consultation state")
def get_conversation(ctx: Ctx, conversation_id: str):
    return service.conversation_detail(ctx.caller, conversation_id)


@api.route("/v1/conversations/{conversation_id}/messages", "GET", roles=PARTICIPANTS, query="MessagesQuery",
           response=ListOf("MessageOut"), errors=(404,),
           summary="Messages, newest first by cursor; `?after=<seq>` polls for new ones")
def list_messages(ctx: Ctx, conversation_id: str):
    q = ctx.query
    return service.list_messages(ctx.caller, conversation_id, q.limit, q.cursor, q.after, ctx.request_id)


@api.route("/v1/conversations/{conversation_id}/messages", "POST", roles=PARTICIPANTS, request="SendMessage",
           response="MessageOut", status=201, idempotent=True, errors=(404, 409, 422),
           summary="Send a message (422 `consultation_required`/`free_window_over`/`doctor_away`/`binding_inactive`)")
def send(ctx: Ctx, conversation_id: str):
    b = ctx.body
    return service.send(ctx.caller, conversation_id, b.kind, b.text, b.attachment_ids)


@api.route("/v1/conversations/{conversation_id}/read", "POST", roles=PARTICIPANTS, response="ReadMarker",
           errors=(404,), summary="Mark everything so far as read")
def mark_read(ctx: Ctx, conversation_id: str):
    return service.mark_read(ctx.caller, conversation_id)


@api.route("/v1/conversations/{conversation_id}/messages/{seq}/hide", "POST", roles=("patient",), response="Ok",
           errors=(404,), summary="Delete a message from the patient's own view (the record is kept)")
def hide(ctx: Ctx, conversation_id: str, seq: str):
    from chalicelib.core.schemas import ascii_digits

    if not ascii_digits(seq):  # str.isdigit() would take "١" (Arabic-Indic) as 1
        from chalicelib.core.errors import NotFound

        raise NotFound("message not found")
    return service.hide_message(ctx.caller, conversation_id, int(seq))


@api.route("/v1/conversations/{conversation_id}/consultations", "POST", roles=("patient",),
           response="ConsultationOut", status=201, idempotent=True, errors=(404, 409, 422),
           summary="Buy a paid consultation: creates the order to pay; it opens when paid")
def buy(ctx: Ctx, conversation_id: str):
    return service.buy_consultation(ctx.caller, conversation_id)


@api.route("/v1/consultations/{consultation_id}", "GET", roles=PARTICIPANTS, response="ConsultationOut",
           errors=(404,), summary="One consultation: poll it after paying until its status is open")
def consultation(ctx: Ctx, consultation_id: str):
    return service.get_consultation(ctx.caller, consultation_id)


@api.route("/v1/doctor/consultation-package", "GET", roles=("doctor",), response="PackageOut",
           summary="The doctor's paid consultation package and away mode")
def get_package(ctx: Ctx):
    return service.package_out(service.get_package(ctx.account_id))


@api.route("/v1/doctor/consultation-package", "PUT", roles=("doctor",), request="PackageIn", response="PackageOut",
           summary="Set the consultation package (price, hours, messages, reply deadline)")
def put_package(ctx: Ctx):
    return service.set_package(ctx.caller, ctx.body)


@api.route("/v1/doctor/away", "PUT", roles=("doctor",), request="AwayIn", response="PackageOut",
           summary="Away mode: an auto-reply, and no new paid consultations")
def put_away(ctx: Ctx):
    return service.set_away(ctx.caller, ctx.body.away, ctx.body.message)


@api.route("/v1/doctor/group-messages/preview", "POST", roles=("doctor",), request="GroupAudience",
           response="GroupPreview", summary="How many patients a group send would reach, and sends left today")
def group_preview(ctx: Ctx):
    return service.preview_recipients(ctx.caller, ctx.body)


@api.route("/v1/doctor/group-messages", "POST", roles=("doctor",), request="GroupMessage", response="GroupSendOut",
           status=202, idempotent=True, errors=(404, 422, 429),
           summary="Send one text or card to a group, several groups or every active patient (群发); "
                   "answers at once, delivery fans out (429 `group_send_limit` beyond the daily number)")
def group_send(ctx: Ctx):
    return service.start_group_send(ctx.caller, ctx.body)


@api.route("/v1/doctor/group-messages", "GET", roles=("doctor",), query="ListQuery", response=ListOf("GroupSendOut"),
           summary="The doctor's group sends, newest first, with progress")
def group_sends(ctx: Ctx):
    return service.my_group_sends(ctx.caller, ctx.query.limit, ctx.query.cursor)


@api.route("/v1/doctor/group-messages/{send_id}", "GET", roles=("doctor",), response="GroupSendOut", errors=(404,),
           summary="One group send's progress: total, delivered, failed")
def group_send_progress(ctx: Ctx, send_id: str):
    return service.get_group_send(ctx.caller, send_id)


@api.route("/v1/attachments", "POST", roles=PARTICIPANTS, request="AttachmentIn", response="AttachmentUpload",
           status=201, errors=(404,), summary="Get a presigned upload for an image or PDF in a conversation")
def create_attachment(ctx: Ctx):
    b = ctx.body
    return service.create_attachment(ctx.caller, b.conversation_id, b.content_type, b.size)


@api.route("/v1/attachments/{attachment_id}", "GET", roles=PARTICIPANTS, response="AttachmentLink", errors=(404,),
           summary="A short-lived download link (participants only)")
def attachment_link(ctx: Ctx, attachment_id: str):
    return service.attachment_link(ctx.caller, attachment_id)
