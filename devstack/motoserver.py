"""The local stack's AWS endpoint: moto's server, with DynamoDB requests taken one at a time.

moto does not keep DynamoDB's promises under concurrent requests: ``TransactWriteItems``
checks conditions and writes item by item without a lock, and a cancelled transaction restores a
copy of the whole table taken when it began — wiping writes that other requests made meanwhile
and answered 200 — while concurrent requests can fail with 500 (``dictionary changed size during
iteration``). DynamoDB itself makes each request atomic and isolated, so the endpoint lets one
DynamoDB (or DynamoDB Streams) request into moto at a time. moto answers each in milliseconds
and holds no DynamoDB request open, so nothing waits long; other services (SQS long polls, S3,
SSM) stay concurrent.

moto also rolls a ``TransactWriteItems`` back by deep-copying every table it touches before it
writes — the whole table with its stream records, on every transaction, so a group send's
thousandth message costs a thousand times its first (a 1,000-recipient send did not finish in
10 minutes and grew the process past 7 GB). :func:`undo_log_transactions` keeps the rollback but
makes it DynamoDB-sized: it copies only the items the transaction names and how long each
touched table's stream is, and on a refusal puts those items back and drops the stream records
written meanwhile. Requests run one at a time (above), so nothing else writes in between.

moto's answers cost more to write than the work behind them, a fixed cost per call, not one that
grows with the table (a conditional ``UpdateItem`` ~10 ms of CPU, a ``GetItem`` ~4 ms):
:func:`fast_dynamodb_answers` says why and takes the short way, the bytes of every answer the same
(tests/test_devstack_moto.py).
"""

from __future__ import annotations

import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

SERIALISED_TARGETS = ("DynamoDB_", "DynamoDBStreams_")


def takes_turns(target: str | bytes | None) -> bool:
    """Whether a request (by its ``X-Amz-Target``) goes into moto one at a time: DynamoDB's and
    Streams' do."""
    if isinstance(target, bytes):
        target = target.decode()
    return (target or "").startswith(SERIALISED_TARGETS)


class Serialised:
    """WSGI middleware: requests whose ``X-Amz-Target`` names DynamoDB run one at a time, from
    reading the body to the last byte of the answer."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if not takes_turns(environ.get("HTTP_X_AMZ_TARGET")):
            return self.app(environ, start_response)
        with self.lock:
            result = self.app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close:
                    close()


def in_process() -> None:
    """moto in this process as the local stack's server runs it (tests, the bench; idempotent):
    DynamoDB requests one at a time, transactions rolled back from an undo log, answers written
    the short way."""
    one_dynamodb_request_at_a_time()
    undo_log_transactions()
    fast_dynamodb_answers()


def one_dynamodb_request_at_a_time() -> None:
    """In-process moto (``mock_aws``) answers a request in the calling thread, so threads that call
    DynamoDB at once (the timer sweep's, one per shard) are in moto at once, without the lock
    :class:`Serialised` gives the server. Besides the transactions above, moto numbers a stream
    record by the stream's length before appending it: two writes at once could share a number,
    and a reader that asks for the records after one it read gets the other again. This takes
    DynamoDB (and Streams) requests into moto one at a time, by the same rule (:func:`takes_turns`)."""
    from moto.core.botocore_stubber import BotocoreStubber

    process_request = BotocoreStubber.process_request
    if getattr(process_request, "serialised", False):
        return
    lock = threading.RLock()

    def serialised(self, request):
        if not takes_turns(request.headers.get("X-Amz-Target")):
            return process_request(self, request)
        with lock:
            return process_request(self, request)

    serialised.serialised = True  # type: ignore[attr-defined]
    BotocoreStubber.process_request = serialised  # type: ignore[method-assign]


def undo_log_transactions() -> None:
    """Make moto's ``TransactWriteItems`` roll back from an undo log of the items it names instead
    of copies of whole tables (idempotent; the local stack's server only)."""
    import copy

    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    backend = models.DynamoDBBackend
    if getattr(backend.transact_write_items, "undo_log", False):
        return
    local = threading.local()

    class TablesByReference:
        """``copy`` as moto's module sees it: a table is 'copied' by reference while a transaction
        runs with an undo log, so moto's own restore puts back the same table (a no-op)."""

        def __getattr__(self, name):
            return getattr(copy, name)

        @staticmethod
        def deepcopy(obj, memo=None):
            if getattr(local, "by_reference", False) and isinstance(obj, Table):
                return obj
            return copy.deepcopy(obj, memo)

    models.copy = TablesByReference()  # type: ignore[assignment]
    original = backend.transact_write_items

    def snapshot(self, transact_items):
        items: list[tuple] = []
        streams: dict[int, tuple] = {}
        for entry in transact_items:
            op_type, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue  # moto refuses the transaction before writing anything
            attrs = op["Item"] if op_type == "Put" else op["Key"]
            h = DynamoType(attrs[table.hash_key_attr])
            r = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
            items.append((table, h, r, copy.deepcopy(table.get_item(h, r))))
            if table.stream_shard is not None:
                streams.setdefault(id(table), (table.stream_shard, len(table.stream_shard.items)))
        return items, list(streams.values())

    def restore(items, streams) -> None:
        for table, h, r, old in reversed(items):
            if old is None:
                (table.items[h].pop(r, None) if r is not None else table.items.pop(h, None))
            elif r is not None:
                table.items[h][r] = old
            else:
                table.items[h] = old
        for shard, length in streams:
            del shard.items[length:]

    def transact_write_items(self, transact_items):
        try:
            items, streams = snapshot(self, transact_items)
        except Exception:  # a malformed request: moto answers it with its own checks and copies
            return original(self, transact_items)
        local.by_reference = True
        try:
            return original(self, transact_items)
        except Exception:
            restore(items, streams)
            raise
        finally:
            local.by_reference = False

    transact_write_items.undo_log = True  # type: ignore[attr-defined]
    backend.transact_write_items = transact_write_items  # type: ignore[method-assign]


# The services whose answers take the short way (their answers are plain dicts in wire format).
FAST_SERVICES = ("dynamodb", "dynamodbstreams")


def fast_dynamodb_answers() -> None:
    """Make moto write DynamoDB's answers without looking every member up under its aliases, and
    list a handler's methods once per class (idempotent; tests and the local stack).

    moto's serializer finds each member of an answer's structure by trying its spellings in turn —
    for ``SS`` of an ``AttributeValue``: ``StringSetAttributeValue``, ``string_set_attribute_value``,
    ``SS``, ``ss`` — for every member of every structure, present or not: ten members per
    attribute value, seven per ``ConsumedCapacity``. DynamoDB's handlers answer with plain dicts
    keyed by the members' own names. For a structure none of whose members has a spelling that is
    another member's name (worked out once per shape, from moto's own alias rules), the search in
    such a dict finds exactly ``value.get(member)``: the short way writes those members, each by
    moto's own code (strings, base64, numbers, nested maps and lists), so the answer's bytes do not
    change (tests/test_devstack_moto.py). Anything else — an object, a dict with a key that is no
    member's name, a registered response transformer (``_exclude_from_response``, which DynamoDB
    never uses) — takes moto's way.
    """
    import functools

    from moto.core import responses, serialize, utils

    base = serialize.BaseJSONSerializer
    if getattr(base._serialize_type_structure, "fast", False):
        return
    original = base._serialize_type_structure
    plain: dict[tuple, bool] = {}  # (picker type, service, shape) → a dict's members are found by name alone

    def found_by_name_alone(self, shape) -> bool:
        key = (type(self._value_picker), self.service_model.service_name, shape.name)
        if key not in plain:
            names = shape.members.keys()
            spellings: set[str] = set()
            for member_key, member_shape in shape.members.items():
                member_shape.parent = shape
                context = serialize.AttributePickerContext(
                    obj={}, key=member_key, shape=member_shape, operation_model=self.operation_model,
                    service_model=self.service_model)
                spellings.update(k for k in self._value_picker.get_possible_keys(context) if k != member_key)
            plain[key] = not (spellings & names)
        return plain[key]

    def _serialize_type_structure(self, serialized, value, shape, key):
        if (type(value) is dict and self.service_model.service_name in FAST_SERVICES
                and not shape.is_document_type and value.keys() <= shape.members.keys()
                and not getattr(self._value_picker, "response_transformers", None)
                and hasattr(self._value_picker, "get_possible_keys") and found_by_name_alone(self, shape)):
            wrapper: dict = {} if key else serialized
            for member_key, member_shape in shape.members.items():
                member_shape.parent = shape  # as moto's loop does (its aliases read it)
                member_value = value.get(member_key)
                if member_value is not None:
                    self._serialize(wrapper, member_value, member_shape, member_key)
            if key:
                self._default_serialize(serialized, wrapper, shape, key)
            return
        original(self, serialized, value, shape, key)

    _serialize_type_structure.fast = True  # type: ignore[attr-defined]
    _serialize_type_structure.original = original  # type: ignore[attr-defined]
    base._serialize_type_structure = _serialize_type_structure  # type: ignore[method-assign]
    # A handler class's methods do not change while moto serves it; moto re-lists them
    # (inspect.getmembers over ~100 attributes) on every request to find the action's method.
    responses.method_names_from_class = functools.cache(utils.method_names_from_class)


class MotoServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        undo_log_transactions()
        fast_dynamodb_answers()
        app = Serialised(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="moto")

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> MotoServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
