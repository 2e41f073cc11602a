"""Bench plumbing: a moto-backed app, scenario definitions, measurement and the report.

For every iteration of a route the harness records the DynamoDB calls the route made (checked
against the route's call budget on *every* iteration), then replays exactly those calls through
one long-lived boto3 client: the *floor*, what the route's storage work costs with nothing else
around it. The route's time over its floor (the median of the iterations' ratios, each call of the
route paired with its replay right after it) is what the app adds — botocore clients built per
request, serialisation, validation, middleware. A route fails above its ``ratio_budget``.

A replayed conditional write usually finds the state the route already moved and is refused,
which on moto is cheaper than the write itself (no item or index written, nothing returned): such
a call counts in the floor with the time the route's own call took inside botocore instead, or
every conditional write would inflate its route's ratio.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any
from unittest.mock import patch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "bench", "out")
DEFAULT_RATIO_BUDGET = 1.5
COLD_IMPORT_BUDGET = 1.3


@dataclass
class Scenario:
    name: str
    budget: dict[str, int] | int | None  # max calls in total, or per operation e.g. {"Query": 1, "total": 1}
    setup: Callable[[Any], Any]
    run: Callable[[Any, Any], int]
    iterations: int = 30
    expect_status: int | tuple[int, ...] = (200, 201, 202, 204)
    ratio_budget: float | None = DEFAULT_RATIO_BUDGET  # route time / its DynamoDB calls' time
    why_over: str = ""  # known reason a route is over its ratio budget today (printed, still fails)
    before: Callable[[Any, Any], None] | None = None  # unmeasured preparation before each iteration
    items_budget: int | None = None  # most items a request may read (Query ScannedCount)
    extra: Callable[[Any], dict] | None = None  # more figures from the scenario's state, after the runs


@dataclass
class Result:
    name: str
    calls: list[str]
    p50_ms: float
    p95_ms: float
    floor_p50_ms: float
    ratio: float
    write_units: float
    items_read: int
    ok: bool
    budget: Any = None
    ratio_budget: float | None = None
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    outside_p50_ms: float = 0.0  # the route's time outside its DynamoDB calls (botocore's own call excluded)
    floor_in_situ_calls: int = 0  # calls whose replay was refused: the floor took the route's own call time
    write_units_all_projected: float = 0.0  # the same writes if every index projected ALL attributes
    items_returned: int = 0  # what the request that read the most items returned


class Env:
    """The app under moto, with the same helpers the tests use (login, doctors, admin)."""

    def __init__(self):
        import boto3
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
        self.direct = boto3.session.Session().client("dynamodb", region_name="cn-north-1")  # the floor's client
        self._phone = 13900000000
        self._tables: dict[str, dict] = {}

    def next_phone(self) -> str:
        self._phone += 1
        return str(self._phone)

    def table(self, name: str) -> dict:
        if name not in self._tables:
            self._tables[name] = self.direct.describe_table(TableName=name)["Table"]
        return self._tables[name]

    def close(self):
        self._client.__exit__(None, None, None)
        self._mock.stop()


@contextmanager
def record_ddb_calls():
    """Every DynamoDB call made inside the block as (operation, params)."""
    import botocore.client

    calls = _Calls()
    real = botocore.client.BaseClient._make_api_call

    def recording(self, operation_name, api_params):
        if self.meta.service_model.service_name != "dynamodb":
            return real(self, operation_name, api_params)
        t0 = time.perf_counter()
        calls.append((operation_name, json.loads(json.dumps(api_params, default=_raw))))
        t1 = time.perf_counter()
        try:
            out = real(self, operation_name, api_params)
        except Exception:
            calls.refused.append(True)
            raise
        else:
            calls.refused.append(False)
            calls.items_read += out.get("ScannedCount", 0)
            calls.returned += out.get("Count", 0)
            return out
        finally:
            t2 = time.perf_counter()
            calls.call_ms.append((t2 - t1) * 1000)
            calls.harness_ms += (t1 - t0) * 1000

    with patch.object(botocore.client.BaseClient, "_make_api_call", recording):
        yield calls


class _Calls(list):
    """(operation, params) per call, and beside them what each call took and whether it failed."""

    def __init__(self):
        super().__init__()
        self.items_read = 0  # ScannedCount of the Queries: what a filter drops is still read
        self.returned = 0  # Count of the Queries: what they returned
        self.call_ms: list[float] = []  # each call inside botocore's _make_api_call
        self.refused: list[bool] = []
        self.harness_ms = 0.0  # the recording's own copying, taken off the route's time


def _raw(value):
    return value.decode("latin-1") if isinstance(value, bytes | bytearray) else str(value)


def within(budget: Any, calls: list[str]) -> bool:
    if "Scan" in calls:
        return False
    if budget is None:
        return True
    if isinstance(budget, int):
        return len(calls) <= budget
    for op, limit in budget.items():
        n = len(calls) if op == "total" else calls.count(op)
        if n > limit:
            return False
    return True


def replay(env: Env, calls: _Calls) -> tuple[float, int]:
    """The same DynamoDB calls made directly through one reused client: (ms, calls taken in situ).

    A call the route made successfully but whose replay is refused (a conditional write finding
    the state already moved) did less work than the route's call: it counts with the route's own
    call time instead (measured inside botocore, so nothing the app does around it is included)."""
    from botocore import xform_name
    from botocore.exceptions import ClientError

    total, in_situ = 0.0, 0
    for i, (op, params) in enumerate(calls):
        t = time.perf_counter()
        try:
            getattr(env.direct, xform_name(op))(**params)
            total += (time.perf_counter() - t) * 1000
        except ClientError:
            if calls.refused[i]:
                total += (time.perf_counter() - t) * 1000  # refused both times: the same work
            else:
                total += calls.call_ms[i]
                in_situ += 1
    return total, in_situ


# --- write units (what DynamoDB would bill for the writes, tables and indexes) ----------------

def _size(value: dict) -> int:
    (kind, v), = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return len(v.strip("-").replace(".", "")) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "B":
        return len(v)
    if kind in ("SS", "NS", "BS"):
        return sum(_size({kind[0]: x}) for x in v)
    if kind == "L":
        return 3 + sum(_size(x) + 1 for x in v)
    if kind == "M":
        return 3 + sum(len(k.encode()) + _size(x) + 1 for k, x in v.items())
    return 0


def item_size(item: dict, names: set[str] | None = None) -> int:
    return sum(len(k.encode()) + _size(v) for k, v in item.items() if names is None or k in names)


def _writes(calls: list[tuple[str, dict]]):
    """(table, key or item, put item or None, updated attribute names, transactional)."""
    for op, p in calls:
        if op == "PutItem":
            yield p["TableName"], p["Item"], p["Item"], set(p["Item"]), False
        elif op == "UpdateItem":
            yield p["TableName"], p["Key"], None, _updated_names(p), False
        elif op == "DeleteItem":
            yield p["TableName"], p["Key"], {}, set(), False
        elif op == "TransactWriteItems":
            for entry in p["TransactItems"]:
                (kind, q), = entry.items()
                if kind == "Put":
                    yield q["TableName"], q["Item"], q["Item"], set(q["Item"]), True
                elif kind == "Update":
                    yield q["TableName"], q["Key"], None, _updated_names(q), True
                elif kind == "Delete":
                    yield q["TableName"], q["Key"], {}, set(), True
        elif op == "BatchWriteItem":
            for table, reqs in p["RequestItems"].items():
                for r in reqs:
                    if "PutRequest" in r:
                        item = r["PutRequest"]["Item"]
                        yield table, item, item, set(item), False


def _updated_names(p: dict) -> set[str]:
    expr, names = p.get("UpdateExpression", ""), p.get("ExpressionAttributeNames", {})
    return {v for k, v in names.items() if k in expr}


def write_units(env: Env, calls: list[tuple[str, dict]], all_projected: bool = False) -> float:
    """Write units of the calls' writes: 1 per KB of item per table write (2 inside a transaction),
    plus for each GSI the write touches (a projected or key attribute changed) 1 per KB of the
    projected entry, twice when the index key changed (old entry deleted, new one put).
    ``all_projected``: as if every GSI projected ALL attributes (what the inbox indexes did before
    their projections were cut to what the lists show), for the before/after in the report."""
    total = 0.0
    for table_name, key, put_item, changed, transactional in _writes(calls):
        image = put_item
        if put_item is None:  # an update: the item as it is now
            image = env.direct.get_item(TableName=table_name, Key={k: key[k] for k in key}).get("Item", {})
        total += max(1, math.ceil(item_size(image) / 1024)) * (2 if transactional else 1)
        for gsi in env.table(table_name).get("GlobalSecondaryIndexes", []):
            keys = {k["AttributeName"] for k in gsi["KeySchema"]}
            if not keys <= set(image):
                continue
            proj = gsi["Projection"]
            table_keys = {k["AttributeName"] for k in env.table(table_name)["KeySchema"]}
            if proj["ProjectionType"] == "ALL" or all_projected:
                projected = None
            else:
                projected = keys | table_keys | set(proj.get("NonKeyAttributes", []))
            if projected is not None and not (changed & projected):
                continue  # nothing the index holds changed: DynamoDB leaves it alone
            units = max(1, math.ceil(item_size(image, projected) / 1024))
            total += units * (2 if (put_item is None and changed & keys) else 1)
    return total


# --- one route ---------------------------------------------------------------------------------

def measure(env: Env, sc: Scenario) -> Result:
    state = sc.setup(env)
    expected = sc.expect_status if isinstance(sc.expect_status, tuple) else (sc.expect_status,)
    times: list[float] = []
    floors: list[float] = []
    units: list[float] = []
    units_all: list[float] = []
    outside: list[float] = []
    in_situ = 0
    most_read = returned = 0
    calls_seen: list[str] = []
    notes: list[str] = []
    ok = True
    for i in range(sc.iterations):
        if sc.before:
            sc.before(env, state)
        with record_ddb_calls() as calls:
            t = time.perf_counter()
            status = sc.run(env, state)
            took = (time.perf_counter() - t) * 1000 - calls.harness_ms
        times.append(took)
        outside.append(took - sum(calls.call_ms))
        ops = [op for op, _ in calls]
        if i == 0:
            calls_seen = ops
        if status not in expected:
            notes.append(f"iteration {i}: unexpected status {status}")
            ok = False
            break
        if not within(sc.budget, ops):
            notes.append(f"iteration {i}: {len(ops)} calls {','.join(ops)} over budget")
            ok = False
            break
        if calls.items_read >= most_read:
            most_read, returned = calls.items_read, calls.returned
        if sc.items_budget is not None and calls.items_read > sc.items_budget:
            notes.append(f"iteration {i}: read {calls.items_read} items (budget {sc.items_budget})")
            ok = False
            break
        units.append(write_units(env, calls))
        units_all.append(write_units(env, calls, all_projected=True))
        floor_ms, n = replay(env, calls)
        floors.append(floor_ms)
        in_situ = max(in_situ, n)
    p50 = statistics.median(times)
    q = statistics.quantiles(times, n=20) if len(times) >= 2 else [times[0]] * 19
    floor = statistics.median(floors) if floors else 0.0
    # the median of each iteration's time over its own replay, measured back to back: a burst of load
    # on a shared machine hits both halves of a pair alike (p50 / p50 would pair unrelated moments)
    pairs = zip(times[:len(floors)], floors, strict=True)
    ratio = statistics.median(t / f for t, f in pairs if f > 0) if calls_seen and floor > 0 else 0.0
    out_p50 = statistics.median(outside) if outside else 0.0
    if sc.ratio_budget is not None and calls_seen and ratio > sc.ratio_budget:
        ok = False
        notes.append(f"{ratio:.2f}× its DynamoDB time (budget {sc.ratio_budget}×): {out_p50:.1f} ms outside its "
                     f"DynamoDB calls, {p50 - out_p50:.1f} ms in them against a floor of {floor:.1f} ms"
                     + (f"; {sc.why_over}" if sc.why_over else ""))
    med = statistics.median
    return Result(sc.name, calls_seen, p50, q[18], floor, ratio, med(units) if units else 0.0, most_read, ok,
                  sc.budget, sc.ratio_budget, notes, sc.extra(state) if sc.extra and ok else {},
                  out_p50, in_situ, med(units_all) if units_all else 0.0, returned)


def cold_import(pairs: int = 9) -> dict:
    """Cold import (fresh interpreter each time) of ``app`` against the bare stack, run in pairs
    with the order alternating so machine noise hits both alike; the median of the pair ratios."""
    bare = ("import time; t=time.perf_counter(); import chalice, boto3, pynamodb.models, aws_lambda_powertools; "
            "from aws_lambda_powertools import Logger, Metrics, Tracer; print(time.perf_counter()-t)")
    full = "import time; t=time.perf_counter(); import app; print(time.perf_counter()-t)"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}

    def run(code: str) -> float:
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                             check=True)
        return float(out.stdout.strip().splitlines()[-1]) * 1000

    run(bare), run(full)  # warm the bytecode caches, as a deployed package has them
    bares, fulls, ratios = [], [], []
    for i in range(pairs):
        if i % 2:
            f, b = run(full), run(bare)
        else:
            b, f = run(bare), run(full)
        bares.append(b)
        fulls.append(f)
        ratios.append(f / b)
    return {"bare_ms": statistics.median(bares), "app_ms": statistics.median(fulls),
            "ratio": statistics.median(ratios), "budget": COLD_IMPORT_BUDGET}


# --- report and the record of the last run ----------------------------------------------------

def load_last() -> dict | None:
    try:
        with open(os.path.join(OUT_DIR, "last.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def save(results: list[Result], cold: dict, last: dict | None) -> str:
    """This run's figures; a partial run (``python -m bench book``) keeps the last figures of the
    routes it did not measure, so the next run still has something to compare each route with."""
    os.makedirs(OUT_DIR, exist_ok=True)
    measured = {r.name for r in results}
    kept = [r for r in (last or {}).get("routes", []) if r["name"] not in measured]
    doc = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cold_import": cold,
           "routes": [asdict(r) for r in results] + kept}
    path = os.path.join(OUT_DIR, f"bench-{doc['at'].replace(':', '')}.json")
    for p in (path, os.path.join(OUT_DIR, "last.json")):
        with open(p, "w") as f:
            json.dump(doc, f, ensure_ascii=False, indent=1)
    return path


def _delta(now: float, before: float | None) -> str:
    if not before or not now:
        return ""
    return f"{(now - before) / before * 100:+.0f}%"


COMPARED = {"calls": "calls", "write_units": "WU", "write_units_all_projected": "WU if ALL projected",
            "items_read": "items read", "items_returned": "items returned", "budget": "budget",
            "ratio_budget": "ratio budget"}  # besides the ratio, which has its own column


def changes(r: Result, was: dict) -> list[str]:
    """Every recorded figure of the route that differs from the last run, except the times."""
    now = asdict(r)
    out = []
    for key, label in COMPARED.items():
        if key in was and was[key] != now[key]:
            fmt = (lambda v: ",".join(v)) if key == "calls" else (lambda v: json.dumps(v, ensure_ascii=False))
            out.append(f"{label} {fmt(was[key])} → {fmt(now[key])}")
    return out


def report(results: list[Result], cold: dict, last: dict | None) -> bool:
    prev = {r["name"]: r for r in (last or {}).get("routes", [])}
    print(f"{'route':58} {'calls':>5} {'budget':>28} {'p50 ms':>7} {'floor':>6} {'ratio':>6} {'outside':>7} "
          f"{'WU':>4} {'WU·ALL':>6} {'read':>5} {'ret':>4} {'vs last':>8}  ok")
    all_ok = True
    for r in results:
        budget = "" if r.budget is None else json.dumps(r.budget, separators=(",", ":")).replace('"', "")
        was = prev.get(r.name, {})
        print(f"{r.name:58} {len(r.calls):>5} {budget:>28} {r.p50_ms:7.2f} {r.floor_p50_ms:6.2f} "
              f"{(f'{r.ratio:6.2f}' if r.ratio else '-'):>6} {r.outside_p50_ms:7.2f} "
              f"{r.write_units:4.0f} {r.write_units_all_projected:6.0f} {r.items_read:5d} {r.items_returned:4d} "
              f"{_delta(r.ratio, was.get('ratio')):>8}  {'yes' if r.ok else 'NO'}  {' '.join(r.notes)}")
        if was and (diff := changes(r, was)):
            print(f"{'':58} since last run: {'; '.join(diff)}")
        all_ok &= r.ok
    cold_ok = cold["ratio"] <= cold["budget"]
    last_cold = (last or {}).get("cold_import", {}).get("ratio")
    print(f"\ncold import (paired, interleaved): bare stack {cold['bare_ms']:.0f} ms, app {cold['app_ms']:.0f} ms, "
          f"median ratio {cold['ratio']:.2f} (budget {cold['budget']:.2f}) {_delta(cold['ratio'], last_cold)} "
          f"{'yes' if cold_ok else 'NO'}")
    print("columns: floor = p50 of the same DynamoDB calls through one reused client; ratio = median over "
          "the iterations of route time / its replay; outside = p50 ms "
          "outside the DynamoDB calls; WU = write units per request, WU·ALL = the same writes if every index "
          "projected ALL; read / ret = items the heaviest request read / returned; vs last = change of the ratio")
    if last:
        print(f"(compared with the run of {last.get('at')}: the ratio in 'vs last', every other figure but the "
              f"times on a 'since last run' line when it changed)")
    return all_ok and cold_ok
