"""The local stack's moto server rolls a refused ``TransactWriteItems`` back from an undo log of the
items it names (``devstack/motoserver.py``), as completely as moto's copies of whole tables did:
items, new items and stream records all as before."""

import botocore.session
import pytest

from devstack.motoserver import MotoServer

pytestmark = pytest.mark.enable_socket


# moto's state is the process's: each test's tables go when it ends (the next one makes them anew).
TABLES = ("conv", "msg", "kinds")


@pytest.fixture
def ddb():
    server = MotoServer("127.0.0.1", 0).start()
    c = None
    try:
        c = botocore.session.get_session().create_client(
            "dynamodb", region_name="cn-north-1", endpoint_url=server.url, aws_access_key_id="t",
            aws_secret_access_key="t")
        for name, keys in (("conv", [("id", "HASH")]), ("msg", [("id", "HASH"), ("seq", "RANGE")])):
            c.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                           KeySchema=[{"AttributeName": a, "KeyType": k} for a, k in keys],
                           AttributeDefinitions=[{"AttributeName": a, "AttributeType": "N" if a == "seq" else "S"}
                                                 for a, _ in keys],
                           StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
        yield c
    finally:
        if c is not None:
            for name in set(TABLES) & set(c.list_tables()["TableNames"]):
                c.delete_table(TableName=name)
        server.stop()


def _state(c):
    items = {t: sorted(str(i) for i in c.scan(TableName=t)["Items"]) for t in ("conv", "msg")}
    streams = botocore.session.get_session().create_client(
        "dynamodbstreams", region_name="cn-north-1", endpoint_url=c.meta.endpoint_url, aws_access_key_id="t",
        aws_secret_access_key="t")
    records = {}
    for t in ("conv", "msg"):
        arn = c.describe_table(TableName=t)["Table"]["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        records[t] = len(streams.get_records(ShardIterator=it["ShardIterator"])["Records"])
    return items, records


def _send(seq: int, expect: int, dup: bool = False) -> list[dict]:
    ops = [{"Put": {"TableName": "msg", "Item": {"id": {"S": "c1"}, "seq": {"N": str(seq)}, "text": {"S": "hi"}},
                    "ConditionExpression": "attribute_not_exists(seq)"}},
           {"Update": {"TableName": "conv", "Key": {"id": {"S": "c1"}}, "UpdateExpression": "SET seq = :n",
                       "ConditionExpression": "seq = :e",
                       "ExpressionAttributeValues": {":n": {"N": str(seq)}, ":e": {"N": str(expect)}}}}]
    if dup:
        ops.append({"Delete": {"TableName": "conv", "Key": {"id": {"S": "c1"}}}})
    return ops


def test_a_refused_transaction_leaves_items_and_streams_as_they_were(ddb):
    ddb.put_item(TableName="conv", Item={"id": {"S": "c1"}, "seq": {"N": "1"}})
    ddb.transact_write_items(TransactItems=_send(2, 1))
    before = _state(ddb)
    assert before[1] == {"conv": 2, "msg": 1}
    # the message put is applied first, then the conversation's condition fails: both undone
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(TransactItems=_send(3, 1))
    assert _state(ddb) == before
    with pytest.raises(ddb.exceptions.ClientError):  # two operations on one item: refused whole
        ddb.transact_write_items(TransactItems=_send(3, 2, dup=True))
    assert _state(ddb) == before
    ddb.transact_write_items(TransactItems=_send(3, 2))
    items, records = _state(ddb)
    assert records == {"conv": 3, "msg": 2} and len(items["msg"]) == 2
    assert "'seq': {'N': '3'}" in items["conv"][0]


# -- fast_dynamodb_answers: the same bytes as moto's own serializer ---------------------------------

def _every_kind(n: int) -> dict:
    """An item with every kind of attribute value, nested ones included."""
    return {"id": {"S": f"k{n}"}, "seq": {"N": str(n)}, "s": {"S": ""}, "n": {"N": "-1.5e3"},
            "b": {"B": b"\x00\xffbin"}, "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]},
            "bs": {"BS": [b"\x01", b"\x02\x03"]}, "null": {"NULL": True}, "t": {"BOOL": True}, "f": {"BOOL": False},
            "m": {"M": {"inner": {"M": {"deep": {"L": [{"S": "x"}, {"N": "3"}, {"NULL": True}, {"B": b"\x07"}]}}},
                        "SS": {"S": "a map key named like a member"}, "empty": {"M": {}}}},
            "l": {"L": [{"M": {"a": {"BOOL": False}}}, {"L": []}, {"SS": ["z"]}]}}


def test_answers_written_the_short_way_are_byte_for_byte_moto_s_own(ddb, monkeypatch):
    """Every DynamoDB and DynamoDB Streams answer the server writes while this runs is written
    twice, with the patch and with moto's own serializer, and must be the same bytes."""
    from moto.core import responses
    from moto.core.serialize import BaseJSONSerializer

    fast = BaseJSONSerializer._serialize_type_structure
    assert getattr(fast, "fast", False), "MotoServer installs fast_dynamodb_answers"
    real_execute = responses.ActionResult.execute_result
    compared: list[str] = []
    different: list[tuple] = []

    def both_ways(self, context):  # runs in the server's thread: what differs is kept for the test
        answer = real_execute(self, context)
        BaseJSONSerializer._serialize_type_structure = fast.original
        try:
            own = real_execute(self, context)
        finally:
            BaseJSONSerializer._serialize_type_structure = fast
        compared.append(str(context.operation_model.name))
        if answer != own:
            different.append((compared[-1], answer, own))
        return own

    monkeypatch.setattr(responses.ActionResult, "execute_result", both_ways)
    ddb.create_table(TableName="kinds", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "seq", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"},
                                           {"AttributeName": "seq", "AttributeType": "N"}],
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    for n in range(3):
        assert ddb.put_item(TableName="kinds", Item=_every_kind(n), ReturnValues="ALL_OLD",
                            ReturnConsumedCapacity="TOTAL").get("Attributes") is None
    key = {"id": {"S": "k1"}, "seq": {"N": "1"}}
    old = ddb.put_item(TableName="kinds", Item=_every_kind(1), ReturnValues="ALL_OLD")["Attributes"]
    assert old["b"] == {"B": b"\x00\xffbin"} and old["m"]["M"]["inner"]["M"]["deep"]["L"][3] == {"B": b"\x07"}
    assert ddb.get_item(TableName="kinds", Key=key, ConsistentRead=True)["Item"] == old
    for rv in ("ALL_NEW", "ALL_OLD", "UPDATED_NEW", "UPDATED_OLD", "NONE"):
        ddb.update_item(TableName="kinds", Key=key, UpdateExpression="SET #s = :s, l[0].a = :t REMOVE ns ADD c :one",
                        ExpressionAttributeNames={"#s": "s"},
                        ExpressionAttributeValues={":s": {"S": rv}, ":t": {"BOOL": True}, ":one": {"N": "1"}},
                        ReturnValues=rv)
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException) as refused:
        ddb.update_item(TableName="kinds", Key=key, UpdateExpression="SET s = :s", ConditionExpression="attribute_not_exists(id)",
                        ExpressionAttributeValues={":s": {"S": "no"}}, ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert refused.value.response["Item"]["bs"] == {"BS": [b"\x01", b"\x02\x03"]}
    page = ddb.query(TableName="kinds", KeyConditionExpression="id = :k", ExpressionAttributeValues={":k": {"S": "k0"}})
    assert page["Count"] == 1
    page = ddb.scan(TableName="kinds", Limit=2)
    assert "LastEvaluatedKey" in page
    ddb.scan(TableName="kinds", ExclusiveStartKey=page["LastEvaluatedKey"], ProjectionExpression="m.inner, l[1]")
    ddb.batch_get_item(RequestItems={"kinds": {"Keys": [key, {"id": {"S": "k2"}, "seq": {"N": "2"}}]}})
    ddb.transact_get_items(TransactItems=[{"Get": {"TableName": "kinds", "Key": key}}])
    ddb.delete_item(TableName="kinds", Key={"id": {"S": "k2"}, "seq": {"N": "2"}}, ReturnValues="ALL_OLD")
    ddb.describe_table(TableName="kinds")
    streams = botocore.session.get_session().create_client(
        "dynamodbstreams", region_name="cn-north-1", endpoint_url=ddb.meta.endpoint_url, aws_access_key_id="t",
        aws_secret_access_key="t")
    arn = ddb.describe_table(TableName="kinds")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = streams.get_records(ShardIterator=it)["Records"]
    assert [r["eventName"] for r in records] == ["INSERT"] * 3 + ["MODIFY"] * 6 + ["REMOVE"]
    assert records[3]["dynamodb"]["OldImage"]["ns"] == {"NS": ["1", "2.5"]}
    assert different == []
    for op in ("PutItem", "GetItem", "UpdateItem", "Query", "Scan", "BatchGetItem", "TransactGetItems", "DeleteItem",
               "GetRecords"):
        assert op in compared


def test_the_short_way_asks_no_alias_for_plain_answers():
    """The patch is in force (a GetItem's answer is written without a look-up per member), and a
    dict that is not plain wire format still takes moto's own way."""
    from moto.core.serialize import JSONSerializer, XFormedAttributePicker
    from moto.core.utils import get_service_model

    from devstack.motoserver import fast_dynamodb_answers

    fast_dynamodb_answers()
    asked: list[str] = []

    class Picker(XFormedAttributePicker):
        def __call__(self, context):
            asked.append(context.key)
            return super().__call__(context)

    op = get_service_model("dynamodb").operation_model("GetItem")
    body = JSONSerializer(operation_model=op, value_picker=Picker()).serialize(
        {"Item": {"a": {"S": "x"}, "b": {"M": {"c": {"N": "1"}}}}, "ConsumedCapacity": {"TableName": "t"}})["body"]
    assert body == '{"Item": {"a": {"S": "x"}, "b": {"M": {"c": {"N": "1"}}}}, "ConsumedCapacity": {"TableName": "t"}}'
    assert asked == []
    JSONSerializer(operation_model=op, value_picker=Picker()).serialize({"Item": {"a": {"s": "x"}}})
    assert "S" in asked  # not wire format: moto's look-up, aliases and all


def test_in_process_moto_takes_one_dynamodb_request_at_a_time(aws, clock):
    """The sweep's threads claim timers at once. moto numbers a stream record by the stream's
    length before appending it, so two writes at once could share a number, and a reader asking
    for the records after the last one it read got that last one again, forever (how a CI run
    sat in the tests' stream reader until its time ran out). In-process moto now takes DynamoDB
    requests one at a time, as the local stack's server does: every record has its own number."""
    import sys

    from chalicelib.core import timers
    from tests.support import moto_tables

    n = 120
    for i in range(n):
        timers.schedule("test-race", clock.now(), {"i": i})
    shard = moto_tables()[timers.Timer.Meta.table_name].stream_shard
    before = len(shard.items)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can: races show at once
    try:
        assert timers.sweep() == n
    finally:
        sys.setswitchinterval(interval)
    numbers = [int(r.record["dynamodb"]["SequenceNumber"]) for r in shard.items]
    assert len(shard.items) - before == n  # one record per claim
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))  # each its own, in order
