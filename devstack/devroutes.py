"""The local stack's own routes, served only by it:

* ``/dev/clock``: the test clock for the apps' QA builds;
* ``POST /dev/seed/bound-patients``: many bound patients for the signed-in doctor at once
  (``devstack/seeding.py``, batch writes), to try a group send to thousands through the stack;
* ``GET /dev/calls``: the stack's DynamoDB calls by part (``devstack/calls.py``), to check a
  call budget through the stack.

This module is not part of the Lambda package (``chalice package`` ships ``app.py`` and
``chalicelib/`` only), and only the local stack's API runner (``devstack/api.py``) registers it,
after checking that it runs the local stage outside Lambda. A deployed stage therefore has no
such route whatever its configuration: API Gateway answers 404 (the template's gateway response).

The clock routes forward to the devstack process, which owns the clock and the delivery of
events; the seeding route writes from the API process itself.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

from chalice import Blueprint, Response

from chalicelib.core.errors import ApiError, BadRequest, Forbidden
from chalicelib.core.http import _caller_from, token_authorizer

from .clock import CONTROL_URL_ENV

LOCAL_STAGE = "dev"
bp = Blueprint(__name__)


def may_register(stage: str, environ: dict[str, str] | None = None) -> bool:
    """Only the local stage, only outside Lambda (AWS sets these variables in every function and
    reserves them: configuration cannot remove them), only with a running devstack to talk to."""
    env = os.environ if environ is None else environ
    in_lambda = any(env.get(k) for k in ("AWS_LAMBDA_FUNCTION_NAME", "LAMBDA_TASK_ROOT"))
    return stage == LOCAL_STAGE and not in_lambda and bool(env.get(CONTROL_URL_ENV))


def register(app, stage: str) -> bool:
    if not may_register(stage):
        return False
    app.register_blueprint(bp)
    return True


def _forward(method: str, body: str | bytes | None) -> Response:
    if isinstance(body, str):
        body = body.encode()
    req = urllib.request.Request(os.environ[CONTROL_URL_ENV], data=body, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            return Response(body=json.loads(r.read()), status_code=200, headers={"Content-Type": "application/json"})
    except urllib.error.HTTPError as e:
        message = json.loads(e.read() or b"{}").get("message") or "the clock refused"
        raise BadRequest(message, code="clock_refused") from None
    except OSError:
        err = ApiError("the local stack's clock does not answer", code="clock_unavailable")
        err.status = 503
        raise err from None


@bp.route("/dev/clock", methods=["GET"])
def show_clock():
    """The local stack's current time."""
    return _forward("GET", None)


@bp.route("/dev/clock", methods=["POST"])
def move_clock():
    """``{"advance": "PT49H"}`` / ``{"advance": "2d3h"}``, ``{"to": "<RFC 3339>"}`` or
    ``{"reset": true}``; answers once every timer that became due has fired and its events are
    delivered."""
    return _forward("POST", bp.current_request.raw_body or b"{}")


@bp.route("/dev/seed/bound-patients", methods=["POST"], authorizer=token_authorizer)
def seed_bound_patients():
    """``{"count": 1000, "status": "active"}`` (status optional: active, blocked or ended):
    ``count`` bindings of the signed-in doctor with their conversations, written in batches.
    Answers 201 ``{"seeded": n, "binding_ids": [...]}``."""
    from . import seeding

    caller = _caller_from(bp.current_request)  # 401 without a valid token
    if caller.role != "doctor":
        raise Forbidden("this action needs the role: doctor", code="wrong_role")
    body = _json_object(bp.current_request.raw_body)
    count, status = body.get("count"), body.get("status", "active")
    if set(body) - {"count", "status"}:
        raise BadRequest("only count and status are accepted", code="validation_error")
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= seeding.MAX_SEEDED:
        raise BadRequest(f"count must be a whole number from 1 to {seeding.MAX_SEEDED}", code="validation_error")
    if status not in seeding.STATUSES:
        raise BadRequest(f"status must be one of {', '.join(seeding.STATUSES)}", code="validation_error")
    ids = seeding.bound_patients(caller.account_id, count, status=status)
    return Response(body={"seeded": len(ids), "binding_ids": ids}, status_code=201,
                    headers={"Content-Type": "application/json"})


@bp.route("/dev/calls", methods=["GET"], authorizer=token_authorizer)
def dynamodb_calls():
    """The stack's DynamoDB calls so far, ``{"dynamodb": {part: {operation: n}}, "invocations":
    {unit: {"count", "max_s", "max_records"}}}``: the parts are ``api`` (this process) and the
    devstack process's (each unit's consumers by unit name, ``relay``, the scheduler)."""
    from . import calls

    _caller_from(bp.current_request)  # any signed-in caller
    req = urllib.request.Request(os.environ[CONTROL_URL_ENV] + "/calls", method="GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            stack = json.loads(r.read())
    except OSError:
        err = ApiError("the local stack does not answer", code="clock_unavailable")
        err.status = 503
        raise err from None
    stack["dynamodb"].update(calls.snapshot()["dynamodb"])  # the API process's own calls, as "api"
    return Response(body=stack, status_code=200, headers={"Content-Type": "application/json"})


def _json_object(raw: str | bytes | None) -> dict:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise BadRequest("request body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object", code="invalid_json")
    return body
