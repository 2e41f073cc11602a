"""Every domain's routes, models and event consumers, imported in one place.

``app.py`` registers ``APIS``; ``core.db.all_models()`` imports this module to find every table.
"""

from chalicelib.accounts.routes import api as accounts_api
from chalicelib.core import audit, idempotency, outbox, ratelimit, timers  # noqa: F401  (shared tables)
from chalicelib.core.openapi import api as system_api
from chalicelib.doctors.routes import api as doctors_api

APIS = [system_api, accounts_api, doctors_api]
