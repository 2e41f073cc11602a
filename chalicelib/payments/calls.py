"""What other units ask of payments synchronously (``chalicelib/calls.py``): the order a sale
hands to its client, and the closing, refunding and crediting its events lead to. Answers are
the JSON of the API's own schemas (``OrderOut``, ``RefundOut``), so a caller reads the same
fields a client does."""

from __future__ import annotations

from . import service

__all__ = ["create_order", "close_order", "refund", "credit_deferred_share"]


def create_order(*, payer_account_id: str, product_type: str, product_id: str, amount_fen: int,
                 doctor_id: str | None, description: str, expires_in_s: int = 900) -> dict:
    o = service.create_order(payer_account_id=payer_account_id, product_type=product_type, product_id=product_id,
                             amount_fen=amount_fen, doctor_id=doctor_id, description=description,
                             expires_in_s=expires_in_s)
    return service.order_out(o).model_dump(mode="json")


def close_order(*, order_id: str, reason: str) -> dict:
    return service.order_out(service.close_order(order_id, reason)).model_dump(mode="json")


def refund(*, order_id: str, amount_fen: int | None, reason: str, request_key: str) -> dict:
    return service.refund_out(service.refund(order_id=order_id, amount_fen=amount_fen, reason=reason,
                                             request_key=request_key)).model_dump(mode="json")


def credit_deferred_share(*, order_id: str, doctor_id: str) -> bool:
    return service.credit_deferred_share(order_id, doctor_id)
