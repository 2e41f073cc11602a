"""Test helpers: a JSON client over ``chalice.test.Client``, logins through the real SMS flow,
DynamoDB call counting, and outbox draining."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

import botocore.client
import pytest


@dataclass
class Resp:
    status: int
    body: Any
    headers: dict

    @property
    def error_code(self) -> str | None:
        return (self.body or {}).get("error", {}).get("code") if isinstance(self.body, dict) else None


@dataclass
class User:
    account_id: str
    token: str
    refresh_token: str
    phone: str
    role: str
    profiles: list = field(default_factory=list)


class ApiClient:
    def __init__(self, client):
        self.client = client
        self._ip = 0

    def call(self, method: str, path: str, json_body: Any = None, token: str | None = None,
             headers: dict | None = None, raw: bytes | str | None = None) -> Resp:
        h = {"Content-Type": "application/json"}
        if token:
            h["Authorization"] = f"Bearer {token}"
        h.update(headers or {})
        body = raw if raw is not None else (json.dumps(json_body) if json_body is not None else None)
        r = self.client.http.request(method, path, headers=h, body=body or b"")
        try:
            parsed = json.loads(r.body) if r.body else None
        except ValueError:
            parsed = r.body
        return Resp(r.status_code, parsed, dict(r.headers))

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, json_body=None, **kw):
        return self.call("POST", path, json_body, **kw)

    def patch(self, path, json_body=None, **kw):
        return self.call("PATCH", path, json_body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    # -- flows ---------------------------------------------------------------------------------
    def last_sms_code(self, phone: str) -> str:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.sns.models import sns_backends

        sent = sns_backends[DEFAULT_ACCOUNT_ID]["cn-north-1"].sms_messages
        for number, message in reversed(list(sent.values())):
            if number == f"+86{phone}":
                return re.search(r"\d{6}", message).group(0)
        raise AssertionError("no SMS was sent to that phone")

    def login(self, phone: str) -> User:
        r = self.post("/v1/auth/sms-code", {"phone": phone})
        assert r.status == 202, r.body
        r = self.post("/v1/auth/token", {"phone": phone, "code": self.last_sms_code(phone)})
        assert r.status == 200, r.body
        return User(r.body["account"]["account_id"], r.body["access_token"], r.body["refresh_token"], phone,
                    r.body["account"]["role"])

    def relogin(self, user: User) -> User:
        r = self.post("/v1/auth/refresh", {"refresh_token": user.refresh_token})
        assert r.status == 200, r.body
        return User(user.account_id, r.body["access_token"], r.body["refresh_token"], user.phone,
                    r.body["account"]["role"], user.profiles)


@contextmanager
def count_ddb_calls():
    """Counts DynamoDB API calls (PynamoDB and boto3 alike) made inside the block."""
    calls: list[str] = []
    real = botocore.client.BaseClient._make_api_call

    def counting(self, operation_name, api_params):
        if self.meta.service_model.service_name == "dynamodb" and not _REDELIVERY.active:
            calls.append(operation_name)
        return real(self, operation_name, api_params)

    with patch.object(botocore.client.BaseClient, "_make_api_call", counting):
        yield calls


class OutboxDrain:
    """Plays DynamoDB Streams → relay → queues → consumers in tests: new records of the outbox
    and timers tables' streams (moto) take the deployed route in-process
    (``events.deliver_records``: the relay's stream filters, the subscription table, each
    unit's consumers)."""

    def __init__(self):
        from chalicelib.core.outbox import OutboxEvent
        from chalicelib.core.streams import StreamReader
        from chalicelib.core.timers import Timer

        self.readers = [StreamReader(OutboxEvent.Meta.table_name), StreamReader(Timer.Meta.table_name)]

    def skip_existing(self):
        for reader in self.readers:
            reader.skip_existing()

    def __call__(self, max_rounds: int = 20, units: set[str] | None = None) -> list[str]:
        """Deliver until the outbox is quiet (consumers may emit further events); returns the
        delivered messages' types (a batch of fired timers counts once per timer). ``units``
        limits delivery to those units' queues (to measure one domain's consumers alone); the
        other units' messages are dropped, as if their queues were not polled.

        With ``SUIZHEN_DRAIN_TWICE=1`` every message is delivered, then each of its consumers runs
        a second time on it, past the completion markers (what a redelivery racing the marker
        does), and every table must be unchanged by the second run: a consumer that is not
        idempotent fails the test that drained. ``IDEMPOTENCY_CHECKED`` collects the types."""
        from chalicelib.events import deliver_records

        seen = []
        for _ in range(max_rounds):
            recs = [r for reader in self.readers for r in reader.read()]
            if not recs:
                return seen
            if os.environ.get("SUIZHEN_DRAIN_TWICE") == "1":
                seen.extend(_deliver_twice(recs, units))
            else:
                seen.extend(deliver_records(recs, units))
        raise AssertionError("outbox did not settle")


IDEMPOTENCY_CHECKED: set[str] = set()
# Set while a consumer runs the second time: the call counters leave that run out, since the
# budgets they check are for one delivery.
_REDELIVERY = SimpleNamespace(active=False)


def redelivering() -> bool:
    """True while the drain runs a consumer the second time (a test counting runs leaves it out)."""
    return _REDELIVERY.active


_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def _tables_written(operation: str, params: dict) -> set[str]:
    if operation == "BatchWriteItem":
        return set(params["RequestItems"])
    if operation == "TransactWriteItems":
        return {next(iter(entry.values()))["TableName"] for entry in params["TransactItems"]}
    return {params["TableName"]}


def moto_tables() -> dict:
    """moto's own tables (in-process), read for what the API would only tell at a call's cost."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[DEFAULT_ACCOUNT_ID][os.environ["AWS_DEFAULT_REGION"]].tables


def _items(table_name: str) -> list[str]:
    """A table's items, read from moto in-process (no call to count, nothing to page)."""
    return sorted(json.dumps(i.to_json()["Attributes"], sort_keys=True, default=str)
                  for i in moto_tables()[table_name].all_items())


@contextmanager
def _changes_watched():
    """Yields the tables a block changed: each table is copied just before the block's first write
    to it and compared after, so a consumer that writes nothing on its second run costs nothing
    to check (copying every table its unit may write, per run, made a stateful test 14x slower).
    The completion markers' table is left out: a second run past the marker may touch it."""
    from chalicelib.core.outbox import ConsumedEvent

    before: dict[str, list[str]] = {}
    changed: list[str] = []
    real = botocore.client.BaseClient._make_api_call

    def watching(self, operation_name, api_params):
        if self.meta.service_model.service_name == "dynamodb" and operation_name in _WRITES:
            for name in _tables_written(operation_name, api_params) - before.keys():
                before[name] = _items(name)
        return real(self, operation_name, api_params)

    with patch.object(botocore.client.BaseClient, "_make_api_call", watching):
        yield changed
    changed.extend(n for n, items in before.items() if n != ConsumedEvent.Meta.table_name and _items(n) != items)


def record_idempotency_checked() -> None:
    """Writes the event types this process delivered twice to ``$SUIZHEN_IDEMPOTENCY_LOG``, where
    ``scripts/run_tests.py`` checks that every subscribed type was among them."""
    folder = os.environ.get("SUIZHEN_IDEMPOTENCY_LOG")
    if folder and IDEMPOTENCY_CHECKED:
        from chalicelib.events import subscriptions

        with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".json", delete=False) as f:
            json.dump({"checked": sorted(IDEMPOTENCY_CHECKED), "subscribed": sorted(subscriptions(deployed=True))}, f)


def _deliver_twice(records: list[dict], units: set[str] | None = None) -> list[str]:
    from chalicelib import events, topology
    from chalicelib.core import outbox

    events.load_all()
    deployed = set(topology.units())
    seen = []
    for record in records:
        for message in events.messages_of(record):
            seen.append(message["type"])
            subscribed = [u for u in events.subscribers(message["type"]) if units is None or u in units]
            for unit in subscribed:
                events.deliver_to_unit(unit, message)
            if not subscribed:
                continue
            for name, fn in outbox.consumers_for(message["type"]):
                unit = events.unit_of_consumer(name)
                if unit not in subscribed or unit not in deployed:
                    continue  # a test's own consumer counts its runs
                _REDELIVERY.active = True
                try:
                    with _changes_watched() as changed:
                        fn(message["event_id"], message["payload"])
                finally:
                    _REDELIVERY.active = False
                assert not changed, f"{name} on {message['type']}: a second delivery changed {changed}"
            if any(u in deployed for u in subscribed):
                IDEMPOTENCY_CHECKED.add(message["type"])
    return seen


@contextmanager
def count_items_read():
    """Items DynamoDB read for the Queries and Scans made inside the block (``ScannedCount``: what
    a filter drops is still read and paid for). ``reads["items"]`` after the block."""
    reads = {"items": 0, "queries": 0}
    real = botocore.client.BaseClient._make_api_call

    def counting(self, operation_name, api_params):
        out = real(self, operation_name, api_params)
        if self.meta.service_model.service_name == "dynamodb" and operation_name in ("Query", "Scan") \
                and not _REDELIVERY.active:
            reads["items"] += out.get("ScannedCount", 0)
            reads["queries"] += 1
        return out

    with patch.object(botocore.client.BaseClient, "_make_api_call", counting):
        yield reads


def dump_dom(page: bytes, path: str = "/") -> subprocess.CompletedProcess:
    """Serve ``page`` over HTTP on a free port and render it in headless Chromium; the DOM it
    built is the result's stdout (``make test`` installs Chromium: scripts/ensure-chromium.sh)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    browser = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    if browser is None:
        pytest.fail("Chromium is not installed: `make test` installs it (scripts/ensure-chromium.sh)")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with tempfile.TemporaryDirectory() as profile:
            return subprocess.run(
                [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                 f"--user-data-dir={profile}", "--dump-dom", f"http://127.0.0.1:{server.server_port}{path}"],
                capture_output=True, text=True, timeout=60)
    finally:
        server.shutdown()
