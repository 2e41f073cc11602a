"""The local stack's moto server rolls a refused ``TransactWriteItems`` back from an undo log of the
items it names (``devstack/motoserver.py``), as completely as moto's copies of whole tables did:
items, new items and stream records all as before."""

import botocore.session
import pytest

from devstack.motoserver import MotoServer

pytestmark = pytest.mark.enable_socket


@pytest.fixture
def ddb():
    server = MotoServer("127.0.0.1", 0).start()
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
