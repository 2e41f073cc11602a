"""The deployed shape, read from the packaged template (`chalice package` + `infra/package.py`,
what `make package` produces): one function per unit, each path integrated with its domain's
function, least-privilege roles derived from the code, the event path, cfn-lint, ≤ 10 MB."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

import pytest

from chalicelib import events, topology
from chalicelib.core.openapi import document
from infra import package

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
WRITE_ACTIONS = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
# Synchronous calls into another unit's function (chalicelib/calls.py): the writes whose answer
# a caller needs at once. Derived from the code (package.sync_calls); pinned here so a new one
# fails this test instead of widening a role silently. The caller's role may invoke the callee's
# call function and writes none of its tables.
KNOWN_CALLS = {
    "messaging": {"payments": ["create_order", "refund"]},
    "booking": {"payments": ["close_order", "create_order", "refund"]},
    "opinions": {"payments": ["close_order", "create_order", "credit_deferred_share", "refund"]},
    # (the post-operative plan reaches follow-up as referral.postop_plan_requested, not by a call)
    "referrals": {"payments": ["close_order", "create_order", "refund"]},
}

# Other domains each unit may read (their tables, read-only in its role), derived from the code's
# imports (package.grants) and pinned here: a unit that starts importing another domain fails
# test_cross_domain_reads_are_the_reviewed_ones until the read is reviewed and added. Wide lists
# come through services that read others to show a row (brand's page shows every service).
ALLOWED_READS = {
    "identity": ["notifications"],
    "bindings": ["accounts", "doctors", "notifications"],
    "payments": ["accounts", "doctors", "notifications"],
    "messaging": ["accounts", "bindings", "booking", "doctors", "notifications"],
    "booking": ["accounts", "bindings", "doctors", "notifications"],
    "opinions": ["accounts", "doctors", "notifications"],
    "notifications": ["accounts", "bindings", "booking", "doctors", "followup", "messaging"],
    "followup": ["accounts", "bindings", "booking", "brand", "doctors", "messaging", "notifications", "opinions",
                 "referrals"],
    "brand": ["accounts", "bindings", "booking", "doctors", "messaging", "notifications", "opinions", "referrals"],
    "referrals": ["accounts", "bindings", "doctors", "notifications"],
}


@pytest.fixture(scope="module")
def packaged():
    out = tempfile.mkdtemp(prefix="suizhen-pkg-")
    try:
        env = {**os.environ, "AWS_DEFAULT_REGION": "cn-north-1"}
        pkg = subprocess.run([os.path.join(BIN, "chalice"), "package", "--stage", "prod", "--merge-template",
                              "infra/template.json", out], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        assert pkg.returncode == 0, pkg.stdout + pkg.stderr
        post = subprocess.run([sys.executable, "-m", "infra.package", out], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)
        assert post.returncode == 0, post.stdout + post.stderr
        yield out, json.load(open(os.path.join(out, "sam.json"))), post.stdout
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _functions(t):
    return {k: r for k, r in t["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}


def _fn_of_uri(uri) -> str:
    return re.search(r"\$\{(\w+)\.Arn\}", uri["Fn::Sub"]).group(1)


@pytest.mark.enable_socket
def test_every_openapi_path_is_integrated_with_its_domains_function(packaged):
    _, t, _ = packaged
    paths = t["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    routes = package.route_units()
    doc = document()["paths"]
    checked = 0
    for path, ops in doc.items():
        for method in ops:
            integ = paths[path][method]["x-amazon-apigateway-integration"]
            assert _fn_of_uri(integ["uri"]) == package.api_fn(routes[(path, method.upper())]), (method, path)
            checked += 1
    assert checked == len(routes)
    assert "APIHandler" not in t["Resources"]
    # the bindings' scan lands on the bindings function, an auth route on identity's
    assert _fn_of_uri(paths["/v1/auth/token"]["post"]["x-amazon-apigateway-integration"]["uri"]) == "ApiIdentity"
    assert t["Resources"]["RestAPI"]["Properties"]["EndpointConfiguration"] == "REGIONAL"


@pytest.mark.enable_socket
def test_one_wildcard_invoke_permission_per_api_function(packaged):
    _, t, _ = packaged
    perms = [r for r in t["Resources"].values() if r["Type"] == "AWS::Lambda::Permission"
             and r["Properties"]["Principal"] == "apigateway.amazonaws.com"]
    api_fns = {k for k, r in _functions(t).items() if r["Properties"]["Handler"] == "chalicelib.entry.api_handler"}
    targets = [p["Properties"]["FunctionName"].get("Ref") for p in perms]
    assert sorted(f for f in targets if f in api_fns) == sorted(api_fns)
    assert set(api_fns) >= {package.api_fn(u) for u in topology.units()}


def _statements(role: dict):
    for pol in role["Properties"]["Policies"]:
        yield from pol["PolicyDocument"]["Statement"]


def _as_list(x):
    return x if isinstance(x, list) else [x]


@pytest.mark.enable_socket
def test_every_function_has_its_own_least_privilege_role(packaged):
    _, t, _ = packaged
    res = t["Resources"]
    for name, fn in _functions(t).items():
        role = fn["Properties"]["Role"]["Fn::GetAtt"][0]
        assert res[role]["Type"] == "AWS::IAM::Role", name
    for name, r in res.items():
        if r["Type"] != "AWS::IAM::Role":
            continue
        for st in _statements(r):
            actions = _as_list(st["Action"])
            assert not any(a == "*" or a.endswith(":*") for a in actions), (name, st)
            if any(a.startswith("dynamodb:") for a in actions):
                for resource in _as_list(st["Resource"]):
                    text = json.dumps(resource)
                    assert resource != "*" and "table/*" not in text and "table/suizhen" not in text, (name, st)
            if any(a.startswith(("s3:", "sqs:", "kms:", "ssm:")) for a in actions):
                assert st["Resource"] != "*", (name, st)


def _tables_written(role: dict) -> set[str]:
    out = set()
    for st in _statements(role):
        if WRITE_ACTIONS & set(_as_list(st["Action"])):
            for r in _as_list(st["Resource"]):
                if "Fn::GetAtt" in r:
                    out.add(r["Fn::GetAtt"][0])
    return out


@pytest.mark.enable_socket
def test_no_function_writes_another_domains_table(packaged):
    _, t, _ = packaged
    owners = package.models_by_owner()
    table_owner = {f"Table{package._camel(package.short_name(m))}": owner for owner, ms in owners.items() for m in ms}
    assert {u: package.sync_writes(u) for u in topology.units() if package.sync_writes(u)} == {}
    for unit, domains in topology.units().items():
        for table in _tables_written(t["Resources"][package.role_id(unit)]):
            owner = table_owner[table]
            assert owner.startswith("core.") or owner in domains, (unit, table)
    # the relay, the sweep and the authorizer write no domain's table
    assert _tables_written(t["Resources"]["OutboxRelayRole"]) == set()
    assert _tables_written(t["Resources"]["TimerSweepRole"]) == {"TableTimers"}
    assert _tables_written(t["Resources"]["TokenAuthorizerRole"]) == set()


def _invokes(role: dict) -> set[str]:
    return {r["Fn::GetAtt"][0] for st in _statements(role) if "lambda:InvokeFunction" in _as_list(st["Action"])
            for r in _as_list(st["Resource"])}


@pytest.mark.enable_socket
def test_synchronous_calls_invoke_only_the_callees_call_function(packaged):
    _, t, _ = packaged
    res = t["Resources"]
    derived = {u: package.sync_calls(u) for u in topology.units()}
    assert {u: c for u, c in derived.items() if c} == KNOWN_CALLS
    for unit, called in derived.items():
        expected = {package.call_fn(topology.unit_of(d)) for d in called}
        assert _invokes(res[package.role_id(unit)]) == expected, unit
        for fn in (package.api_fn(unit), package.consumer_fn(unit)):
            if fn in res:
                env = res[fn]["Properties"]["Environment"]["Variables"]
                assert ("SUIZHEN_CALL_FUNCTIONS" in env) == bool(called), fn
    call = res["CallPayments"]["Properties"]
    assert call["Handler"] == "chalicelib.entry.answer"
    assert call["Role"] == {"Fn::GetAtt": [package.role_id("payments"), "Arn"]}
    assert call["Environment"]["Variables"]["SUIZHEN_UNIT"] == "payments"
    assert json.loads(res["ApiMessaging"]["Properties"]["Environment"]["Variables"]["SUIZHEN_CALL_FUNCTIONS"]
                      ["Fn::Sub"]) == {"payments": "${CallPayments}"}
    # what a caller may ask is what payments answers
    from chalicelib.payments import calls as payment_calls

    assert {op for c in KNOWN_CALLS.values() for op in c["payments"]} <= set(payment_calls.__all__)


@pytest.mark.enable_socket
def test_cross_domain_reads_follow_the_imports(packaged):
    _, t, _ = packaged
    g = package.grants("bindings")
    assert "accounts" in g["read"] and "payments" not in g["read"] + g["write"]
    owners = {package.short_name(m): owner for owner, ms in package.models_by_owner().items() for m in ms}
    for unit in topology.units():
        imported = {m.split(".")[1] for m in package.unit_modules(unit) if m.count(".") >= 2}
        assert {owners[t] for t in package.grants(unit)["read"]} <= imported, unit
    # payments knows none of the domains that sell through it
    assert not {owners[t] for t in package.grants("payments")["read"]} & {"booking", "messaging", "opinions"}
    shared = {package.short_name(m) for owner, ms in package.models_by_owner().items() if owner.startswith("core.")
              for m in ms}
    system = package.grants(topology.SYSTEM)  # OpenAPI and health: shared plumbing at most
    assert system["read"] == [] and set(system["write"]) <= shared


@pytest.mark.enable_socket
def test_event_path_in_the_template(packaged):
    _, t, _ = packaged
    res = t["Resources"]
    relay = res["OutboxRelay"]["Properties"]["Events"]
    filters = {k: json.loads(e["Properties"]["FilterCriteria"]["Filters"][0]["Pattern"]) for k, e in relay.items()}
    assert filters == {"OutboxRelayDynamodbEventSource": events.STREAM_FILTER,
                       "TimersRelayDynamodbEventSource": events.TIMER_FILTER}
    for e in relay.values():
        assert e["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    subs = events.subscriptions(deployed=True)
    for unit in sorted({u for us in subs.values() for u in us}):
        q = res[f"{package.camel(unit)}Queue"]["Properties"]
        fn = res[package.consumer_fn(unit)]["Properties"]
        assert q["VisibilityTimeout"] > fn["Timeout"]
        assert q["RedrivePolicy"]["maxReceiveCount"] == topology.queue_settings(unit).max_receive_count
        assert fn["Events"]["Queue"]["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        policy = res[f"{package.camel(unit)}Subscription"]["Properties"]["FilterPolicy"]
        assert policy == {"type": [ty for ty, us in subs.items() if unit in us]}


@pytest.mark.enable_socket
def test_every_arn_names_the_partition(packaged):
    _, t, _ = packaged
    assert "arn:aws:" not in json.dumps(t)


@pytest.mark.enable_socket
def test_package_is_small_and_printed(packaged):
    out, t, printed = packaged
    size = os.path.getsize(os.path.join(out, "deployment.zip"))
    assert size <= 10 * 1024 * 1024, size
    names = zipfile.ZipFile(os.path.join(out, "deployment.zip")).namelist()
    assert not any(n.startswith(("botocore/", "boto3/")) or "swagger_ui" in n for n in names)
    for fn in _functions(t):
        assert fn in printed


@pytest.mark.enable_socket
def test_the_local_stack_and_its_dev_routes_are_not_packaged(packaged):
    """/dev/clock lives in devstack/ (registered only by the local API runner): no deployed
    function holds it, whatever its configuration."""
    out, t, _ = packaged
    names = zipfile.ZipFile(os.path.join(out, "deployment.zip")).namelist()
    assert "app.py" in names and not any(n.startswith("devstack/") for n in names)
    assert not [p for p in t.get("Paths", {}) if p.startswith("/dev")]
    assert not any(p in json.dumps(t) for p in ("/dev/clock", "/dev/seed", "/dev/calls"))


@pytest.mark.enable_socket
def test_packaged_template_passes_cfn_lint(packaged):
    out, _, _ = packaged
    lint = subprocess.run([os.path.join(BIN, "cfn-lint"), "--regions", "cn-north-1", "--",
                           os.path.join(out, "sam.json")], capture_output=True, text=True, timeout=600)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_a_path_without_a_domain_fails_the_build(monkeypatch):
    t = {"Resources": {"APIHandler": {"Properties": {"Runtime": "python3.11"}},
                       "RestAPI": {"Properties": {"EndpointConfiguration": "REGIONAL", "DefinitionBody": {"paths": {
                           "/v1/nobody": {"get": {"x-amazon-apigateway-integration": {"type": "aws_proxy"}}}}}}}}}
    with pytest.raises(SystemExit, match="maps to no domain"):
        package.transform(t)


_DOMAINS_LOADED = ("sorted({m.split('.')[1] for m in sys.modules "
                   "if m.startswith('chalicelib.') and m.count('.') >= 2})")


def _in_unit(unit: str, body: str):
    """Run ``body`` in a fresh interpreter as ``unit``'s function would (``SUIZHEN_UNIT``, its
    API entry built); it prints one JSON value, returned."""
    code = (f"import os, sys, json, pkgutil, importlib\nos.environ['SUIZHEN_UNIT'] = {unit!r}\n"
            f"from chalicelib import entry, events, topology\napp = entry.api_handler\n{body}")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("unit", sorted(topology.units()))
def test_a_units_api_function_imports_only_its_domains_and_serves_their_routes(unit):
    got = _in_unit(unit, f"print(json.dumps({{'mods': {_DOMAINS_LOADED}, 'paths': sorted(app.routes)}}))\n")
    own = set(topology.units()[unit])
    assert set(got["mods"]) <= own | {"core"}, got["mods"]
    expected = {p for (p, _), u in package.route_units().items() if u == unit} | {"/v1/openapi.json", "/v1/health"}
    assert set(got["paths"]) == expected


def test_cross_domain_reads_are_the_reviewed_ones():
    owners = {package.short_name(m): owner for owner, ms in package.models_by_owner().items() for m in ms}
    derived = {u: sorted({owners[t] for t in package.grants(u)["read"]}) for u in topology.units()}
    assert derived == ALLOWED_READS


@pytest.mark.parametrize("unit", sorted(topology.units()))
def test_a_unit_at_work_imports_no_domain_beyond_its_allowed_reads(unit):
    """Its API entry, then everything it runs later: each of its domains' modules (services load
    lazily on the first request) and its consumers. The role is derived from the imports read
    statically; this proves what really loads stays inside it (own domains, allowed reads, the
    nothing of the units it calls) — a dynamic import the reading missed would fail here."""
    loaded = set(_in_unit(unit, (
        f"events.load_unit({unit!r})\n"
        f"for d in topology.units()[{unit!r}]:\n"
        "    pkg = importlib.import_module(f'chalicelib.{d}')\n"
        "    for m in pkgutil.iter_modules(pkg.__path__):\n"
        "        importlib.import_module(f'chalicelib.{d}.{m.name}')\n"
        f"print(json.dumps({_DOMAINS_LOADED}))\n"))) - {"core"}
    allowed = set(topology.units()[unit]) | set(ALLOWED_READS[unit])
    assert loaded <= allowed, sorted(loaded - allowed)


def test_readme_shows_the_current_subscription_table():
    from infra.subscriptions import table

    readme = open(os.path.join(ROOT, "README.md")).read()
    assert table() in readme, "README's event table is stale: paste `python -m infra.subscriptions`"
