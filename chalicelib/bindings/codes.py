"""Binding codes: what a QR encodes and how the server decides it is valid.

* Live codes are signed, not stored: ``L`` + base64url(json payload + 128-bit HMAC tag). The key
  is derived from the versioned signing-key set (``kid`` in the payload), so keys rotate like
  access tokens. They expire ≤60 s after issue and carry the doctor's follow-up settings of that
  moment, so a scan needs no read of the doctor's settings.
* Clinic cards and visit slips are 128-bit random tokens (``C``/``S`` prefix) stored in
  ``DoctorCode``; revocation, rotation and single use are decided there.
"""

import base64
import hashlib
import hmac
import json
import secrets

from chalicelib.core import clock
from chalicelib.core.tokens import signing_keys

LIVE_TTL_S = 60
_TAG = 16


def _key(raw: bytes) -> bytes:
    return hmac.new(raw, b"suizhen-live-binding-code", hashlib.sha256).digest()


def issue_live(doctor_id: str, free_days: int, free_messages: int, window_days: int) -> tuple[str, int]:
    kid, keys = signing_keys()
    exp = clock.epoch() + LIVE_TTL_S
    payload = json.dumps({"d": doctor_id, "e": exp, "k": kid, "f": free_days, "m": free_messages,
                          "w": window_days, "n": secrets.token_hex(4)}, separators=(",", ":")).encode()
    tag = hmac.new(_key(keys[kid]), payload, hashlib.sha256).digest()[:_TAG]
    return "L" + base64.urlsafe_b64encode(payload + tag).decode().rstrip("="), exp


def verify_live(code: str) -> dict | None:
    """The payload of a valid, unexpired live code, else None."""
    data = signed_live(code)
    if data is None or data["e"] < clock.epoch():
        return None
    return data


def signed_live(code: str) -> dict | None:
    """The payload of a live code this service signed (expired or not), else None."""
    if not code.startswith("L") or len(code) > 400:
        return None
    try:
        raw = base64.urlsafe_b64decode(code[1:] + "=" * (-len(code[1:]) % 4))
        payload, tag = raw[:-_TAG], raw[-_TAG:]
        data = json.loads(payload)
        _, keys = signing_keys()
        key = keys.get(data.get("k", ""))
    except (ValueError, TypeError, AttributeError):
        return None
    if key is None or not hmac.compare_digest(hmac.new(_key(key), payload, hashlib.sha256).digest()[:_TAG], tag):
        return None
    if not isinstance(data.get("e"), int):
        return None
    return data


def new_stored_code(kind: str) -> str:
    return {"clinic": "C", "slip": "S"}[kind] + secrets.token_urlsafe(18)  # 144 bits
