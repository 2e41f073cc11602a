"""Lambda's ``Invoke`` API for the units' call functions (``chalicelib/calls.py``), so the local
stack makes synchronous calls as deployed functions do: botocore signs and sends
``POST /2015-03-31/functions/<name>/invocations`` (``AWS_ENDPOINT_URL_LAMBDA`` points here), and
the callee runs in this process, not the caller's. As Lambda does, a function that raises answers
200 with ``X-Amz-Function-Error: Unhandled`` and ``{"errorMessage", "errorType"}``; an unknown
function is a 404 ``ResourceNotFoundException``.

moto's own Lambda runs functions in Docker, which the local stack does not need for this.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

from . import calls as counted
from .jsonhttp import send_json

INVOKE = re.compile(r"/2015-03-31/functions/([^/]+)/invocations")


def function_name(stage: str, unit: str) -> str:
    return f"suizhen-{stage}-call-{unit}"


class Handler(BaseHTTPRequestHandler):
    functions: dict[str, str] = {}  # function name → unit
    invocations: list[tuple[str, str]] = []  # (function, op), what tests look at

    def log_message(self, *args) -> None:  # the stack's console stays quiet
        pass

    def do_POST(self) -> None:
        from chalicelib import calls

        m = INVOKE.fullmatch(urlparse(self.path).path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        name = unquote(m.group(1)) if m else ""
        unit = self.functions.get(name.rsplit(":", 1)[-1])
        if unit is None:
            send_json(self, 404, {"Type": "User", "Message": f"Function not found: {name}"},
                      {"x-amzn-ErrorType": "ResourceNotFoundException"})
            return
        try:
            event = json.loads(raw or b"{}")
            self.invocations.append((name, str(event.get("op"))))
            with counted.part(f"call-{unit}"):  # /dev/calls: its DynamoDB calls, not the caller's
                result = calls.answer(event, unit=unit)
        except Exception as exc:  # what Lambda reports for an unhandled error
            send_json(self, 200, {"errorMessage": str(exc), "errorType": type(exc).__name__},
                      {"X-Amz-Function-Error": "Unhandled"})
            return
        send_json(self, 200, result)


def start(functions: dict[str, str], host: str = "127.0.0.1",
          port: int = 0) -> tuple[ThreadingHTTPServer, str, type[Handler]]:
    """Serve ``functions`` (name → unit) on a thread; returns the server, its URL and the
    handler class (its ``invocations`` list)."""
    handler = type("LambdaHandler", (Handler,), {"functions": dict(functions), "invocations": []})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="lambda-calls").start()
    return server, f"http://{host}:{server.server_address[1]}", handler
