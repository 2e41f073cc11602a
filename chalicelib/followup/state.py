"""Follow-up state another domain may read without loading follow-up's service (and, with it,
every domain follow-up itself reads): notifications' stale check before a reminder is pushed."""

from __future__ import annotations

from .models import Task


def task_is_open(plan_id: str, task_id: str) -> bool:
    """Whether the task still waits for the patient (1 GetItem): completed, missed or cancelled
    (its plan paused or stopped) since the reminder was raised means the reminder is stale."""
    try:
        return Task.get(plan_id, task_id, consistent_read=True).status == "open"
    except Task.DoesNotExist:
        return False
