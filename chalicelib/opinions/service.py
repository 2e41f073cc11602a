"""Second opinion (二次诊疗): the service, split by what each part holds.

* ``intake`` — cases, records (presigned uploads), resubmission, withdrawal
* ``matching`` — experts, operator triage, the turnaround clock, assignment, accept/decline, re-matching
* ``report`` — the case thread, the structured report, print page, share link, follow-ups, outcome
* ``money`` — payment reactions, refunds (one per case), the expert's share, operator counters

Importing this module registers every consumer (``domains.load_all``).
"""

from . import intake, matching, money, report  # noqa: F401

__all__ = ["intake", "matching", "money", "report"]


def public_offer(doctor_id: str):
    """A doctor's second-opinion offer as patients see it (listed experts only), else None:
    1 GetItem. For the doctor's public page (brand)."""
    from .common import expert_out, get_expert

    e = get_expert(doctor_id)
    return expert_out(e) if e is not None and e.listed else None
