"""infra/ declares what the code needs: every table as the PynamoDB models define it, linted,
least-privilege IAM, and the committed template current."""

import json
import os

import pytest
from pynamodb.attributes import TTLAttribute

from chalicelib.domains import all_models
from infra import build

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATE = json.load(open(os.path.join(ROOT, "infra", "template.json")))


def _tables() -> dict[str, dict]:
    out = {}
    for res in TEMPLATE["Resources"].values():
        if res.get("Type") == "AWS::DynamoDB::Table":
            name = res["Properties"]["TableName"]["Fn::Sub"].replace("suizhen-${Stage}-", "")
            out[name] = res["Properties"]
    return out


def test_committed_template_is_current():
    assert open(build.OUT).read() == build.render(), "infra/template.json is stale: run `make infra`"


@pytest.mark.parametrize("model", all_models(), ids=lambda m: m.Meta.table_name)
def test_table_matches_model(model):
    """Compared with PynamoDB's own create-table schema, not with the generator's logic."""
    short = model.Meta.table_name[len(os.environ["SUIZHEN_TABLE_PREFIX"]):]
    props = _tables().get(short)
    assert props is not None, f"infra declares no table {short}"
    schema = model._get_schema()
    assert sorted(props["KeySchema"], key=lambda k: k["KeyType"]) == sorted(schema["key_schema"], key=lambda k: k["KeyType"])
    assert {d["AttributeName"]: d["AttributeType"] for d in props["AttributeDefinitions"]} == \
        {d["AttributeName"]: d["AttributeType"] for d in schema["attribute_definitions"]}
    declared = {g["IndexName"]: g for g in props.get("GlobalSecondaryIndexes", [])}
    expected = {g["index_name"]: g for g in schema.get("global_secondary_indexes", [])}
    assert declared.keys() == expected.keys()
    for name, g in expected.items():
        assert sorted(declared[name]["KeySchema"], key=lambda k: k["KeyType"]) == \
            sorted(g["key_schema"], key=lambda k: k["KeyType"])
        assert declared[name]["Projection"]["ProjectionType"] == g["projection"]["ProjectionType"]
        assert sorted(declared[name]["Projection"].get("NonKeyAttributes", [])) == \
            sorted(g["projection"].get("NonKeyAttributes", []))
    ttl = [a.attr_name for a in model.get_attributes().values() if isinstance(a, TTLAttribute)]
    assert props.get("TimeToLiveSpecification", {}).get("AttributeName") == (ttl[0] if ttl else None)
    assert props.get("StreamSpecification", {}).get("StreamViewType") == getattr(model.Meta, "stream_view_type", None)
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEType"] == "KMS"


def test_no_undeclared_tables():
    names = {m.Meta.table_name[len(os.environ["SUIZHEN_TABLE_PREFIX"]):] for m in all_models()}
    assert set(_tables()) == names


def test_bucket_is_private_encrypted_tls_only():
    bucket = TEMPLATE["Resources"]["AttachmentsBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"][
        "SSEAlgorithm"] == "aws:kms"
    deny = TEMPLATE["Resources"]["AttachmentsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
