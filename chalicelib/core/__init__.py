"""Shared plumbing used by every domain: config, errors, ids, clock, data access helpers,
HTTP helpers, pagination, outbox, timers, audit, idempotency, rate limits, observability.

Nothing here knows about a particular domain; domains import from here, never the reverse.
"""
