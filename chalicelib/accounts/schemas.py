"""Request and response bodies of the accounts routes."""

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

from chalicelib.core import clock
from chalicelib.core.schemas import (  # noqa: F401  (Ok is named by routes)
    DateStr,
    ListQuery,
    Name,
    Ok,
    Request,
    Response,
    Timestamp,
    Token,
    fold_digits,
)

_PHONE = re.compile(r"^1[3-9][0-9]{9}$")
_ID_NUMBER = re.compile(r"^[0-9]{17}[0-9X]$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def normalize_phone(value: str) -> str:
    """ASCII digits only: full-width digits (as Chinese IMEs type them) are folded to ASCII first, so
    both spellings are one account and one rate-limit bucket; any other digit script is refused."""
    v = re.sub(r"[\s-]", "", fold_digits(value))
    if v.startswith("+86"):
        v = v[3:]
    elif v.startswith("0086"):
        v = v[4:]
    if not _PHONE.match(v):
        raise ValueError("must be a mainland China mobile number")
    return v


def check_id_number(value: str) -> str:
    """Resident ID (GB 11643): 18 characters with an ISO 7064 MOD 11-2 check digit."""
    v = fold_digits(value).upper().replace("Ｘ", "X")
    if not _ID_NUMBER.match(v):
        raise ValueError("must be an 18-character resident ID number")
    total = sum(int(d) * w for d, w in zip(v[:17], _ID_WEIGHTS, strict=True))
    if "10X98765432"[total % 11] != v[17]:
        raise ValueError("resident ID check digit does not match")
    return v


Phone = Annotated[str, AfterValidator(normalize_phone)]
IdNumber = Annotated[str, AfterValidator(lambda v: check_id_number(v) if v else None)]  # "" = none
OtpCode = Annotated[str, BeforeValidator(fold_digits), StringConstraints(pattern=r"^[0-9]{6}$")]


class SmsCodeRequest(Request):
    phone: Phone = Field(max_length=20, description="Mainland mobile number, optionally +86 (ASCII or full-width digits)")


class SmsCodeSent(Response):
    sent: bool
    expires_in: int
    resend_after: int


class TokenRequest(Request):
    phone: Phone = Field(max_length=20)
    code: OtpCode


class RefreshRequest(Request):
    refresh_token: Token = Field(min_length=10, max_length=200)


class AccountOut(Response):
    account_id: str
    role: str
    phone_masked: str
    display_name: str | None = None
    created_at: Timestamp


class TokenPair(Response):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    refresh_token: str
    account: AccountOut


Relation = Literal["self", "spouse", "child", "parent", "sibling", "other"]
Gender = Literal["male", "female"]


def _past_birth_date(v: date) -> date:
    if v > clock.now().astimezone(clock.SHANGHAI).date() or v.year < 1900:
        raise ValueError("birth date must be a past date after 1900")
    return v


BirthDate = Annotated[date, AfterValidator(_past_birth_date)]


class ProfileCreate(Request):
    relation: Relation
    real_name: Name = Field(min_length=1, max_length=40)
    gender: Gender
    birth_date: BirthDate
    id_number: IdNumber | None = Field(default=None, max_length=18)


class ProfileUpdate(Request):
    real_name: Name | None = Field(default=None, min_length=1, max_length=40)
    gender: Gender | None = None
    birth_date: BirthDate | None = None
    id_number: IdNumber | None = Field(default=None, max_length=18)


class ProfileOut(Response):
    profile_id: str
    relation: str
    real_name: str
    gender: str
    birth_date: DateStr
    id_number_masked: str | None = None
    created_at: Timestamp


class MeOut(AccountOut):
    profiles: list[ProfileOut]


class MeUpdate(Request):
    display_name: Name = Field(min_length=1, max_length=40)


class LogoutRequest(Request):
    refresh_token: Token = Field(min_length=10, max_length=200)

