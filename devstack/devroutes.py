"""``/dev/clock``: the test clock for the apps' QA builds, served only by the local stack.

This module is not part of the Lambda package (``chalice package`` ships ``app.py`` and
``chalicelib/`` only), and only the local stack's API runner (``devstack/api.py``) registers it,
after checking that it runs the local stage outside Lambda. A deployed stage therefore has no
such route whatever its configuration: API Gateway answers 404 (the template's gateway response).

The route forwards to the devstack process, which owns the clock and the delivery of events.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

from chalice import Blueprint, Response

from chalicelib.core.errors import ApiError, BadRequest

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


def _forward(method: str, body: bytes | None) -> Response:
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
