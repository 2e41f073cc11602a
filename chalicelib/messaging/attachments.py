"""Attachments: presigned uploads into a conversation and short-lived download links."""

from __future__ import annotations

from chalicelib.core import clock
from chalicelib.core.aws import client
from chalicelib.core.config import get_settings
from chalicelib.core.errors import NotFound, Unprocessable
from chalicelib.core.ids import new_id

from .conversations import get_conversation
from .models import Attachment, Conversation
from .schemas import AttachmentLink, AttachmentUpload

UPLOAD_TTL_S = 600
DOWNLOAD_TTL_S = 300


def create_attachment(caller, conversation_id: str, content_type: str, size: int) -> AttachmentUpload:
    conv = get_conversation(caller, conversation_id)
    att_id = new_id()
    key = f"conversations/{conv.conversation_id}/{att_id}"
    post = client("s3").generate_presigned_post(
        get_settings().attachments_bucket, key,
        Fields={"Content-Type": content_type},
        Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, size]],
        ExpiresIn=UPLOAD_TTL_S)
    Attachment(att_id, conversation_id=conv.conversation_id, uploader_id=caller.account_id, key=key,
               content_type=content_type, size=size, created_at=clock.now()).save()
    return AttachmentUpload(attachment_id=att_id, upload_url=post["url"], fields=post["fields"],
                            expires_in=UPLOAD_TTL_S)


def check_attachments(conv: Conversation, ids: list[str]) -> None:
    found = {a.attachment_id: a for a in Attachment.batch_get(ids)}
    if len(found) != len(set(ids)) or any(a.conversation_id != conv.conversation_id for a in found.values()):
        raise Unprocessable("attachments must be uploaded to this conversation first", code="invalid_attachment")


def attachments_in_conversation(ids: list[str], conversation_id: str) -> bool:
    """Whether every attachment was uploaded to this conversation (for other domains, e.g. a
    follow-up questionnaire's wound photo)."""
    found = {a.attachment_id: a for a in Attachment.batch_get(list(set(ids)))}
    return len(found) == len(set(ids)) and all(a.conversation_id == conversation_id for a in found.values())


def attachment_link(caller, attachment_id: str) -> AttachmentLink:
    try:
        a = Attachment.get(attachment_id)
    except Attachment.DoesNotExist:
        raise NotFound("attachment not found")
    get_conversation(caller, a.conversation_id)
    url = client("s3").generate_presigned_url("get_object", Params={"Bucket": get_settings().attachments_bucket,
                                                                    "Key": a.key}, ExpiresIn=DOWNLOAD_TTL_S)
    return AttachmentLink(attachment_id=attachment_id, url=url, content_type=a.content_type,
                          expires_in=DOWNLOAD_TTL_S)
