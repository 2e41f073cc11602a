"""Many bound patients at once for group-send tests and the bench, written directly in batches
(``devstack/seeding.py``, which the local stack's ``POST /dev/seed/bound-patients`` runs too; the
API path that binds one patient is tested in test_bindings / test_group_send)."""

from devstack.seeding import bound_patients


def seed_patients(doctor_id: str, n: int, *, status: str = "active") -> list[str]:
    """``n`` bindings with their conversations, written directly (the API path is tested above)."""
    return bound_patients(doctor_id, n, status=status)
