"""Test harness: moto for AWS, the real Chalice app through ``chalice.test.Client``.

Environment is set here, before ``app`` is imported, because PynamoDB binds table names at import
and ``chalice.test.Client`` only patches the environment during a call (DESIGN.md lessons).
Unit tests run with sockets disabled (pytest-socket); end-to-end tests opt in.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime

TEST_ENV = json.load(open(os.path.join(os.path.dirname(__file__), "..", ".chalice", "config.json")))["stages"]["test"][
    "environment_variables"
]
os.environ.update(TEST_ENV)
os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "cn-north-1", "POWERTOOLS_SERVICE_NAME": "suizhen",
})
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

import aws_xray_sdk.core  # noqa: E402,F401  (opens a UDP socket at import; do it before sockets are blocked)
import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402

from tests.payments_support import wxpay  # noqa: E402,F401  (the sandbox WeChat Pay fixture, for every module)
from tests.support import ApiClient, OutboxDrain, moto_tables, record_idempotency_checked  # noqa: E402


def pytest_sessionfinish(session, exitstatus):
    record_idempotency_checked()


def seed_secrets(ssm, stage: str = "test") -> None:
    keys = {"current": "k1", "keys": {"k1": base64.b64encode(os.urandom(32)).decode()}}
    ssm.put_parameter(Name=f"/suizhen/{stage}/jwt-signing-keys", Value=json.dumps(keys), Type="SecureString",
                      Overwrite=True)
    ssm.put_parameter(Name=f"/suizhen/{stage}/data-key", Value=base64.b64encode(os.urandom(32)).decode(),
                      Type="SecureString", Overwrite=True)


@pytest.fixture(scope="session")
def _moto():
    """One moto account for the session: creating ~20 tables per test would dominate run time."""
    from chalicelib.core import aws as core_aws
    from chalicelib.core.config import get_settings
    from chalicelib.domains import create_tables
    from devstack import motoserver

    get_settings.cache_clear()
    # as the local stack's server: one DynamoDB request at a time (the sweep's threads), a
    # transaction costs its items (not copies of its tables), answers skip the alias look-ups
    motoserver.in_process()
    with mock_aws():
        core_aws.reset_clients()
        create_tables()
        seed_secrets(core_aws.client("ssm"))
        core_aws.client("s3").create_bucket(Bucket=get_settings().attachments_bucket,
                                            CreateBucketConfiguration={"LocationConstraint": "cn-north-1"})
        yield
        core_aws.reset_clients()


@pytest.fixture
def aws(_moto):
    """Every table emptied: each test starts from a clean database."""
    from chalicelib.core import idempotency
    from chalicelib.domains import all_models

    tables = moto_tables()
    for model in all_models():
        if not len(tables[model.Meta.table_name]):
            continue  # nothing to delete: skip the Scan (~70 tables, ~900 tests)
        keys = [model._hash_keyname] + ([model._range_keyname] if model._range_keyname else [])
        with model.batch_write() as batch:
            for item in model.scan(attributes_to_get=keys):
                batch.delete(item)
    _trim_streams()
    idempotency.reset()
    yield


def _trim_streams() -> None:
    """Drop the stream records earlier tests left (what DynamoDB does after 24 h; moto never does).

    moto deep-copies every table a TransactWriteItems touches, stream shard included, to roll back
    a cancelled one; with the session's whole history kept in the outbox stream each transaction
    cost grew with every test before it (most of the suite's time went to that copying). The
    sequence numbers go on from where they were, so a reader's position stays valid."""
    for table in moto_tables().values():
        shard = table.stream_shard
        if shard is not None and shard.items:
            shard.starting_sequence_number += len(shard.items)
            shard.items = []


@pytest.fixture
def clock():
    """The service clock, frozen; move it with ``clock.advance(hours=1)``."""
    from chalicelib.core import clock as core_clock

    frozen = core_clock.FrozenClock(datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    core_clock.set_clock(frozen)
    yield frozen
    core_clock.set_clock(None)


@pytest.fixture
def api(aws):
    from chalice.test import Client

    import app as app_module

    with Client(app_module.app, stage_name="test") as chalice_client:
        yield ApiClient(chalice_client)


@pytest.fixture
def pay(monkeypatch):
    """Booking's payments peer replaced by ``FakePayments`` (the provider played by the test)."""
    from chalicelib.booking import peers as booking_peers
    from tests.booking_support import FakePayments

    fake = FakePayments()
    monkeypatch.setattr(booking_peers, "payments", lambda: fake)
    return fake


@pytest.fixture
def drain(aws):
    """``drain()`` delivers pending outbox events to their consumers (what the stream does on AWS)."""
    d = OutboxDrain()
    d.skip_existing()
    return d
