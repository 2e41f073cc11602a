"""``python -m devstack.api``: ``chalice local`` as the local stack runs it.

The same Chalice local server (project config, stage environment, the app's own authorizer),
with three things API Gateway has on AWS and ``chalice local`` lacks:

* **Gateway responses.** API Gateway's own refusals — no ``Authorization`` header, a denied
  authorizer, an unknown route — answer in our error envelope on AWS (the ``GatewayResponse``
  resources in ``infra/``); ``chalice local`` answers ``{"message": "Unauthorized"}``. Here they
  answer exactly as the template declares (:data:`GATEWAY_RESPONSES`, checked against the
  template by a test).
* **The shared test clock** (``devstack/clock.py``) installed before any request.
* **``/dev/clock``**, ``/dev/seed/bound-patients`` and ``/dev/calls``, registered only here
  (``devstack/devroutes.py``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from http.server import BaseHTTPRequestHandler

from chalice.local import (
    ChaliceRequestHandler,
    ForbiddenError,
    InvalidAuthorizerError,
    LocalDevServer,
    LocalGateway,
    LocalGatewayException,
    NotAuthorizedError,
    ThreadedHTTPServer,
)


class _Server(ThreadedHTTPServer):
    # chalice local listens with a backlog of 5: a sixth simultaneous connection is reset, where
    # API Gateway takes a burst (a patient's app sending 9 photos at once) without refusing any
    request_queue_size = 128


# API Gateway response type -> (status, code), as infra/build.py declares them.
GATEWAY_RESPONSES = {
    "UNAUTHORIZED": (401, "unauthorized"),
    "ACCESS_DENIED": (403, "forbidden"),
    "MISSING_AUTHENTICATION_TOKEN": (404, "not_found"),
}
_MESSAGES = {"UNAUTHORIZED": "Unauthorized", "ACCESS_DENIED": "User is not authorized to access this resource",
             "MISSING_AUTHENTICATION_TOKEN": "Missing Authentication Token"}


def response_type(exc: LocalGatewayException) -> str | None:
    """Which API Gateway response a ``chalice local`` refusal stands for."""
    if isinstance(exc, NotAuthorizedError):
        return "UNAUTHORIZED"
    if isinstance(exc, ForbiddenError):
        # chalice local raises ForbiddenError both for an unknown route and for a denied policy
        body = exc.body if isinstance(exc.body, bytes) else str(exc.body).encode()
        if b"Missing Authentication Token" in body or b"Authorization header requires" in body:
            return "MISSING_AUTHENTICATION_TOKEN"
        return "ACCESS_DENIED"
    return None


def gateway_response(exc: LocalGatewayException, request_id: str) -> dict:
    kind = response_type(exc)
    if kind is None:  # InvalidAuthorizerError: a broken authorizer is a 500 on AWS too
        status, code, message = 500, "internal_error", "an internal error occurred"
    else:
        (status, code), message = GATEWAY_RESPONSES[kind], _MESSAGES[kind]
    body = {"error": {"code": code, "message": message, "request_id": request_id}}
    return {"statusCode": status, "headers": {"Content-Type": "application/json", "X-Request-Id": request_id},
            "multiValueHeaders": {}, "body": json.dumps(body)}


class Gateway(LocalGateway):
    def handle_request(self, method, path, headers, body):
        try:
            return super().handle_request(method, path, headers, body)
        except (NotAuthorizedError, ForbiddenError, InvalidAuthorizerError) as exc:
            from chalicelib.core.ids import new_id

            return gateway_response(exc, new_id())


class Handler(ChaliceRequestHandler):
    def __init__(self, request, client_address, server, app_object, config):
        self.local_gateway = Gateway(app_object, config)
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m devstack.api", description=__doc__)
    p.add_argument("--stage", default="dev")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    a = p.parse_args(argv)

    from chalice.cli import run_local_server
    from chalice.cli.factory import CLIFactory
    from chalice.local import CustomLocalChalice, LocalChalice

    from devstack import calls as devcalls
    from devstack import clock as devclock
    from devstack import devroutes

    project_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    class Factory(CLIFactory):
        def create_local_server(self, app_obj, config, host, port):
            # what chalice.local.create_local_server does, with our request handler
            CustomLocalChalice.__bases__ = (LocalChalice, app_obj.__class__)
            app_obj.__class__ = CustomLocalChalice
            devclock.install_from_env()
            if devroutes.register(app_obj, a.stage):
                devcalls.install("api")  # GET /dev/calls: this process's DynamoDB calls
            return LocalDevServer(app_obj, config, host, port, handler_cls=Handler, server_cls=_Server)

    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    os.chdir(project_dir)
    run_local_server(Factory(project_dir, environ=os.environ), a.host, a.port, a.stage)
    return 0


if __name__ == "__main__":
    sys.exit(main())
