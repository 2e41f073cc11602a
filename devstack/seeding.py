"""Many bound patients at once, written directly in batches: for group-send tests, ``make bench``
and ``POST /dev/seed/bound-patients`` on the local stack.

Binding one patient through the API (``POST /v1/bindings``: a login, a profile, a live code, a
scan) takes ~10 requests; a group send to 1,000 or 10,000 patients needs them in seconds, so this
writes what those requests would leave behind — the binding, its conversation and the
conversation's first (system) message — with ``BatchWriteItem`` (25 items a call: 1,000 patients
are 120 calls). The patients have no account of their own (``acct-<binding id>``): nobody logs in
as them, and the notifications domain finds no device or grant to send to. The API path that
binds one patient is tested in ``tests/test_bindings.py`` and ``tests/test_group_send.py``.

Never part of the Lambda package (``devstack/`` is not shipped).
"""

from __future__ import annotations

from datetime import timedelta

STATUSES = ("active", "blocked", "ended")
MAX_SEEDED = 10_000  # a group send's own limit (messaging_group_max_recipients)


def bound_patients(doctor_id: str, n: int, *, status: str = "active") -> list[str]:
    """``n`` bindings of ``doctor_id`` in ``status`` with their conversations; returns the ids
    (a conversation's id is its binding's)."""
    from chalicelib.bindings.models import Binding
    from chalicelib.core import clock
    from chalicelib.core.ids import new_id
    from chalicelib.messaging.models import Conversation, Message
    from chalicelib.messaging.views import CHAT_RETENTION

    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    now = clock.now()
    ids = []
    with Binding.batch_write() as bw, Conversation.batch_write() as cw, Message.batch_write() as mw:
        for i in range(n):
            bid = new_id()
            ids.append(bid)
            bw.save(Binding(bid, doctor_id=doctor_id, patient_account_id=f"acct-{bid}", profile_id=f"prof-{bid}",
                            status=status, status_key=f"{status}#{bid}", code_kind="live", patient_name=f"患者{i}",
                            patient_name_lc=f"患者{i}", visit_date="2026-11-01", visit_type="outpatient",
                            hospital="北京协和医院", consent_version="2026-01", consent_at=now, requested_at=now,
                            activated_at=now, free_until=now + timedelta(days=7), free_messages=3))
            cw.save(Conversation(bid, doctor_id=doctor_id, patient_account_id=f"acct-{bid}", profile_id=f"prof-{bid}",
                                 patient_name=f"患者{i}", status="active" if status == "active" else "inactive",
                                 seq=1, activity_key=f"x#{bid}", last_at=now, free_until=now + timedelta(days=7),
                                 free_messages=3, free_used=0, created_at=now))
            mw.save(Message(bid, 1, message_id=new_id(), kind="card", sender_role="system", doctor_id=doctor_id,
                            patient_account_id=f"acct-{bid}", created_at=now, retain_until=now + CHAT_RETENTION))
    return ids
