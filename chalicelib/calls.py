"""Synchronous calls into another unit's function, one layer above the shared core.

Most work crosses domains as events. A few writes need their answer at once: messaging asks
payments for an order and hands it to the patient in the same response. Such a call goes to the
callee's *call function* (``Call<Unit>`` in the template), so the caller's role holds
``lambda:InvokeFunction`` on that one function and no grant on the callee's tables::

    payments = calls.client("payments")
    order = payments.create_order(payer_account_id=..., ...)   # the callee's JSON answer

The callee lists what it answers in ``chalicelib/<domain>/calls.py`` (its ``__all__``): plain
functions taking keyword arguments and returning JSON. Request and answer are JSON both ways,
deployed or not:

* deployed (``SUIZHEN_CALL_FUNCTIONS``, set by the template for units that call): Lambda
  ``Invoke`` (RequestResponse) on the callee's function;
* tests and ``chalice local`` (one process serves every domain): ``answer`` runs in-process
  after the same JSON round trip, so a non-JSON argument or answer fails here as it would there.

An API error raised by the callee (404, 409, 422 …) crosses as ``{"error": …}`` and is raised
again in the caller with its class and code, so callers handle it as before. Anything else
(a bug, a timeout) is ``CallFailed``: the caller's request fails, a consumer's event is retried.
A retried Invoke may run the callee twice; every exposed write is idempotent or harmless twice
(refunds by request key; a second unpaid order just expires).
"""

from __future__ import annotations

import importlib
import json
from functools import cache
from typing import Any

from chalicelib import topology
from chalicelib.core import errors
from chalicelib.core.config import get_settings
from chalicelib.core.observability import logger
from chalicelib.domains import DOMAINS


class CallFailed(RuntimeError):
    """The callee failed without an API error."""


class Client:
    """``client.op(**kwargs)`` calls ``op`` of the domain's ``calls`` module."""

    def __init__(self, domain: str):
        if domain not in DOMAINS:
            raise ValueError(f"{domain} is not a domain")
        self.domain = domain

    def __getattr__(self, op: str):
        if op.startswith("_"):
            raise AttributeError(op)
        return lambda **kwargs: call(self.domain, op, kwargs)


def client(domain: str) -> Client:
    return Client(domain)


def call(domain: str, op: str, args: dict[str, Any]) -> Any:
    request = json.dumps({"domain": domain, "op": op, "args": args})
    function = get_settings().call_functions.get(topology.unit_of(domain))
    reply = _invoke(function, request) if function else json.loads(json.dumps(answer(json.loads(request))))
    if "error" in reply:
        raise _api_error(reply["error"])
    return reply["result"]


def answer(event: dict, context: Any = None, unit: str | None = None) -> dict:
    """The callee's side (the call function's handler): ``{"result": …}`` or ``{"error": …}``.
    A deployed function (``unit``, else ``SUIZHEN_UNIT``) answers only for its own domains."""
    domain, op = str(event.get("domain")), str(event.get("op"))
    unit = unit or get_settings().unit
    if domain not in callee_domains() or (unit and topology.unit_of(domain) != unit):
        return _error(errors.NotFound(f"this function answers no calls for {domain!r}", code="no_such_call"))
    module = importlib.import_module(f"chalicelib.{domain}.calls")
    if op not in getattr(module, "__all__", ()):
        return _error(errors.NotFound(f"{domain} answers no call {op!r}", code="no_such_call"))
    try:
        return {"result": getattr(module, op)(**event.get("args", {}))}
    except errors.ApiError as exc:
        return _error(exc)


@cache
def callee_domains() -> frozenset[str]:
    """Domains that answer calls (those with a ``chalicelib/<domain>/calls.py``)."""
    from importlib.util import find_spec

    return frozenset(d for d in DOMAINS if find_spec(f"chalicelib.{d}.calls"))


def callee_units() -> list[str]:
    return sorted({topology.unit_of(d) for d in callee_domains()})


def _error(exc: errors.ApiError) -> dict:
    return {"error": {"type": type(exc).__name__, "status": exc.status, "code": exc.code, "message": exc.message}}


def _api_error(e: dict) -> errors.ApiError:
    cls = getattr(errors, str(e.get("type")), None)
    if not (isinstance(cls, type) and issubclass(cls, errors.ApiError)):
        cls = errors.ApiError
    return cls(e.get("message", ""), code=e.get("code"))


def _invoke(function: str, request: str) -> dict:
    from chalicelib.core.aws import client as aws_client

    r = aws_client("lambda").invoke(FunctionName=function, InvocationType="RequestResponse", Payload=request.encode())
    body = r["Payload"].read()
    if r.get("FunctionError"):
        logger.error("call failed in the callee", extra={"function": function, "error": r["FunctionError"]})
        raise CallFailed(f"{function} failed: {r['FunctionError']}")
    return json.loads(body)
