"""Second opinion (二次诊疗): the service, split by what each part holds.

* ``intake`` — cases, records (presigned uploads), resubmission, withdrawal
* ``matching`` — experts, operator triage, the turnaround clock, assignment, accept/decline, re-matching
* ``report`` — the case thread, the structured report, print page, share link, follow-ups, outcome
* ``money`` — payment reactions, refunds (one per case), the expert's share, operator counters

Importing this module registers every consumer (``domains.load_all``).
"""

from . import intake, matching, money, report  # noqa: F401

__all__ = ["intake", "matching", "money", "report"]
