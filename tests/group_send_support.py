"""Many bound patients at once for group-send tests and the bench, written directly (the API
path that binds one patient is tested in test_bindings / test_group_send)."""

from datetime import timedelta

from chalicelib.bindings.models import Binding
from chalicelib.core import clock as core_clock
from chalicelib.core.ids import new_id
from chalicelib.messaging.models import Conversation, Message


def seed_patients(doctor_id: str, n: int, *, status: str = "active") -> list[str]:
    """``n`` bindings with their conversations, written directly (the API path is tested above)."""
    now = core_clock.now()
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
            conv = Conversation(bid, doctor_id=doctor_id, patient_account_id=f"acct-{bid}", profile_id=f"prof-{bid}",
                                patient_name=f"患者{i}", status="active" if status == "active" else "inactive", seq=1,
                                activity_key=f"x#{bid}", last_at=now, free_until=now + timedelta(days=7),
                                free_messages=3, free_used=0, created_at=now)
            cw.save(conv)
            mw.save(Message(bid, 1, message_id=new_id(), kind="card", sender_role="system", doctor_id=doctor_id,
                            patient_account_id=f"acct-{bid}", created_at=now, retain_until=now + timedelta(days=1)))
    return ids
