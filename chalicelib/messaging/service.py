"""Messaging (随诊): the domain's one public face. Routes, other domains and tests import from
here; the rules live in modules named for what they hold:

- ``conversations`` conversations follow bindings; inbox, messages, read markers, hiding
- ``sending``       who may write when, and the transaction that numbers a message;
  ``post_card(conversation_id, card_type, data)`` for other domains
- ``cards``         other domains' news (booking) as cards
- ``group_send``    群发 to groups or all of a doctor's patients, fanned out through the queue
- ``consultations`` paid consultations, packages and away mode
- ``attachments``   presigned uploads and download links
- ``views``         stored message items and response shapes

Importing this module registers every messaging consumer.
"""

from __future__ import annotations

from . import cards  # noqa: F401  (registers the booking card consumers)
from .attachments import attachment_link, attachments_in_conversation, create_attachment
from .consultations import (
    _consultation,
    buy_consultation,
    consultation_out,
    consultation_state,
    get_consultation,
    get_package,
    package_out,
    set_away,
    set_package,
)
from .conversations import conversation_detail, get_conversation, hide_message, list_conversations, list_messages, mark_read
from .group_send import get_send as get_group_send
from .group_send import my_sends as my_group_sends
from .group_send import preview_recipients
from .group_send import start as start_group_send
from .sending import post_card, send
from .views import conversation_out, message_out

__all__ = [
    "_consultation", "attachment_link", "attachments_in_conversation", "buy_consultation", "consultation_out",
    "consultation_state",
    "conversation_detail", "conversation_out", "create_attachment", "get_consultation", "get_conversation",
    "get_group_send", "get_package", "hide_message",
    "list_conversations", "list_messages", "mark_read", "message_out", "my_group_sends", "package_out", "post_card",
    "preview_recipients", "send", "set_away", "set_package", "start_group_send",
]
