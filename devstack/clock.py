"""The local stack's test clock: one clock for every process of the stack, moved only forward.

The clock is real time plus an offset. The offset lives in a small file that the devstack
process creates and every process of the stack maps into memory (``chalice local``, the
devstack's own threads, the sandbox payment provider), so reading it costs a memory read — no
AWS call, no syscall per ``clock.now()``. Each process installs it with
``chalicelib.core.clock.set_clock``, so ``clock.now()`` stays the one read point of the code.

Only the devstack process moves it (:class:`ClockControl`): an advance steps through the
timers that become due on the way, in due-time order — the clock is set to each due time, the
sweep fires what is due and the stack delivers the resulting events before the next step — so
a 49-hour jump has the same effects, in the same order, as 49 hours of waiting.

Deployed stages never see any of this: ``devstack/`` is not part of the Lambda package, and the
``/dev/clock`` route is registered only by the local stack's API runner (``devstack/api.py``).

CLI (against a running ``make run``)::

    python -m devstack clock show
    python -m devstack clock advance 2d3h        # or PT49H, or 90m
    python -m devstack clock advance --to 2026-12-24T09:00:00+08:00
    python -m devstack clock reset               # start over: real time, fresh demo data
"""

from __future__ import annotations

import argparse
import fcntl
import json
import mmap
import os
import re
import struct
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .jsonhttp import send_json

CLOCK_FILE_ENV = "DEVSTACK_CLOCK_FILE"
CONTROL_URL_ENV = "DEVSTACK_CONTROL_URL"
# offset in microseconds and its bitwise complement: a reader that catches a write half done
# sees them disagree and reads again
_RECORD = struct.Struct("<qq")
MAX_STEPS = 5000  # timers fired one due time at a time during one advance; past this, the rest at once


class SharedClock:
    """Real time plus a forward-only offset, shared through a memory-mapped file."""

    def __init__(self, path: str, *, create: bool = False):
        if create:
            with open(path, "wb") as f:
                f.write(_RECORD.pack(0, ~0))
        self.path = path
        self._fd = os.open(path, os.O_RDWR)
        self._map = mmap.mmap(self._fd, _RECORD.size)

    def offset_us(self) -> int:
        while True:
            value, check = _RECORD.unpack_from(self._map, 0)
            if check == ~value:
                return value

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(microseconds=self.offset_us())

    def _write(self, offset_us: int) -> None:
        _RECORD.pack_into(self._map, 0, offset_us, ~offset_us)

    def move_to(self, target: datetime) -> datetime:
        """Set the clock to ``target``; a target in the past leaves it where it is."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            offset = int((target - datetime.now(UTC)) / timedelta(microseconds=1))
            if offset > self.offset_us():
                self._write(offset)
            return self.now()
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def back_to_real_time(self) -> None:
        """Only for a reset, which also empties the database (nothing is left from the future)."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            self._write(0)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


def install_from_env() -> SharedClock | None:
    """In a process of the local stack: make ``chalicelib.core.clock.now()`` read the shared clock."""
    path = os.environ.get(CLOCK_FILE_ENV)
    if not path:
        return None
    from chalicelib.core import clock as core_clock

    shared = SharedClock(path)
    core_clock.set_clock(shared.now)
    return shared


# --- durations ------------------------------------------------------------------------------------

_ISO = re.compile(r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$")
_SHORT = re.compile(r"^(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")


def parse_duration(text: str) -> timedelta:
    """``PT49H``, ``P2DT3H``, ``2d3h``, ``90m``, ``1w``: a positive duration, or ValueError."""
    text = (text or "").strip()
    m = _ISO.match(text.upper()) if text[:1].upper() == "P" else _SHORT.match(text.lower())
    if not m or not any(m.groupdict().values()):
        raise ValueError(f"not a duration: {text!r} (use e.g. PT49H or 2d3h)")
    g = {k: int(v or 0) for k, v in m.groupdict().items()}
    delta = timedelta(weeks=g["w"], days=g["d"], hours=g["h"], minutes=g["m"], seconds=g["s"])
    if delta <= timedelta(0):
        raise ValueError("the duration must be positive: time only moves forward")
    return delta


def parse_time(text: str) -> datetime:
    """An absolute RFC 3339 time with an offset."""
    try:
        dt = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an RFC 3339 time: {text!r}") from None
    if dt.tzinfo is None:
        raise ValueError("the time needs an offset, e.g. 2026-12-24T09:00:00+08:00")
    return dt.astimezone(UTC)


# --- moving the clock (devstack process) ---------------------------------------------------------

class ClockControl:
    """Moves the shared clock and makes the stack catch up with it.

    ``run_due`` is the one function that fires what is due and delivers the resulting events
    (the local stack sets its own: :func:`run_due` over :func:`deliver_now`); ``reset_state``
    empties the stack's state. Both are set once the stack's event path runs.
    """

    def __init__(self, shared: SharedClock, run_due: Callable[[], int] | None = None,
                 reset_state: Callable[[], None] | None = None):
        self.shared = shared
        self.run_due = run_due
        self.reset_state = reset_state
        self.lock = threading.Lock()

    def show(self) -> dict:
        now = self.shared.now()
        return {"now": _iso(now), "offset_seconds": round(self.shared.offset_us() / 1e6, 3)}

    def advance(self, delta: timedelta) -> dict:
        return self.advance_to(self.shared.now() + delta)

    def advance_to(self, target: datetime) -> dict:
        from chalicelib.core import clock

        if self.run_due is None:
            raise ValueError("the local stack is still starting")
        with self.lock:
            start = self.shared.now()
            if target <= start:
                raise ValueError(f"time only moves forward: the clock is already at {_iso(start)}")
            fired = steps = 0
            while steps < MAX_STEPS:
                due = next_due()
                if due is None or due > target:
                    break
                if due > clock.now():
                    self.shared.move_to(due)
                n = self.run_due()
                steps += 1
                fired += n
                if n == 0 and due <= clock.now() and next_due() == due:
                    break  # a timer that will not fire (its consumer is failing): leave it to the tick
            self.shared.move_to(target)
            fired += self.run_due()
            expired = expire_ttl()
            return {**self.show(), "from": _iso(start), "timers_fired": fired, "ttl_expired_items": expired}

    def reset(self) -> dict:
        if self.reset_state is None:
            raise ValueError("the local stack is still starting")
        with self.lock:
            self.reset_state()
            self.shared.back_to_real_time()
            return {**self.show(), "reset": True}


def deliver_now(topo) -> int:
    """Deliver every pending event now, the way the stack's event path does it continuously:
    the outbox relay publishes what the stream holds, then each unit's poller drains its queue.
    Holding ``queues.DELIVERY`` keeps the background relay and pollers out meanwhile, so nothing
    is left in flight when this returns. Returns how many records and messages it handled."""
    from devstack import queues

    with queues.DELIVERY:
        n = topo.relay.tick()
        for poller in topo.pollers:
            n += poller.drain()
    return n


def reset_stack(topo, sandbox, *, seed: bool = True) -> None:
    """Start over: empty every table and queue and the sandbox's memory, then seed again."""
    from chalicelib.core.aws import client
    from devstack import queues

    with queues.DELIVERY:
        empty_tables()
        for q in topo.queues.values():
            for url in (q.url, q.dlq_url):
                _empty_queue(client("sqs"), url)
        topo.relay.tick()  # reads past the deletions (REMOVE records; the relay takes INSERTs only)
        sandbox.clear()
    if seed:
        __import__("devstack.seed", fromlist=["seed"]).seed()


def _empty_queue(sqs, url: str) -> None:
    """Receive and delete until empty. Not PurgeQueue: SQS (and moto) allow one purge a minute
    per queue, so a second reset within a minute would fail half-way, tables emptied and no seed."""
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get("Messages", [])
        if not msgs:
            return
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                         for i, m in enumerate(msgs)])


def run_due(deliver: Callable[[], int], max_rounds: int = 50) -> int:
    """Fire every timer due now (the scheduler's sweep) and deliver what follows until the stack
    is quiet: ``deliver()`` hands pending events to their consumers and returns how many; the
    consumers' own events are delivered in the next round. Returns how many timers fired."""
    from chalicelib.core import timers

    fired = timers.sweep()
    for _ in range(max_rounds):
        if not deliver():
            break
    return fired


def empty_tables() -> None:
    """Delete every item of every table of the stack (a reset; Scan is fine on a local stack)."""
    from chalicelib.domains import all_models

    for model in all_models():
        keys = [a.attr_name for a in model.get_attributes().values() if a.is_hash_key or a.is_range_key]
        with model.batch_write() as batch:
            for item in model.scan(attributes_to_get=keys):
                batch.delete(item)


def expire_ttl() -> int:
    """What DynamoDB's TTL does, on the test clock (moto never deletes expired items): every item
    whose TTL attribute is before now is deleted. Returns how many."""
    from pynamodb.attributes import TTLAttribute

    from chalicelib.core import clock
    from chalicelib.domains import all_models

    now, deleted = clock.now(), 0
    for model in all_models():
        ttl = [a for a in model.get_attributes().values() if isinstance(a, TTLAttribute)]
        if not ttl:
            continue
        with model.batch_write() as batch:
            for item in model.scan(ttl[0] < now):
                batch.delete(item)
                deleted += 1
    return deleted


def next_due() -> datetime | None:
    """The earliest pending timer's due time: one Query per shard on the due index."""
    from chalicelib.core import timers
    from chalicelib.core.config import get_settings

    best = None
    for shard in range(get_settings().timer_shards):
        for t in timers.Timer.due_index.query(str(shard), limit=1):
            best = t.due if best is None or t.due < best else best
    return datetime.strptime(best, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) if best else None


def _iso(dt: datetime) -> str:
    from chalicelib.core import clock

    return clock.iso(dt)


def apply(control: ClockControl, body: dict) -> dict:
    """What ``POST /dev/clock`` accepts: ``{"advance": "PT49H"}``, ``{"to": "<RFC 3339>"}`` or
    ``{"reset": true}``. Raises ValueError with a message for the caller."""
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    given = [k for k in ("advance", "to", "reset") if body.get(k) not in (None, False)]
    if len(given) != 1:
        raise ValueError('send exactly one of {"advance": "PT49H"}, {"to": "2026-12-24T09:00:00+08:00"}, '
                         '{"reset": true}')
    if given[0] == "advance":
        return control.advance(parse_duration(str(body["advance"])))
    if given[0] == "to":
        return control.advance_to(parse_time(body["to"]))
    return control.reset()


def serve_control(control: ClockControl, stop: threading.Event) -> str:
    """A small HTTP endpoint on 127.0.0.1 for the API process's ``/dev/clock`` route; returns its URL."""

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, payload: dict) -> None:
            send_json(self, status, payload)

        def do_GET(self):
            if self.path == "/calls":  # the devstack process's DynamoDB calls (devstack/calls.py)
                from devstack import calls

                self._send(200, calls.snapshot())
                return
            self._send(200, control.show())

        def do_POST(self):
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                self._send(200, apply(control, body))
            except ValueError as exc:
                self._send(400, {"message": str(exc)})

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="clock-control").start()

    def stop_when_asked() -> None:
        stop.wait()
        server.shutdown()

    threading.Thread(target=stop_when_asked, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


# --- the CLI: python -m devstack clock ... ---------------------------------------------------------

def cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m devstack clock",
                                description="Move the running local stack's clock (forward only).")
    p.add_argument("--port", type=int, default=int(os.environ.get("SUIZHEN_PORT", 8000)), help="the stack's API port")
    sub = p.add_subparsers(dest="action", required=True)
    sub.add_parser("show", help="the stack's current time")
    adv = sub.add_parser("advance", help="move forward by a duration (2d3h, PT49H) or to a time (--to)")
    adv.add_argument("duration", nargs="?")
    adv.add_argument("--to", help="an absolute RFC 3339 time, e.g. 2026-12-24T09:00:00+08:00")
    sub.add_parser("reset", help="start over: back to real time with a fresh demo database")
    a = p.parse_args(argv)
    url = f"http://127.0.0.1:{a.port}/dev/clock"
    if a.action == "show":
        status, out = _http("GET", url)
    elif a.action == "advance":
        if bool(a.duration) == bool(a.to):
            p.error("give a duration (2d3h, PT49H) or --to <time>")
        status, out = _http("POST", url, {"to": a.to} if a.to else {"advance": a.duration})
    else:
        status, out = _http("POST", url, {"reset": True})
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0 if status == 200 else 1


def _http(method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, {"status": e.code, "body": raw.decode("utf-8", "replace")}
    except OSError as e:
        return 0, {"error": f"no local stack answers at {url} ({e}); start it with make run, or pass --port"}
