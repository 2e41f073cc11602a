"""Bench plumbing: a moto-backed app, scenario definitions, measurement and the report."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class Scenario:
    name: str
    budget: dict[str, int] | int | None  # max calls in total, or per operation e.g. {"Query": 1, "total": 1}
    setup: Callable[[Any], Any]
    run: Callable[[Any, Any], int]
    iterations: int = 30
    expect_status: int | tuple[int, ...] = (200, 201, 202, 204)


@dataclass
class Result:
    name: str
    calls: list[str]
    p50_ms: float
    p95_ms: float
    ok: bool
    budget: Any = None
    notes: list[str] = field(default_factory=list)


class Env:
    """The app under moto, with the same helpers the tests use (login, doctors, admin)."""

    def __init__(self):
        from chalice.test import Client
        from moto import mock_aws

        import app as app_module
        import tests.conftest as conftest  # sets the test environment before importing app
        from chalicelib.core import aws as core_aws
        from chalicelib.core.config import get_settings
        from chalicelib.domains import create_tables
        from tests.support import ApiClient

        get_settings.cache_clear()
        self._mock = mock_aws()
        self._mock.start()
        core_aws.reset_clients()
        create_tables()
        conftest.seed_secrets(core_aws.client("ssm"))
        core_aws.client("s3").create_bucket(Bucket=get_settings().attachments_bucket,
                                            CreateBucketConfiguration={"LocationConstraint": "cn-north-1"})
        self._client = Client(app_module.app, stage_name="test")
        self._client.__enter__()
        self.api = ApiClient(self._client)
        self._phone = 13900000000

    def next_phone(self) -> str:
        self._phone += 1
        return str(self._phone)

    def close(self):
        self._client.__exit__(None, None, None)
        self._mock.stop()


def _within(budget: Any, calls: list[str]) -> bool:
    if budget is None:
        return True
    if isinstance(budget, int):
        return len(calls) <= budget
    for op, limit in budget.items():
        n = len(calls) if op == "total" else calls.count(op)
        if n > limit:
            return False
    return "Scan" not in calls


def measure(env: Env, sc: Scenario) -> Result:
    from tests.support import count_ddb_calls

    state = sc.setup(env)
    expected = sc.expect_status if isinstance(sc.expect_status, tuple) else (sc.expect_status,)
    times: list[float] = []
    calls_seen: list[str] = []
    notes = []
    for i in range(sc.iterations):
        with count_ddb_calls() as calls:
            t = time.perf_counter()
            status = sc.run(env, state)
            times.append((time.perf_counter() - t) * 1000)
        if i == 0:
            calls_seen = list(calls)
        if status not in expected:
            notes.append(f"unexpected status {status}")
            break
    ok = _within(sc.budget, calls_seen) and not notes and "Scan" not in calls_seen
    q = statistics.quantiles(times, n=20) if len(times) >= 2 else [times[0]] * 19
    return Result(sc.name, calls_seen, statistics.median(times), q[18], ok, sc.budget, notes)


def cold_import(runs: int = 7) -> tuple[float, float]:
    """Median cold import (fresh interpreter each time) of the bare stack and of ``app``."""
    bare = ("import time; t=time.perf_counter(); import chalice, boto3, pynamodb.models, aws_lambda_powertools; "
            "from aws_lambda_powertools import Logger, Metrics, Tracer; print(time.perf_counter()-t)")
    full = "import time; t=time.perf_counter(); import app; print(time.perf_counter()-t)"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}

    def run(code: str) -> float:
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                             check=True)
        return float(out.stdout.strip().splitlines()[-1]) * 1000

    run(bare), run(full)  # warm the bytecode caches, as a deployed package has them
    bares, fulls = [], []
    for _ in range(runs):
        bares.append(run(bare))
        fulls.append(run(full))
    return statistics.median(bares), statistics.median(fulls)


def report(results: list[Result], bare_ms: float, app_ms: float) -> bool:
    print(f"{'route':58} {'ddb calls':>9} {'budget':>18} {'p50 ms':>8} {'p95 ms':>8}  ok")
    all_ok = True
    for r in results:
        budget = "" if r.budget is None else str(r.budget)
        print(f"{r.name:58} {len(r.calls):>9} {budget:>18} {r.p50_ms:8.2f} {r.p95_ms:8.2f}  "
              f"{'yes' if r.ok else 'NO'}  {','.join(sorted(set(r.calls)))} {' '.join(r.notes)}")
        all_ok &= r.ok
    ratio = app_ms / bare_ms
    cold_ok = ratio <= 1.3
    print(f"\ncold import: bare stack {bare_ms:.0f} ms, app {app_ms:.0f} ms, ratio {ratio:.2f} (budget 1.30) "
          f"{'yes' if cold_ok else 'NO'}")
    return all_ok and cold_ok
