"""Field-level protection for personal data (ID numbers, phone numbers, licence numbers).

* ``seal``/``unseal`` — AES-256-GCM with a data key from SSM, so a table dump reveals nothing.
* ``blind_index`` — keyed HMAC-SHA256, so we can look a value up without storing it in clear.
* ``mask`` — what the API shows (``110***********1234``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .aws import secret_parameter
from .config import get_settings

_VERSION = "v1"


def _data_key() -> bytes:
    return base64.b64decode(secret_parameter(get_settings().data_key_param))


def seal(plain: str) -> str:
    nonce = os.urandom(12)
    ct = AESGCM(_data_key()).encrypt(nonce, plain.encode(), _VERSION.encode())
    return _VERSION + ":" + base64.urlsafe_b64encode(nonce + ct).decode()


def unseal(sealed: str) -> str:
    version, _, blob = sealed.partition(":")
    raw = base64.urlsafe_b64decode(blob)
    return AESGCM(_data_key()).decrypt(raw[:12], raw[12:], version.encode()).decode()


def blind_index(value: str, purpose: str) -> str:
    key = hashlib.sha256(_data_key() + b"|blind|" + purpose.encode()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def mask(value: str, keep_start: int = 3, keep_end: int = 4) -> str:
    if len(value) <= keep_start + keep_end:
        return "*" * len(value)
    return value[:keep_start] + "*" * (len(value) - keep_start - keep_end) + value[-keep_end:]
