"""Synchronous calls between units (``chalicelib/calls.py``): JSON both ways, the callee's API
errors raised again in the caller with their class and code, and — as deployed — over Lambda's
Invoke API to another thread (``devstack/lambdas.py``, what ``make run`` serves)."""

import json
from decimal import Decimal

import pytest

from chalicelib import calls
from chalicelib.core.errors import Conflict, NotFound
from chalicelib.payments.models import Order
from tests.bindings_support import bind
from tests.doctors_support import make_admin, make_doctor, make_patient

FN = "suizhen-test-call-payments"
ORDER = {"payer_account_id": "01PAYER", "product_type": "booking", "product_id": "b1", "amount_fen": 1200,
         "doctor_id": "01DOC", "description": "加号"}


@pytest.fixture
def via_lambda(aws, monkeypatch):
    """Calls to payments go to a local Lambda Invoke endpoint, as ``SUIZHEN_CALL_FUNCTIONS``
    makes a deployed function do; yields the endpoint's handler (its ``invocations``)."""
    from chalicelib.core import aws as core_aws
    from chalicelib.core.config import get_settings
    from devstack import lambdas

    server, url, handler = lambdas.start({FN: "payments"})
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", url)
    monkeypatch.setenv("SUIZHEN_CALL_FUNCTIONS", json.dumps({"payments": FN}))
    get_settings.cache_clear()
    core_aws.reset_clients()
    yield handler
    server.shutdown()
    monkeypatch.undo()
    get_settings.cache_clear()
    core_aws.reset_clients()


def test_a_call_answers_json_and_raises_the_callees_api_errors(aws):
    payments = calls.client("payments")
    order = payments.create_order(**ORDER)
    assert order["status"] == "created" and order["amount_fen"] == 1200 and isinstance(order["expires_at"], str)
    assert Order.get(order["order_id"]).product_id == "b1"
    assert payments.close_order(order_id=order["order_id"], reason="seat not held")["status"] == "closed"
    with pytest.raises(Conflict) as refused:
        payments.refund(order_id=order["order_id"], amount_fen=None, reason="x", request_key="k")
    assert refused.value.code == "order_not_refundable" and refused.value.status == 409
    with pytest.raises(NotFound) as missing:
        payments.close_order(order_id="nope", reason="x")
    assert missing.value.code == "not_found"


def test_only_what_the_callee_lists_can_be_called(aws):
    with pytest.raises(NotFound) as unknown:
        calls.client("payments").settle_paid(order_id="o", txn_id="t", amount=1)  # a service function, not listed
    assert unknown.value.code == "no_such_call"
    with pytest.raises(ValueError):
        calls.client("nobody")
    # a deployed function answers for its own unit's domains only, and only domains that list calls
    assert calls.answer({"domain": "messaging", "op": "create_order", "args": {}}, unit="payments")["error"][
        "code"] == "no_such_call"
    assert calls.answer({"domain": "messaging", "op": "create_order", "args": {}})["error"]["code"] == "no_such_call"


def test_arguments_must_be_json_as_they_would_be_on_the_wire(aws):
    with pytest.raises(TypeError):
        calls.client("payments").create_order(**{**ORDER, "amount_fen": Decimal(1200)})


@pytest.mark.enable_socket
def test_over_lambda_invoke_a_patient_buys_a_consultation(api, clock, drain, via_lambda):
    admin = make_admin(api)
    doctor, alice = make_doctor(api, admin), make_patient(api)
    conv = bind(api, doctor, alice)["binding_id"]
    drain()
    api.call("PUT", "/v1/doctor/consultation-package", {"price_fen": 3000, "hours": 48, "messages": 2,
                                                        "reply_deadline_hours": 24}, token=doctor.token)
    c = api.post(f"/v1/conversations/{conv}/consultations", token=alice.token)
    assert c.status == 201 and c.body["status"] == "awaiting_payment", c.body
    assert Order.get(c.body["order_id"]).amount_fen == 3000
    assert via_lambda.invocations == [(FN, "create_order")]


@pytest.mark.enable_socket
def test_over_lambda_invoke_errors_cross_as_lambda_reports_them(aws, via_lambda):
    payments = calls.client("payments")
    order = payments.create_order(**ORDER)
    with pytest.raises(Conflict) as refused:  # an API error: answered, raised again here
        payments.refund(order_id=order["order_id"], amount_fen=None, reason="x", request_key="k")
    assert refused.value.code == "order_not_refundable"
    with pytest.raises(calls.CallFailed):  # the callee raised: X-Amz-Function-Error
        payments.create_order(**{**ORDER, "product_type": "no-such-product"})
    assert [op for _, op in via_lambda.invocations] == ["create_order", "refund", "create_order"]
