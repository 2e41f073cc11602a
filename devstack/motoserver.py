"""The local stack's AWS endpoint: moto's server, with DynamoDB requests taken one at a time.

moto does not keep DynamoDB's promises under concurrent requests: ``TransactWriteItems``
checks conditions and writes item by item without a lock, and a cancelled transaction restores a
copy of the whole table taken when it began — wiping writes that other requests made meanwhile
and answered 200 — while concurrent requests can fail with 500 (``dictionary changed size during
iteration``). DynamoDB itself makes each request atomic and isolated, so the endpoint lets one
DynamoDB (or DynamoDB Streams) request into moto at a time. moto answers each in milliseconds
and holds no DynamoDB request open, so nothing waits long; other services (SQS long polls, S3,
SSM) stay concurrent.
"""

from __future__ import annotations

import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

SERIALISED_TARGETS = ("DynamoDB_", "DynamoDBStreams_")


class Serialised:
    """WSGI middleware: requests whose ``X-Amz-Target`` names DynamoDB run one at a time, from
    reading the body to the last byte of the answer."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith(SERIALISED_TARGETS):
            return self.app(environ, start_response)
        with self.lock:
            result = self.app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close:
                    close()


class MotoServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        app = Serialised(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="moto")

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> MotoServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
