"""Reading the outbox table's DynamoDB stream outside Lambda (the local stack and the tests).

On AWS the event source mapping does this and invokes ``outbox_dispatch``; locally a poller
plays that part with the same records, so the real dispatcher code runs.
"""

import boto3
from botocore.config import Config

from .aws import client


class StreamReader:
    """Keeps a sequence-number position per shard and asks for a fresh iterator on every read.

    Stored iterators are not enough with moto: it rolls back a cancelled TransactWriteItems by
    swapping in a copy of the table, stream shard included, so an old iterator would keep
    reading the discarded shard (showing the cancelled write and missing every later one).
    """

    def __init__(self, table_name: str):
        self.table_name = table_name
        self._after: dict[str, str] = {}
        # botocore would send stream-ARN calls to an account-specific host that moto does not serve
        self._streams = boto3.client("dynamodbstreams", config=Config(account_id_endpoint_mode="disabled"))

    def _arn(self) -> str:
        return client("dynamodb").describe_table(TableName=self.table_name)["Table"]["LatestStreamArn"]

    def _shards(self, arn: str) -> list[str]:
        return [s["ShardId"] for s in self._streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]]

    def _drain_shard(self, arn: str, sid: str) -> list[dict]:
        out: list[dict] = []
        while True:
            after = self._after.get(sid)
            kw = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after} if after else \
                {"ShardIteratorType": "TRIM_HORIZON"}
            it = self._streams.get_shard_iterator(StreamArn=arn, ShardId=sid, **kw)["ShardIterator"]
            records = self._streams.get_records(ShardIterator=it, Limit=1000)["Records"]
            if not records:
                return out
            self._after[sid] = records[-1]["dynamodb"]["SequenceNumber"]
            out.extend(records)

    def skip_existing(self) -> None:
        """Read only what is written from now on."""
        self.read()

    def read(self) -> list[dict]:
        """New records since the last read (INSERTs and all), in stream order."""
        arn = self._arn()
        out: list[dict] = []
        for sid in self._shards(arn):
            out.extend(self._drain_shard(arn, sid))
        return out
