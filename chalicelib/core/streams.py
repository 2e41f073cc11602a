"""Reading the outbox table's DynamoDB stream outside Lambda (the local stack and the tests).

On AWS the event source mapping does this and invokes ``outbox_dispatch``; locally a poller
plays that part with the same records, so the real dispatcher code runs.
"""

import boto3
from botocore.config import Config

from .aws import client


class StreamReader:
    def __init__(self, table_name: str):
        self.table_name = table_name
        self._iterators: dict[str, str] = {}
        # botocore would send stream-ARN calls to an account-specific host that moto does not serve
        self._streams = boto3.client("dynamodbstreams", config=Config(account_id_endpoint_mode="disabled"))

    def _arn(self) -> str:
        return client("dynamodb").describe_table(TableName=self.table_name)["Table"]["LatestStreamArn"]

    def _shards(self, arn: str) -> list[str]:
        return [s["ShardId"] for s in self._streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]]

    def skip_existing(self) -> None:
        """Read only what is written from now on."""
        arn = self._arn()
        for sid in self._shards(arn):
            self._iterators[sid] = self._streams.get_shard_iterator(
                StreamArn=arn, ShardId=sid, ShardIteratorType="LATEST")["ShardIterator"]

    def read(self) -> list[dict]:
        """New records since the last read (INSERTs and all), in stream order."""
        arn = self._arn()
        out: list[dict] = []
        for sid in self._shards(arn):
            it = self._iterators.get(sid) or self._streams.get_shard_iterator(
                StreamArn=arn, ShardId=sid, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            resp = self._streams.get_records(ShardIterator=it)
            out.extend(resp["Records"])
            self._iterators[sid] = resp["NextShardIterator"]
        return out
