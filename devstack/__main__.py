"""``python -m devstack``: start the local stack in one process tree; Ctrl-C stops all of it."""

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGE = "dev"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stage_env(api_port: int, moto_url: str) -> dict[str, str]:
    cfg = json.load(open(os.path.join(ROOT, ".chalice", "config.json")))
    env = {**cfg.get("environment_variables", {}), **cfg["stages"][STAGE]["environment_variables"]}
    env.update({
        "AWS_ACCESS_KEY_ID": "devstack", "AWS_SECRET_ACCESS_KEY": "devstack", "AWS_DEFAULT_REGION": "cn-north-1",
        "AWS_ENDPOINT_URL": moto_url, "SUIZHEN_PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}",
        "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
    })
    return env


def log(msg: str) -> None:
    print(f"[devstack] {msg}", flush=True)


def ensure_secrets(ssm) -> None:
    """Signing keys and the data key: created once, kept while the moto server runs."""
    for name, value in (
        (f"/suizhen/{STAGE}/jwt-signing-keys",
         json.dumps({"current": "k1", "keys": {"k1": base64.b64encode(os.urandom(32)).decode()}})),
        (f"/suizhen/{STAGE}/data-key", base64.b64encode(os.urandom(32)).decode()),
    ):
        try:
            ssm.get_parameter(Name=name)
        except ssm.exceptions.ParameterNotFound:
            ssm.put_parameter(Name=name, Value=value, Type="SecureString")


def wait_http(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not come up")


def loop(stop: threading.Event, every_s: float, fn, name: str) -> threading.Thread:
    def run():
        while not stop.wait(every_s):
            try:
                fn()
            except Exception as exc:  # keep the stack up; the error is on the console
                log(f"{name} failed: {exc!r}")

    t = threading.Thread(target=run, name=name, daemon=True)
    t.start()
    return t


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["dlq"]:  # `python -m devstack dlq`: show / redrive the dead-letter queues
        from devstack import dlq

        return dlq.main(argv[1:])
    if argv[:1] == ["clock"]:  # python -m devstack clock advance 2d3h | show | reset
        from devstack.clock import cli

        return cli(argv[1:])
    p = argparse.ArgumentParser(prog="python -m devstack", description=__doc__,
                                epilog="Test clock of a running stack: python -m devstack clock {show,advance,reset}")
    p.add_argument("--port", type=int, default=int(os.environ.get("SUIZHEN_PORT", 8000)), help="API port")
    p.add_argument("--moto-port", type=int, default=0, help="moto server port (default: a free one)")
    p.add_argument("--sandbox-port", type=int, default=0, help="sandbox payment provider port (default: free)")
    p.add_argument("--tick-seconds", type=float, default=60.0, help="scheduler tick (EventBridge rate)")
    p.add_argument("--no-seed", action="store_true", help="do not create the demo data")
    args = p.parse_args(argv)

    import logging

    from devstack import clock as devclock
    from devstack.motoserver import MotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log

    from devstack import calls

    calls.install()  # DynamoDB calls per part of the stack (GET /dev/calls)
    moto = MotoServer("127.0.0.1", args.moto_port).start()  # DynamoDB requests one at a time
    moto_url = moto.url
    env = stage_env(args.port, moto_url)
    state_dir = tempfile.mkdtemp(prefix="suizhen-devstack-")
    env[devclock.CLOCK_FILE_ENV] = os.path.join(state_dir, "clock")  # the test clock every process reads
    shared_clock = devclock.SharedClock(env[devclock.CLOCK_FILE_ENV], create=True)
    os.environ.update(env)  # before importing chalicelib: table names bind at import
    devclock.install_from_env()

    from chalicelib.core import timers
    from chalicelib.core.aws import client
    from chalicelib.core.config import get_settings
    from chalicelib.domains import create_tables

    create_tables()
    ensure_secrets(client("ssm"))
    s3 = client("s3")
    if get_settings().attachments_bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=get_settings().attachments_bucket,
                         CreateBucketConfiguration={"LocationConstraint": "cn-north-1"})
    stop = threading.Event()

    from chalicelib.payments import sandbox

    sport = args.sandbox_port or free_port()
    sandbox_url = f"http://127.0.0.1:{sport}"
    sb = sandbox.ensure_dev_secrets(client("ssm"), STAGE, sandbox_url)
    threading.Thread(target=sandbox.run_server, args=("127.0.0.1", sport, f"http://127.0.0.1:{args.port}", stop, sb),
                     daemon=True, name="sandbox-pay").start()

    __import__("devstack.fakeproviders", fromlist=["start_dev"]).start_dev(client("ssm"), STAGE, env)
    # The test clock; its advances fire and deliver what falls due once the event path runs (below).
    control = devclock.ClockControl(shared_clock)
    env[devclock.CONTROL_URL_ENV] = os.environ[devclock.CONTROL_URL_ENV] = devclock.serve_control(control, stop)

    # Synchronous calls between units (chalicelib/calls.py) go over Lambda's Invoke API to this
    # process, as deployed functions call each other (devstack/lambdas.py)
    from chalicelib import calls as unit_calls
    from devstack import lambdas

    functions = {lambdas.function_name(STAGE, u): u for u in unit_calls.callee_units()}
    _, lambda_url, _ = lambdas.start(functions)
    call_env = {"AWS_ENDPOINT_URL_LAMBDA": lambda_url,
                "SUIZHEN_CALL_FUNCTIONS": json.dumps({u: name for name, u in functions.items()})}
    env.update(call_env)
    os.environ.update(call_env)
    get_settings.cache_clear()

    # chalice local, with API Gateway's gateway responses, the shared clock and /dev/clock
    api = subprocess.Popen([sys.executable, "-m", "devstack.api", "--stage", STAGE, "--host", "127.0.0.1",
                            "--port", str(args.port)], cwd=ROOT, env={**os.environ, **env}, start_new_session=True)
    base = f"http://127.0.0.1:{args.port}"

    def shutdown(*_):
        stop.set()

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    try:
        wait_http(f"{base}/v1/health")
        from devstack import dlq, queues  # the relay, per-unit queues with DLQs, their pollers

        topo = queues.start(STAGE, stop, log)
        os.environ["SUIZHEN_EVENTS_TOPIC_ARN"] = topo.topic_arn
        dlq.write_endpoint(moto_url)
        control.run_due = lambda: devclock.run_due(lambda: devclock.deliver_now(topo))
        control.reset_state = lambda: devclock.reset_stack(topo, sb, seed=not args.no_seed)
        loop(stop, args.tick_seconds, timers.sweep, "scheduler-tick")
        demo = [] if args.no_seed else __import__("devstack.seed", fromlist=["seed"]).seed()
        banner(base, moto_url, sandbox_url, demo)
        while not stop.wait(0.5):
            if api.poll() is not None:
                log(f"chalice local exited with {api.returncode}")
                break
    finally:
        stop.set()
        if api.poll() is None:
            os.killpg(api.pid, signal.SIGTERM)
            try:
                api.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(api.pid, signal.SIGKILL)
        moto.stop()
        shutil.rmtree(state_dir, ignore_errors=True)
        log("stopped")
    return 0


def clock_now() -> str:
    from chalicelib.core import clock

    return clock.iso(clock.now())


def banner(base: str, moto_url: str, sandbox_url: str, demo: list[tuple[str, str, str]]) -> None:
    port_opt = "" if base.endswith(":8000") else f" --port {base.rsplit(':', 1)[1]}"
    lines = [
        "", "Suizhen local stack is up.",
        f"  API            {base}   (OpenAPI: {base}/v1/openapi.json)",
        f"  AWS (moto)     {moto_url}",
        f"  Sandbox pay    {sandbox_url}",
        f"                 pay an order: .venv/bin/python -m chalicelib.payments.sandbox pay <order_id> --sandbox {sandbox_url}",
        "                 refunds: accepted as processing, completed by the sandbox 2 s later (as WeChat Pay does);",
        "                 callbacks retried until 2xx like WeChat Pay (15 s, 15 s, 30 s, 3 min … 24 h) on the test clock",
        "  Scheduler tick, outbox relay, one poller per unit queue and the units' call functions",
        "  (Lambda Invoke, e.g. messaging → payments) run in this process;",
        "                 dead letters: .venv/bin/python -m devstack dlq [--redrive <unit>|all]",
        f"  Test clock     now {clock_now()}; forward only, every process reads it:",
        f"                 .venv/bin/python -m devstack clock{port_opt} advance 2d3h   (or PT49H; also: show, reset)",
        f"                 curl -s -XPOST {base}/dev/clock -H 'Content-Type: application/json' -d '{{\"advance\": \"PT49H\"}}'",
        "                 (or {\"to\": \"<RFC 3339 time>\"}); access tokens may expire: log in again (README)", "",
        "Demo accounts (log in with an SMS code; the code is printed below as [dev-sms]):",
    ]
    lines += [f"  {role:8} {phone}   {note}" for role, phone, note in demo]
    lines += ["", "Log in:",
              f"  curl -s -XPOST {base}/v1/auth/sms-code -H 'Content-Type: application/json' -d '{{\"phone\": \"13900000001\"}}'",
              f"  curl -s -XPOST {base}/v1/auth/token -H 'Content-Type: application/json' "
              "-d '{\"phone\": \"13900000001\", \"code\": \"<code from [dev-sms]>\"}'",
              f"  curl -s {base}/v1/me -H 'Authorization: Bearer <access_token>'",
              "", "Ctrl-C stops everything.", ""]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
