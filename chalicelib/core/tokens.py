"""Access tokens: short-lived HS256 JWTs signed with a versioned key set from SSM.

The SSM parameter holds JSON ``{"current": "k2", "keys": {"k1": "<b64>", "k2": "<b64>"}}``:
new tokens are signed with ``current``; any listed key (by ``kid``) still verifies, so keys
rotate without logging anyone out. Verification makes no DynamoDB call.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import timedelta

from . import clock
from .aws import secret_parameter
from .config import get_settings
from .ids import new_id

ROLES = ("patient", "doctor", "admin")


@dataclass(frozen=True)
class Claims:
    account_id: str
    role: str
    token_id: str


def signing_keys() -> tuple[str, dict[str, bytes]]:
    """(current kid, {kid: key}) — also used to derive other signing keys (binding codes)."""
    raw = json.loads(secret_parameter(get_settings().signing_keys_param))
    return raw["current"], {kid: base64.b64decode(k) for kid, k in raw["keys"].items()}


def issue_access_token(account_id: str, role: str) -> tuple[str, int]:
    import jwt  # imported on first use: keeps cold import of the app small

    s = get_settings()
    kid, keys = signing_keys()
    now = clock.now()
    claims = {
        "sub": account_id,
        "role": role,
        "iss": s.jwt_issuer,
        "aud": s.jwt_audience,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=s.access_token_ttl_s)).timestamp()),
        "jti": new_id(),
    }
    return jwt.encode(claims, keys[kid], algorithm="HS256", headers={"kid": kid}), s.access_token_ttl_s


def verify_access_token(token: str) -> Claims | None:
    """Claims of a valid token, or None. Only HS256 with a known kid is accepted (no ``none``)."""
    import jwt

    s = get_settings()
    try:
        header = jwt.get_unverified_header(token)
        _, keys = signing_keys()
        key = keys.get(header.get("kid", ""))
        if key is None or header.get("alg") != "HS256":
            return None
        data = jwt.decode(
            token,
            key,
            algorithms=["HS256"],
            audience=s.jwt_audience,
            issuer=s.jwt_issuer,
            # exp/iat are checked below against the service clock (injectable in tests).
            options={"require": ["exp", "iat", "sub", "aud", "iss"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        return None
    if not isinstance(data.get("exp"), int) or data["exp"] <= clock.epoch() or data.get("role") not in ROLES:
        return None
    return Claims(account_id=data["sub"], role=data["role"], token_id=data.get("jti", ""))
