"""The local stack's test clock, in process: the shared clock file, stepping through due timers,
TTL on the clock, idempotency expiry on the clock, the proof that no deployed stage can serve
``/dev/clock``, and the CLI and ``make run`` banner that drive it."""

import ast
import functools
import json
import os
import re
import subprocess
import sys
import threading
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chalicelib.core import clock as core_clock
from chalicelib.core import outbox, timers
from devstack import clock as devclock
from devstack import devroutes

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def shared(tmp_path):
    """The shared clock installed as the service clock, as every process of the stack does."""
    s = devclock.SharedClock(str(tmp_path / "clock"), create=True)
    core_clock.set_clock(s.now)
    yield s
    core_clock.set_clock(None)


def test_durations():
    assert devclock.parse_duration("PT49H") == timedelta(hours=49)
    assert devclock.parse_duration("2d3h") == timedelta(days=2, hours=3)
    assert devclock.parse_duration("P1DT30M") == timedelta(days=1, minutes=30)
    assert devclock.parse_duration("90m") == timedelta(minutes=90)
    for bad in ("", "PT", "-1h", "PT-1H", "3x", "0h", "yesterday"):
        with pytest.raises(ValueError):
            devclock.parse_duration(bad)
    assert devclock.parse_time("2026-12-24T09:00:00+08:00") == datetime(2026, 12, 24, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        devclock.parse_time("2026-12-24T09:00:00")  # no offset


def test_one_clock_for_every_process_forward_only(tmp_path):
    path = str(tmp_path / "clock")
    mine = devclock.SharedClock(path, create=True)
    assert abs((mine.now() - datetime.now(UTC)).total_seconds()) < 1
    mine.move_to(datetime.now(UTC) + timedelta(hours=49))
    # another process maps the same file and reads the same clock
    out = subprocess.run([sys.executable, "-c", "import sys; from devstack.clock import SharedClock; "
                          "print(SharedClock(sys.argv[1]).now().isoformat())", path],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    other = datetime.fromisoformat(out.strip())
    assert abs((other - mine.now()).total_seconds()) < 5
    assert other - datetime.now(UTC) > timedelta(hours=48, minutes=59)
    # never backwards
    before = mine.now()
    mine.move_to(before - timedelta(hours=1))
    assert mine.now() >= before


def test_advance_steps_through_due_timers_in_due_order(aws, shared, drain):
    """Each timer fires with the clock at its own due time, and what its consumer does is
    delivered before the next one fires."""
    seen: list[tuple[str, datetime]] = []

    @outbox.consumer("timer.devclock-test")
    def _record(event_id, payload):
        seen.append((payload["name"], core_clock.now()))

    start = core_clock.now()
    # scheduled out of order, on different shards
    for name, hours in (("third", 30), ("first", 1), ("second", 2), ("later", 60)):
        timers.schedule("devclock-test", start + timedelta(hours=hours), {"name": name}, key=name)

    def deliver() -> int:
        return len(_deliver_once(drain))

    control = devclock.ClockControl(shared, run_due=lambda: devclock.run_due(deliver))
    out = control.advance(devclock.parse_duration("PT49H"))
    assert out["timers_fired"] == 3
    assert [n for n, _ in seen] == ["first", "second", "third"]
    for (name, at), hours in zip(seen, (1, 2, 30), strict=True):
        assert timedelta(hours=hours) <= at - start < timedelta(hours=hours, seconds=5), name
    assert core_clock.now() - start >= timedelta(hours=49)
    with pytest.raises(ValueError, match="forward"):
        control.advance_to(start)
    with pytest.raises(ValueError):
        devclock.apply(control, {"advance": "PT1H", "to": "2030-01-01T00:00:00Z"})


def _deliver_once(drain) -> list:
    """One round of the event path (relay → queues → consumers), in process."""
    from chalicelib.events import deliver_records

    return deliver_records([r for reader in drain.readers for r in reader.read()])


def test_ttl_expiry_on_the_clock(aws, shared):
    from chalicelib.core.ratelimit import RateCounter

    RateCounter("a", hits=1, expires_at=core_clock.now() + timedelta(hours=2)).save()
    RateCounter("b", hits=1, expires_at=core_clock.now() + timedelta(days=3)).save()
    assert devclock.expire_ttl() == 0
    shared.move_to(core_clock.now() + timedelta(hours=3))
    assert devclock.expire_ttl() == 1
    assert [c.key for c in RateCounter.scan()] == ["b"]


def test_idempotency_records_expire_on_the_clock(api, shared):
    """A retry within the window gets the first answer; after the window (TTL on the clock) the
    same key is a new request."""
    user = api.login("13900000777")
    key = {"Idempotency-Key": "k-1"}
    body = {"relation": "child", "real_name": "王小", "gender": "female", "birth_date": "2020-01-01"}
    first = api.post("/v1/me/profiles", body, token=user.token, headers=key)
    again = api.post("/v1/me/profiles", body, token=user.token, headers=key)
    assert first.status == 201 and again.body == first.body
    shared.move_to(core_clock.now() + timedelta(hours=27))
    assert devclock.expire_ttl() >= 1
    user = api.relogin(user)
    later = api.post("/v1/me/profiles", body, token=user.token, headers=key)
    assert later.status == 201 and later.body["profile_id"] != first.body["profile_id"]


# --- /dev/clock exists only in the local stack ------------------------------------------------------

def test_no_deployed_stage_can_register_the_dev_route():
    stages = json.load(open(ROOT / ".chalice" / "config.json"))["stages"]
    with_devstack = {devclock.CONTROL_URL_ENV: "http://127.0.0.1:1"}
    for stage in stages:
        lambda_env = {**with_devstack, "AWS_LAMBDA_FUNCTION_NAME": f"suizhen-{stage}", "LAMBDA_TASK_ROOT": "/var/task"}
        assert not devroutes.may_register(stage, lambda_env), stage  # inside Lambda: never
        if stage != "dev":
            assert not devroutes.may_register(stage, with_devstack), stage
    assert not devroutes.may_register("dev", {})  # not started by the devstack
    assert devroutes.may_register("dev", with_devstack)


def test_the_lambda_package_cannot_reach_devstack():
    """``chalice package`` ships app.py and chalicelib/ (and vendor/): none of it imports devstack,
    so the route module is absent from every deployed function whatever its configuration."""
    assert not (ROOT / "vendor").exists()
    files = [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]
    for f in files:
        for node in ast.walk(ast.parse(f.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n == "devstack" or n.startswith("devstack.") for n in names), f
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert not node.value.startswith("devstack"), f


def test_the_app_has_no_dev_route(aws):
    """A deployed stage answers ``/dev/clock`` 404 ``not_found``: the app has no such route, so
    API Gateway refuses it as an unknown resource (MISSING_AUTHENTICATION_TOKEN, with a token or
    without), and the template's gateway response gives that 404. ``devstack.api.Gateway`` answers
    API Gateway's refusals as the template declares them (the next test), so it stands in for it."""
    from chalice.config import Config

    import app
    from devstack.api import Gateway

    assert not [p for p in app.app.routes if p.startswith("/dev")]
    template = json.load(open(ROOT / "infra" / "template.json"))["Resources"]
    unknown = [r["Properties"] for r in template.values() if r.get("Type") == "AWS::ApiGateway::GatewayResponse"
               and r["Properties"]["ResponseType"] == "MISSING_AUTHENTICATION_TOKEN"]
    assert [p["StatusCode"] for p in unknown] == ["404"]
    for stage in ("test", "prod"):
        gateway = Gateway(app.app, Config(chalice_stage=stage))
        for path in ("/dev/clock", "/dev/seed/bound-patients", "/dev/calls"):
            for method, auth in (("POST", {}), ("POST", {"authorization": "Bearer x.y.z"}), ("GET", {})):
                r = gateway.handle_request(method, path, {"content-type": "application/json", **auth},
                                           b'{"count": 5}' if method == "POST" else b"")
                assert r["statusCode"] == 404, (stage, path, method, auth, r)
                assert json.loads(r["body"])["error"]["code"] == "not_found"


def test_gateway_responses_match_the_template():
    """The local API answers API Gateway's own refusals as the deployed template declares them."""
    from devstack.api import GATEWAY_RESPONSES

    template = json.load(open(ROOT / "infra" / "template.json"))["Resources"]
    declared = {}
    for res in template.values():
        if res.get("Type") == "AWS::ApiGateway::GatewayResponse":
            p = res["Properties"]
            body = json.loads(p["ResponseTemplates"]["application/json"])
            declared[p["ResponseType"]] = (int(p["StatusCode"]), body["error"]["code"])
    assert declared == GATEWAY_RESPONSES
    assert os.path.exists(ROOT / "devstack" / "api.py")


# --- the CLI and the make run banner ---------------------------------------------------------------

@functools.cache
def _dev_app():
    """A Chalice app with only the dev route, built once: its blueprint can be registered once."""
    from chalice import Chalice

    from chalicelib.core.http import error_middleware

    local = Chalice("devclock-cli-test")
    local.register_middleware(error_middleware, "http")  # the app's error format, as on the full app
    assert devroutes.may_register(devroutes.LOCAL_STAGE)
    local.register_blueprint(devroutes.bp)
    return local


@pytest.fixture
def local_api(aws, shared, monkeypatch):
    """``/dev/clock`` as the local stack serves it, without the rest of the stack: the dev route on a
    Chalice app behind the stack's own gateway (``devstack.api.Handler``), forwarding to the clock's
    control endpoint over the shared clock. Yields the API's base URL and the resets asked for."""
    from chalice.config import Config
    from chalice.local import LocalDevServer

    from devstack.api import Handler

    resets: list[bool] = []
    stop = threading.Event()
    control = devclock.ClockControl(shared, run_due=lambda: 0, reset_state=lambda: resets.append(True))
    monkeypatch.setenv(devclock.CONTROL_URL_ENV, devclock.serve_control(control, stop))
    server = LocalDevServer(_dev_app(), Config(chalice_stage=devroutes.LOCAL_STAGE), "127.0.0.1", 0,
                            handler_cls=Handler)
    threading.Thread(target=server.server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server.server_address[1]}", resets
    finally:
        server.shutdown()
        stop.set()


def _cli(*args: str) -> tuple[int, dict]:
    run = subprocess.run([sys.executable, "-m", "devstack", "clock", *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    return run.returncode, json.loads(run.stdout)


@pytest.mark.enable_socket
def test_cli_shows_advances_and_resets_the_stack_clock(local_api, shared):
    base, resets = local_api
    port = base.rsplit(":", 1)[1]
    code, out = _cli("--port", port, "show")
    assert code == 0 and abs(out["offset_seconds"]) < 1
    start = shared.now()
    code, out = _cli("--port", port, "advance", "2d3h")
    assert code == 0 and out["timers_fired"] == 0 and "from" in out
    assert timedelta(days=2, hours=3) <= shared.now() - start < timedelta(days=2, hours=3, seconds=30)
    assert datetime.fromisoformat(out["now"]) - start > timedelta(days=2, hours=3, seconds=-1)  # whole seconds
    target = start + timedelta(days=10)
    code, out = _cli("--port", port, "advance", "--to", target.isoformat())
    assert code == 0 and shared.now() >= target
    code, out = _cli("--port", port, "advance", "--to", start.isoformat())  # backwards: refused, unchanged
    assert code == 1 and "forward" in out["error"]["message"] and shared.now() >= target
    code, out = _cli("--port", port, "reset")
    assert code == 0 and out["reset"] is True and resets == [True]
    assert abs(shared.offset_us()) < 1_000_000


def test_cli_without_a_stack_says_how_to_start_one():
    code, out = _cli("--port", "1", "show")  # nothing listens on port 1
    assert code == 1 and "make run" in out["error"]


@pytest.mark.enable_socket
def test_the_banner_prints_both_clock_commands_and_they_work(local_api, shared, capsys):
    """``make run``'s banner shows the CLI and ``POST /dev/clock``; both, as printed, move the clock."""
    from devstack.__main__ import banner

    base, _ = local_api
    banner(base, "http://127.0.0.1:5000", "http://127.0.0.1:5001", [("patient", "13900000001", "demo")])
    printed = capsys.readouterr().out
    cli = re.search(r"\.venv/bin/python -m devstack clock(.*) advance 2d3h", printed)
    assert cli, printed
    curl = re.search(r"curl -s -XPOST (\S+/dev/clock) -H 'Content-Type: application/json' -d '(.+)'", printed)
    assert curl and curl.group(1) == f"{base}/dev/clock", printed
    assert "show, reset" in printed and "log in again" in printed

    start = shared.now()
    code, _out = _cli(*cli.group(1).split(), "advance", "2d3h")
    assert code == 0 and shared.now() - start >= timedelta(days=2, hours=3)
    before = shared.now()
    req = urllib.request.Request(curl.group(1), data=curl.group(2).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 200 and json.loads(r.read())["timers_fired"] == 0
    assert shared.now() - before >= timedelta(hours=49)

    banner("http://127.0.0.1:8000", "m", "s", [])  # the default port needs no --port
    assert ".venv/bin/python -m devstack clock advance 2d3h" in capsys.readouterr().out
