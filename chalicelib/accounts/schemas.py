"""Request and response bodies of the accounts routes."""

import re
from datetime import date
from typing import Literal

from pydantic import Field, RootModel, field_validator

from chalicelib.core import clock
from chalicelib.core.schemas import Ok, Request, Response  # noqa: F401  (Ok is named by routes)

_PHONE = re.compile(r"^1[3-9]\d{9}$")
_ID_NUMBER = re.compile(r"^\d{17}[\dX]$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def normalize_phone(value: str) -> str:
    v = re.sub(r"[\s-]", "", value)
    if v.startswith("+86"):
        v = v[3:]
    elif v.startswith("0086"):
        v = v[4:]
    if not _PHONE.match(v):
        raise ValueError("must be a mainland China mobile number")
    return v


def check_id_number(value: str) -> str:
    """Resident ID (GB 11643): 18 characters with an ISO 7064 MOD 11-2 check digit."""
    v = value.upper()
    if not _ID_NUMBER.match(v):
        raise ValueError("must be an 18-character resident ID number")
    total = sum(int(d) * w for d, w in zip(v[:17], _ID_WEIGHTS, strict=True))
    if "10X98765432"[total % 11] != v[17]:
        raise ValueError("resident ID check digit does not match")
    return v


class SmsCodeRequest(Request):
    phone: str = Field(max_length=20, description="Mainland mobile number, optionally +86")

    _n = field_validator("phone")(normalize_phone)


class SmsCodeSent(Response):
    sent: bool
    expires_in: int
    resend_after: int


class TokenRequest(Request):
    phone: str = Field(max_length=20)
    code: str = Field(pattern=r"^\d{6}$")

    _n = field_validator("phone")(normalize_phone)


class RefreshRequest(Request):
    refresh_token: str = Field(min_length=10, max_length=200)


class AccountOut(Response):
    account_id: str
    role: str
    phone_masked: str
    display_name: str | None = None
    created_at: str


class TokenPair(Response):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    refresh_token: str
    account: AccountOut


Relation = Literal["self", "spouse", "child", "parent", "sibling", "other"]
Gender = Literal["male", "female"]


class ProfileCreate(Request):
    relation: Relation
    real_name: str = Field(min_length=1, max_length=40)
    gender: Gender
    birth_date: date
    id_number: str | None = Field(default=None, max_length=18)

    @field_validator("id_number")
    @classmethod
    def _id(cls, v: str | None) -> str | None:
        return check_id_number(v) if v else None

    @field_validator("birth_date")
    @classmethod
    def _bd(cls, v: date | None) -> date | None:
        if v is None:
            return v
        if v > clock.now().astimezone(clock.SHANGHAI).date() or v.year < 1900:
            raise ValueError("birth date must be a past date after 1900")
        return v


class ProfileUpdate(Request):
    real_name: str | None = Field(default=None, min_length=1, max_length=40)
    gender: Gender | None = None
    birth_date: date | None = None
    id_number: str | None = Field(default=None, max_length=18)

    _id = field_validator("id_number")(lambda v: check_id_number(v) if v else None)
    _bd = field_validator("birth_date")(ProfileCreate._bd.__func__)


class ProfileOut(Response):
    profile_id: str
    relation: str
    real_name: str
    gender: str
    birth_date: str
    id_number_masked: str | None = None
    created_at: str


class MeOut(AccountOut):
    profiles: list[ProfileOut]


class MeUpdate(Request):
    display_name: str = Field(min_length=1, max_length=40)


class LogoutRequest(Request):
    refresh_token: str = Field(min_length=10, max_length=200)


class ProfileList(RootModel[list[ProfileOut]]):
    pass
