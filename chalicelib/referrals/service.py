"""Surgery referral (名医主刀): the service, split by what each part holds.

* ``partners`` — partner hospitals (operators), expert surgeons (opt-in), candidates for a case
* ``intake`` — cases by patients or by local doctors (consent), documents, reads
* ``matching`` — operator queues, proposing a surgeon and a host, accept / decline, re-matching
* ``surgery`` — paperwork, confirmation, the pre-operative checklist, done, the post-operative plan
* ``money`` — the service fee's payment, cancellation and refunds

Importing this module registers every consumer (``domains.load_all``).
"""

from . import intake, matching, money, partners, surgery  # noqa: F401

__all__ = ["intake", "matching", "money", "partners", "public_surgery_areas", "surgery"]


def public_surgery_areas(doctor_id: str) -> list[str]:
    """What a visiting surgeon operates on, as the doctor's public page shows it (brand): the
    specialties of an available surgeon, else nothing. 1 GetItem."""
    from .models import Surgeon

    try:
        s = Surgeon.get(doctor_id)
    except Surgeon.DoesNotExist:
        return []
    return list(s.specialties or []) if s.available else []
