"""Messaging (随诊): the domain's one public face. Routes, other domains and tests import from
here; the rules live in modules named for what they hold:

- ``conversations`` conversations follow bindings; inbox, messages, read markers, hiding
- ``sending``       who may write when, and the transaction that numbers a message;
  ``post_card(conversation_id, card_type, data)`` for other domains
- ``cards``         other domains' news (booking) as cards
- ``group_send``    群发 to a doctor's patients
- ``consultations`` paid consultations, packages and away mode
- ``attachments``   presigned uploads and download links
- ``views``         stored message items and response shapes

Importing this module registers every messaging consumer.
"""

from __future__ import annotations

from . import cards  # noqa: F401  (registers the booking card consumers)
from .attachments import attachment_link, create_attachment
from .consultations import (
    _consultation,
    buy_consultation,
    consultation_out,
    get_consultation,
    get_package,
    package_out,
    set_away,
    set_package,
)
from .conversations import get_conversation, hide_message, list_conversations, list_messages, mark_read
from .group_send import group_send
from .sending import post_card, send
from .views import conversation_out, message_out

__all__ = [
    "_consultation", "attachment_link", "buy_consultation", "consultation_out", "conversation_out",
    "create_attachment", "get_consultation", "get_conversation", "get_package", "group_send", "hide_message",
    "list_conversations",
    "list_messages", "mark_read", "message_out", "package_out", "post_card", "send", "set_away", "set_package",
]
