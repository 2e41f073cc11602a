"""``python -m infra.package build/package``: turn Chalice's one-handler output into the deployed
shape — one API function and one consumer function per unit (``chalicelib/topology.py``), each
with a least-privilege role derived from the code, the events topic and per-unit queues — and
trim the zip to what the Lambda runtime does not already provide. Run by ``make package`` after
``chalice package --merge-template infra/template.json``.

* **API**: every path/method of the REST API is repointed from Chalice's ``APIHandler`` to the
  function of the domain that registered the route (``http.ROUTES``); a path that maps to no
  domain fails the build. One wildcard invoke permission per function. ``REGIONAL`` endpoint.
* **Roles**: own tables (read/write, indexes Query); other domains' tables read-only where the
  unit's code imports them (``infra/deps.py``), never written: a write into another domain is an
  event, or a synchronous call (``chalicelib/calls.py``) to that unit's ``Call<Unit>`` function,
  which the caller's role may invoke (``sync_calls()``; ``tests/test_package.py`` pins the list);
  shared plumbing tables of the core modules it imports; its parameters, the data key, its queue.
* **Events**: the relay reads both streams with Lambda event filtering (outbox INSERTs, timer
  claims), reports partial batch failures and parks failed batches in ``RelayDLQ``; it publishes
  to ``EventsTopic``; each consuming unit has a queue (visibility = 6 × its consumer's timeout,
  ``maxReceiveCount``) with a DLQ, a subscription filtered on the types it consumes, and a
  consumer with ``ReportBatchItemFailures``.
"""

from __future__ import annotations

import json
import os
import sys
import zipfile
from functools import cache

from infra import deps
from infra.build import PARAMS, PARTITION_ARN, TABLE_ITEM_ACTIONS, _camel, _param_arn, _sub, short_name, table_logical_id

# Provided by the Lambda Python runtime (boto3 and its dependencies), or never used at run time.
PRUNE = ("boto3/", "botocore/", "s3transfer/", "jmespath/", "dateutil/", "urllib3/", "six.py",
         "boto3-", "botocore-", "s3transfer-", "jmespath-", "python_dateutil-", "urllib3-", "six-",
         "aws_lambda_powertools/event_handler/openapi/swagger_ui/")
# Never read at run time: byte code (rebuilt by the runtime), type stubs, C sources, install records.
PRUNE_SUFFIXES = (".pyc", ".pyi", ".c", ".h", ".pyx", ".dist-info/RECORD")
READ_ACTIONS = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem",
                "dynamodb:DescribeTable"]
SIZE_LIMIT = 10 * 1024 * 1024
# Which code reads which parameter (the parameter's name is in settings; the module is the user).
PARAM_USERS = {"SigningKeysParam": "chalicelib.core.tokens", "DataKeyParam": "chalicelib.core.crypto",
               "WechatPayParam": "chalicelib.payments.providers", "AlipayParam": "chalicelib.payments.providers"}
SHARED_MODULES = ("outbox", "timers", "audit", "ratelimit", "idempotency")
LAMBDA_ASSUME = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                         "Action": "sts:AssumeRole"}]}


def camel(name: str) -> str:
    return "".join(p.capitalize() for p in name.replace("-", "_").split("_"))


def api_fn(unit: str) -> str:
    return f"Api{camel(unit)}"


def consumer_fn(unit: str) -> str:
    return f"Consume{camel(unit)}"


def call_fn(unit: str) -> str:
    return f"Call{camel(unit)}"


def role_id(unit: str) -> str:
    return f"{camel(unit)}Role"


# -- what the code says ---------------------------------------------------------------------------
def route_units() -> dict[tuple[str, str], str]:
    from chalicelib import topology
    from chalicelib.core import http
    from chalicelib.domains import DOMAINS, apis

    apis(DOMAINS)
    out = {}
    for spec in http.ROUTES:
        out[(spec.path, spec.method.upper())] = topology.SYSTEM if spec.tag == "system" else topology.unit_of(spec.tag)
    return out


def models_by_owner() -> dict[str, list]:
    """``<domain>`` or ``core.<module>`` → its models."""
    from chalicelib.domains import all_models

    out: dict[str, list] = {}
    for m in all_models():
        parts = m.__module__.split(".")
        owner = f"core.{parts[2]}" if parts[1] == "core" else parts[1]
        out.setdefault(owner, []).append(m)
    return out


def unit_modules(unit: str) -> set[str]:
    from chalicelib import topology

    if unit == topology.SYSTEM:
        return deps.closure(["chalicelib.core.system"])
    roots = [m for d in topology.units()[unit] for m in deps.domain_modules(d)]
    return deps.closure(roots)


def _called(unit: str, leaf: str, writing_only: bool) -> dict[str, list[str]]:
    """Other domains' ``<domain>.<leaf>`` functions that ``unit``'s code calls: domain → names."""
    from chalicelib import topology
    from chalicelib.domains import DOMAINS

    own = topology.units().get(unit, ())
    out: dict[str, list[str]] = {}
    for d in own:
        for other in DOMAINS:
            if other in own:
                continue
            target = f"chalicelib.{other}.{leaf}"
            accessors = {a for m in deps.domain_modules(d) for a in deps.accessors_of(m, target)}
            for m in deps.domain_modules(d):
                called = deps.calls_into(m, target, accessors)
                if writing_only:
                    called &= deps.writers(target)
                if called:
                    out[other] = sorted(set(out.get(other, [])) | called)
    return out


def sync_writes(unit: str) -> dict[str, list[str]]:
    """Other domains whose tables ``unit`` would write because its code calls a writing function
    of their service in-process: domain → the functions called (should stay empty: a write into
    another domain is an event or a call to its function, ``sync_calls``)."""
    return _called(unit, "service", writing_only=True)


def sync_calls(unit: str) -> dict[str, list[str]]:
    """Other units' call functions ``unit`` invokes (``chalicelib/calls.py``): callee domain →
    the calls made. Its role may invoke those functions and nothing of their tables."""
    return _called(unit, "calls", writing_only=False)


@cache
def called_units(unit: str) -> tuple[str, ...]:
    """The units whose ``Call<Unit>`` function ``unit`` invokes (read once per unit: its role,
    and the environment of each of its functions, need it)."""
    from chalicelib import topology

    return tuple(sorted({topology.unit_of(d) for d in sync_calls(unit)}))


def callees() -> list[str]:
    """Units that answer synchronous calls (each gets a ``Call<Unit>`` function)."""
    from chalicelib import topology

    return sorted({u for caller in topology.units() for u in called_units(caller)})


def grants(unit: str) -> dict:
    """What ``unit``'s role allows, as data (tables to write, tables to read, params, extras)."""
    from chalicelib import topology
    from chalicelib.domains import DOMAINS

    mods = unit_modules(unit)
    owners = models_by_owner()
    own = topology.units().get(unit, ())
    touched = {m.split(".")[1] for m in mods if m.count(".") >= 2 and m.split(".")[1] in DOMAINS}
    written = set(own) | set(sync_writes(unit))
    write = [m for d in sorted(written) for m in owners.get(d, [])]
    read = [m for d in sorted(touched - written) for m in owners.get(d, [])]
    shared = [m for s in SHARED_MODULES if f"chalicelib.core.{s}" in mods for m in owners.get(f"core.{s}", [])]
    sources = {m: open(deps.module_path(m)).read() for m in mods if deps.module_path(m)}
    return {
        "write": sorted({short_name(m) for m in write + shared}),
        "read": sorted({short_name(m) for m in read}),
        "params": sorted(p for p, user in PARAM_USERS.items() if user in mods),
        "sms": any('client("sns")' in src for m, src in sources.items() if m.startswith("chalicelib.accounts")),
        # bucket prefixes: follow-up writes research exports, messaging conversation media
        "s3": sorted({"exports" if m.startswith("chalicelib.followup") else "conversations"
                      for m, src in sources.items() if 'client("s3")' in src}),
    }


# -- template pieces ------------------------------------------------------------------------------
def _table_arn(short: str) -> dict:
    return {"Fn::GetAtt": [f"Table{_camel(short)}", "Arn"]}


def _index_arn(short: str) -> dict:
    return _sub(f"${{Table{_camel(short)}.Arn}}/index/*")


def _logs() -> dict:
    return {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": _sub(f"{PARTITION_ARN}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:/aws/lambda/*")}


def _xray() -> dict:  # X-Ray has no resource-level permissions
    return {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Resource": "*"}


def _decrypt() -> dict:
    return {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": {"Fn::GetAtt": ["DataKey", "Arn"]}}


def _role(name: str, statements: list[dict]) -> dict:
    return {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": LAMBDA_ASSUME,
        "Policies": [{"PolicyName": name, "PolicyDocument": {"Version": "2012-10-17",
                                                             "Statement": [_logs(), _xray(), *statements]}}]}}


def unit_statements(unit: str, has_queue: bool) -> list[dict]:
    g = grants(unit)
    out = []
    if g["write"]:
        out.append({"Sid": "OwnAndSharedTables", "Effect": "Allow", "Action": TABLE_ITEM_ACTIONS,
                    "Resource": [_table_arn(t) for t in g["write"]]})
        out.append({"Sid": "OwnAndSharedIndexes", "Effect": "Allow", "Action": ["dynamodb:Query"],
                    "Resource": [_index_arn(t) for t in g["write"]]})
    if g["read"]:
        out.append({"Sid": "ReadOtherDomains", "Effect": "Allow", "Action": READ_ACTIONS,
                    "Resource": [_table_arn(t) for t in g["read"]] + [_index_arn(t) for t in g["read"]]})
    if g["params"]:
        out.append({"Effect": "Allow", "Action": ["ssm:GetParameter"], "Resource": [_param_arn(p) for p in g["params"]]})
    if g["sms"]:  # SMS to a phone number has no resource ARN to scope to
        out.append({"Effect": "Allow", "Action": ["sns:Publish"], "Resource": "*"})
    if g["s3"]:
        out.append({"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"],
                    "Resource": [_sub(f"${{AttachmentsBucket.Arn}}/{p}/*") for p in g["s3"]]})
    called = called_units(unit)
    if called:
        out.append({"Sid": "CallOtherUnits", "Effect": "Allow", "Action": ["lambda:InvokeFunction"],
                    "Resource": [{"Fn::GetAtt": [call_fn(u), "Arn"]} for u in called]})
    if has_queue:
        out.append({"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                                                   "sqs:ChangeMessageVisibility"],
                    "Resource": {"Fn::GetAtt": [f"{camel(unit)}Queue", "Arn"]}})
    out.append(_decrypt())
    return out


def _function(base: dict, handler: str, unit: str, settings, role: str, events: dict | None = None) -> dict:
    props = {k: base[k] for k in ("Runtime", "CodeUri", "Tags", "Tracing", "Architectures") if k in base}
    env = dict(base.get("Environment", {}).get("Variables", {}))
    env["SUIZHEN_UNIT"] = unit
    called = called_units(unit)
    if called:  # chalicelib/calls.py: which function answers each callee unit
        env["SUIZHEN_CALL_FUNCTIONS"] = _sub(json.dumps({u: f"${{{call_fn(u)}}}" for u in called}))
    props.update({"Handler": handler, "MemorySize": settings.memory_mb, "Timeout": settings.timeout_s,
                  "Role": {"Fn::GetAtt": [role, "Arn"]}, "Environment": {"Variables": env}})
    if settings.reserved_concurrency is not None:
        props["ReservedConcurrentExecutions"] = settings.reserved_concurrency
    if events:
        props["Events"] = events
    return {"Type": "AWS::Serverless::Function", "Properties": props}


def _apply(fn: dict, settings) -> None:
    fn["Properties"]["MemorySize"] = settings.memory_mb
    fn["Properties"]["Timeout"] = settings.timeout_s
    if settings.reserved_concurrency is not None:
        fn["Properties"]["ReservedConcurrentExecutions"] = settings.reserved_concurrency


def transform(t: dict) -> dict:
    from chalicelib import events, topology
    from chalicelib.core.outbox import OutboxEvent
    from chalicelib.core.timers import Timer

    res = t["Resources"]
    base = res.pop("APIHandler")["Properties"]
    res.pop("APIHandlerInvokePermission", None)
    res.pop("ApiHandlerRole", None)
    for name in ("APIHandlerName", "APIHandlerArn"):
        t.get("Outputs", {}).pop(name, None)
    rest = res["RestAPI"]["Properties"]
    if rest.get("EndpointConfiguration") != "REGIONAL":
        raise SystemExit("the REST API must be REGIONAL (edge endpoints do not exist in AWS China): "
                         "set api_gateway_endpoint_type in .chalice/config.json")

    # API: one function per unit, every path repointed
    routes = route_units()
    served: set[str] = set()
    for path, methods in rest["DefinitionBody"]["paths"].items():
        for method, op in methods.items():
            integ = op.get("x-amazon-apigateway-integration", {})
            if integ.get("type") != "aws_proxy":
                continue
            unit = routes.get((path, method.upper()))
            if unit is None:
                raise SystemExit(f"{method.upper()} {path} maps to no domain: register it with Api(<domain>).route")
            integ["uri"] = _sub(f"{PARTITION_ARN}:apigateway:${{AWS::Region}}:lambda:path/2015-03-31/functions/"
                                f"${{{api_fn(unit)}.Arn}}/invocations")
            served.add(unit)
    subs = events.subscriptions()
    consuming = sorted({u for us in subs.values() for u in us})
    units = topology.units()
    unknown = [u for u in consuming if u not in units]
    if unknown:
        raise SystemExit(f"consumers outside any deployed domain: {unknown} (register them in chalicelib/<domain>/)")
    for unit in sorted(served):
        res[api_fn(unit)] = _function(base, "chalicelib.entry.api_handler", unit, topology.api_settings(unit), role_id(unit))
        res[f"{api_fn(unit)}InvokePermission"] = {"Type": "AWS::Lambda::Permission", "Properties": {
            "Action": "lambda:InvokeFunction", "FunctionName": {"Ref": api_fn(unit)},
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": _sub(f"{PARTITION_ARN}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{RestAPI}}/*")}}

    # Events: topic, per-unit queues, subscriptions, consumers
    res["EventsTopic"] = {"Type": "AWS::SNS::Topic", "Properties": {
        "TopicName": _sub("suizhen-${Stage}-events"), "KmsMasterKeyId": {"Ref": "DataKey"}}}
    for unit in consuming:
        qs = topology.queue_settings(unit)
        types = [t for t, us in subs.items() if unit in us]
        if len(types) > 150:
            raise SystemExit(f"{unit} consumes {len(types)} event types: an SNS filter policy takes ≤150 values")
        q, dlq = f"{camel(unit)}Queue", f"{camel(unit)}DLQ"
        res[dlq] = {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": _sub(f"suizhen-${{Stage}}-{unit}-events-dlq"), "MessageRetentionPeriod": 1209600,
            "SqsManagedSseEnabled": True}}
        res[q] = {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": _sub(f"suizhen-${{Stage}}-{unit}-events"), "VisibilityTimeout": qs.visibility_timeout_s,
            "SqsManagedSseEnabled": True,
            "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]}, "maxReceiveCount": qs.max_receive_count}}}
        res[f"{q}Policy"] = {"Type": "AWS::SQS::QueuePolicy", "Properties": {
            "Queues": [{"Ref": q}], "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
                "Resource": {"Fn::GetAtt": [q, "Arn"]}, "Condition": {"ArnEquals": {"aws:SourceArn": {"Ref": "EventsTopic"}}}}]}}}
        res[f"{camel(unit)}Subscription"] = {"Type": "AWS::SNS::Subscription", "Properties": {
            "TopicArn": {"Ref": "EventsTopic"}, "Protocol": "sqs", "Endpoint": {"Fn::GetAtt": [q, "Arn"]},
            "RawMessageDelivery": True, "FilterPolicyScope": "MessageAttributes", "FilterPolicy": {"type": types}}}
        res[consumer_fn(unit)] = _function(base, "chalicelib.entry.consume", unit, qs.consumer, role_id(unit), {
            "Queue": {"Type": "SQS", "Properties": {
                "Queue": {"Fn::GetAtt": [q, "Arn"]}, "BatchSize": qs.batch_size,
                "MaximumBatchingWindowInSeconds": qs.batching_window_s,
                "FunctionResponseTypes": ["ReportBatchItemFailures"]}}})
    # Synchronous calls: a call function per callee unit, invoked only by its callers' roles
    answering = callees()
    for unit in answering:
        res[call_fn(unit)] = _function(base, "chalicelib.entry.answer", unit, topology.CALLS, role_id(unit))
    for unit in sorted(set(served) | set(consuming) | set(answering)):
        res[role_id(unit)] = _role(camel(unit), unit_statements(unit, unit in consuming))

    # Relay: both streams, filtered, partial failures, DLQ
    outbox_t, timers_t = table_logical_id(OutboxEvent), table_logical_id(Timer)
    relay = res["OutboxRelay"]
    _apply(relay, topology.RELAY)
    relay["Properties"]["Environment"]["Variables"]["SUIZHEN_EVENTS_TOPIC_ARN"] = {"Ref": "EventsTopic"}
    common = {"BatchSize": topology.RELAY_BATCH_SIZE, "StartingPosition": "TRIM_HORIZON",
              "MaximumBatchingWindowInSeconds": topology.RELAY_BATCHING_WINDOW_S,
              "FunctionResponseTypes": ["ReportBatchItemFailures"], "MaximumRetryAttempts": 10,
              "DestinationConfig": {"OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": ["RelayDLQ", "Arn"]}}}}
    relay["Properties"]["Events"] = {
        "OutboxRelayDynamodbEventSource": {"Type": "DynamoDB", "Properties": {
            **common, "Stream": {"Fn::GetAtt": [outbox_t, "StreamArn"]},
            "FilterCriteria": {"Filters": [{"Pattern": json.dumps(events.STREAM_FILTER)}]}}},
        "TimersRelayDynamodbEventSource": {"Type": "DynamoDB", "Properties": {
            **common, "Stream": {"Fn::GetAtt": [timers_t, "StreamArn"]},
            "FilterCriteria": {"Filters": [{"Pattern": json.dumps(events.TIMER_FILTER)}]}}}}
    res["RelayDLQ"] = {"Type": "AWS::SQS::Queue", "Properties": {
        "QueueName": _sub("suizhen-${Stage}-relay-dlq"), "MessageRetentionPeriod": 1209600, "SqsManagedSseEnabled": True}}
    res["OutboxRelayRole"] = _role("OutboxRelay", [
        {"Effect": "Allow", "Action": ["dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream",
                                       "dynamodb:ListStreams"],
         "Resource": [{"Fn::GetAtt": [outbox_t, "StreamArn"]}, {"Fn::GetAtt": [timers_t, "StreamArn"]}]},
        {"Effect": "Allow", "Action": ["sns:Publish"], "Resource": {"Ref": "EventsTopic"}},
        {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": {"Fn::GetAtt": ["RelayDLQ", "Arn"]}},
        _decrypt()])

    # Sweep and authorizer
    _apply(res["TimerSweep"], topology.SWEEP)
    res["TimerSweepRole"] = _role("TimerSweep", [
        {"Effect": "Allow", "Action": ["dynamodb:Query"], "Resource": _sub(f"${{{timers_t}.Arn}}/index/due")},
        {"Effect": "Allow", "Action": ["dynamodb:UpdateItem"], "Resource": {"Fn::GetAtt": [timers_t, "Arn"]}},
        _decrypt()])
    _apply(res["TokenAuthorizer"], topology.AUTHORIZER)
    res["TokenAuthorizerRole"] = _role("TokenAuthorizer", [
        {"Effect": "Allow", "Action": ["ssm:GetParameter"], "Resource": _param_arn("SigningKeysParam")}, _decrypt()])
    assert set(PARAM_USERS) == set(PARAMS)
    return t


def prune_zip(path: str) -> None:
    tmp = path + ".tmp"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for info in src.infolist():
            name = info.filename
            if name.startswith(PRUNE) or name.endswith(PRUNE_SUFFIXES) or _is_vendored_test(name):
                continue
            dst.writestr(info, src.read(name), compresslevel=9)
    os.replace(tmp, path)


def _is_vendored_test(name: str) -> bool:
    """A third-party package's own test suite (icalendar ships ~1 MB of it); never our code."""
    if name.startswith(("chalicelib/", "app.py")):
        return False
    return "/__pycache__/" in name or "/tests/" in name or "/test/" in name


def functions(t: dict) -> list[tuple[str, str, int, int]]:
    return sorted((k, r["Properties"]["Handler"], r["Properties"].get("MemorySize", 0), r["Properties"].get("Timeout", 0))
                  for k, r in t["Resources"].items() if r.get("Type") == "AWS::Serverless::Function")


def main(argv: list[str]) -> int:
    out = argv[0] if argv else "build/package"
    os.environ.setdefault("SUIZHEN_TABLE_PREFIX", "suizhen-dev-")
    sam = os.path.join(out, "sam.json")
    t = transform(json.load(open(sam)))
    with open(sam, "w") as f:
        json.dump(t, f, indent=2, ensure_ascii=False)
    zpath = os.path.join(out, "deployment.zip")
    before = os.path.getsize(zpath)
    prune_zip(zpath)
    size = os.path.getsize(zpath)
    print(f"deployment.zip: {size / 1e6:.2f} MB zipped (was {before / 1e6:.2f} MB before pruning what the "
          f"runtime provides); every function below ships this one zip")
    print(f"{'function':24} {'handler':32} {'MB':>5} {'s':>4}  zip")
    for name, handler, mem, timeout in functions(t):
        print(f"{name:24} {handler:32} {mem:5} {timeout:4}  {size / 1e6:.2f} MB")
    if size > SIZE_LIMIT:
        print(f"package is over {SIZE_LIMIT / 1e6:.0f} MB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
