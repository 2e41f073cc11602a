"""Lazily created AWS clients, botocore's own (boto3 adds nothing these calls use, and importing
it pulls in s3transfer: ~0.3 s of every cold start). Created on first use, after moto (tests) or
the local endpoint (``AWS_ENDPOINT_URL``, honoured by botocore itself) is in place.

botocore itself is imported on the first client too: ``botocore.session`` costs ~0.2 s, and every
route module reaches this one (the authorizer's token check reads its keys through
``secret_parameter``), so importing it here would put that on every unit's cold import."""

from __future__ import annotations

import time
from functools import cache

from . import observability
from .config import get_settings


@cache
def client(service: str):
    import botocore.session

    return botocore.session.get_session().create_client(service, region_name=get_settings().region)


def s3_object_exists(key: str, bucket: str | None = None) -> bool:
    """Whether a presigned upload really arrived (1 HeadObject): the client posts the file to S3
    itself, so the row written when the upload was granted proves nothing. Any error reads as
    missing (without s3:ListBucket, S3 answers a missing key with 403, not 404)."""
    from botocore.exceptions import ClientError

    try:
        client("s3").head_object(Bucket=bucket or get_settings().attachments_bucket, Key=key)
        return True
    except ClientError:
        return False


def reset_clients() -> None:
    """Forget cached clients and secrets (tests start moto per test)."""
    client.cache_clear()
    forget_secrets()


def forget_secrets() -> None:
    """Read every secret afresh on next use (after a rotation; tests that write a parameter)."""
    _param_cache.clear()


_param_cache: dict[str, tuple[float, str]] = {}


def secret_parameter(name: str, *, missing: str | None = None) -> str:
    """A SecureString from SSM Parameter Store, cached for ``secrets_cache_ttl_s``.

    With ``missing`` given, a parameter that does not exist reads as ``missing`` and that answer
    is cached too (a stage without the parameter asks SSM once per TTL, not once per call)."""
    hit = _param_cache.get(name)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    from botocore.exceptions import ClientError

    try:
        value = client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    except ClientError as exc:
        if missing is None or exc.response.get("Error", {}).get("Code") != "ParameterNotFound":
            raise
        observability.logger.warning("secret parameter missing", extra={"param": name})
        value = missing
    _param_cache[name] = (time.monotonic() + get_settings().secrets_cache_ttl_s, value)
    return value
