"""Build ``infra/template.json``: everything that is not a Chalice function, as a CloudFormation
template merged into Chalice's own output with ``chalice package --merge-template``.

Tables are generated from the PynamoDB models (the single source of truth), so infra cannot
drift from the code; ``tests/test_infra.py`` checks the committed file is current and compares
it with the models independently. Run ``make infra`` after changing a model.
"""

import json
import os
import sys

from pynamodb.attributes import TTLAttribute

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "template.json")
PARTITION_ARN = "arn:${AWS::Partition}"
TABLE_ITEM_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                      "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem",
                      "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable"]
PARAMS = {"SigningKeysParam": "jwt-signing-keys", "DataKeyParam": "data-key", "WechatPayParam": "wechatpay",
          "AlipayParam": "alipay"}


def _camel(short: str) -> str:
    return "".join(p.capitalize() for p in short.split("_"))


def short_name(model) -> str:
    prefix = os.environ.get("SUIZHEN_TABLE_PREFIX", "suizhen-dev-")
    return model.Meta.table_name[len(prefix):]


def table_logical_id(model) -> str:
    return "Table" + _camel(short_name(model))


def _attr_type(attr) -> str:
    return {"S": "S", "N": "N", "B": "B"}[attr.attr_type]


def table_resource(model) -> dict:
    attrs = model.get_attributes()
    key_names = [model._hash_keyname] + ([model._range_keyname] if model._range_keyname else [])
    key_schema = [{"AttributeName": model._hash_keyname, "KeyType": "HASH"}]
    if model._range_keyname:
        key_schema.append({"AttributeName": model._range_keyname, "KeyType": "RANGE"})
    gsis = []
    for index in model._indexes.values():
        meta = index.Meta
        idx_keys = _index_keys(index)
        key_names += [k["AttributeName"] for k in idx_keys]
        projection = {"ProjectionType": meta.projection.projection_type}
        if getattr(meta.projection, "non_key_attributes", None):
            projection["NonKeyAttributes"] = list(meta.projection.non_key_attributes)
        gsis.append({"IndexName": meta.index_name, "KeySchema": idx_keys, "Projection": projection})
    defs = []
    for name in dict.fromkeys(key_names):
        defs.append({"AttributeName": name, "AttributeType": _attr_type(attrs[name])})
    props: dict = {
        "TableName": {"Fn::Sub": f"suizhen-${{Stage}}-{short_name(model)}"},
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": key_schema,
        "AttributeDefinitions": defs,
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": {"Ref": "DataKey"}},
        "Tags": [{"Key": "app", "Value": "suizhen"}],
    }
    if gsis:
        props["GlobalSecondaryIndexes"] = gsis
    ttl = [a.attr_name for a in attrs.values() if isinstance(a, TTLAttribute)]
    if ttl:
        props["TimeToLiveSpecification"] = {"AttributeName": ttl[0], "Enabled": True}
    stream = getattr(model.Meta, "stream_view_type", None)
    if stream:
        props["StreamSpecification"] = {"StreamViewType": stream}
    return {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
            "Properties": props}


def _index_keys(index) -> list[dict]:
    keys = []
    for attr in index.__class__.__dict__.values():
        if getattr(attr, "is_hash_key", False):
            keys.insert(0, {"AttributeName": attr.attr_name, "KeyType": "HASH"})
        elif getattr(attr, "is_range_key", False):
            keys.append({"AttributeName": attr.attr_name, "KeyType": "RANGE"})
    return keys


def _sub(s: str) -> dict:
    return {"Fn::Sub": s}


def _param_arn(param: str) -> dict:
    return _sub(f"{PARTITION_ARN}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter${{{param}}}")


def build() -> dict:
    from chalicelib.domains import all_models

    models = sorted(all_models(), key=lambda m: m.Meta.table_name)
    resources: dict = {}
    for m in models:
        resources[table_logical_id(m)] = table_resource(m)
    outbox = next(m for m in models if short_name(m) == "outbox")

    account_root = {"AWS": _sub(f"{PARTITION_ARN}:iam::${{AWS::AccountId}}:root")}
    resources.update({
        "DataKey": {"Type": "AWS::KMS::Key", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
                    "Properties": {"Description": "Suizhen data at rest (tables, bucket, queues, SSM secrets)",
                                   "EnableKeyRotation": True, "KeyPolicy": {
                                       "Version": "2012-10-17",
                                       "Statement": [{"Sid": "AccountAdmin", "Effect": "Allow",
                                                      "Principal": account_root,
                                                      "Action": "kms:*", "Resource": "*"}]}}},
        "DataKeyAlias": {"Type": "AWS::KMS::Alias",
                         "Properties": {"AliasName": _sub("alias/suizhen-${Stage}-data"), "TargetKeyId": {"Ref": "DataKey"}}},
        "AttachmentsBucket": {
            "Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketName": _sub("suizhen-${Stage}-attachments"),
                "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                   "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
                "BucketEncryption": {"ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {
                    "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Ref": "DataKey"}}, "BucketKeyEnabled": True}]},
                "VersioningConfiguration": {"Status": "Enabled"},
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                # Chat media is kept ≥3 years (DESIGN.md rule 4): move to IA, never expire before that.
                "LifecycleConfiguration": {"Rules": [{"Id": "archive", "Status": "Enabled", "Transitions": [
                    {"StorageClass": "STANDARD_IA", "TransitionInDays": 90}],
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 1100}}]}}},
        "AttachmentsBucketPolicy": {"Type": "AWS::S3::BucketPolicy", "Properties": {
            "Bucket": {"Ref": "AttachmentsBucket"},
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Sid": "TLSOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": [{"Fn::GetAtt": ["AttachmentsBucket", "Arn"]}, _sub("${AttachmentsBucket.Arn}/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}}},
        "NotificationsDLQ": {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": _sub("suizhen-${Stage}-notifications-dlq"), "MessageRetentionPeriod": 1209600,
            "KmsMasterKeyId": {"Ref": "DataKey"}}},
        "NotificationsQueue": {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": _sub("suizhen-${Stage}-notifications"), "VisibilityTimeout": 120,
            "KmsMasterKeyId": {"Ref": "DataKey"},
            "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["NotificationsDLQ", "Arn"]}, "maxReceiveCount": 5}}},
        # API Gateway's own refusals (no token, denied) in our error body.
        **{f"Gateway{kind.title().replace('_', '')}": {"Type": "AWS::ApiGateway::GatewayResponse", "Properties": {
            "RestApiId": {"Ref": "RestAPI"}, "ResponseType": kind, "StatusCode": status,
            "ResponseTemplates": {"application/json": json.dumps({"error": {
                "code": code, "message": "$context.error.messageString", "request_id": "$context.requestId"}})}}}
           for kind, status, code in (("UNAUTHORIZED", "401", "unauthorized"),
                                      ("ACCESS_DENIED", "403", "forbidden"),
                                      ("MISSING_AUTHENTICATION_TOKEN", "404", "not_found"))},
    })
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": ("Suizhen (随诊): data, keys and queues; merged with `chalice package`, then "
                        "infra/package.py adds per-unit functions, roles and event queues."),
        "Parameters": {
            "Stage": {"Type": "String", "Default": "prod", "AllowedPattern": "^[a-z0-9]+$"},
            **{name: {"Type": "String", "Default": f"/suizhen/prod/{suffix}",
                      "Description": "SSM SecureString (created by ops, see infra/README.md)"}
               for name, suffix in PARAMS.items()},
        },
        "Resources": resources,
        "Outputs": {
            "OutboxStreamArn": {"Value": {"Fn::GetAtt": [table_logical_id(outbox), "StreamArn"]}},
            "AttachmentsBucketName": {"Value": {"Ref": "AttachmentsBucket"}},
            "DataKeyArn": {"Value": {"Fn::GetAtt": ["DataKey", "Arn"]}},
        },
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main() -> int:
    os.environ.setdefault("SUIZHEN_TABLE_PREFIX", "suizhen-dev-")
    text = render()
    if "--check" in sys.argv:
        return 0 if open(OUT).read() == text else 1
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
