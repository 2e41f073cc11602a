"""Accounts tables: accounts, phone → account links, SMS codes, refresh tokens and families, profiles."""

from pynamodb.attributes import BooleanAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model

from chalicelib.core.db import meta, register


@register
class Account(Model):
    Meta = meta("accounts")
    account_id = UnicodeAttribute(hash_key=True)
    role = UnicodeAttribute(default="patient")  # patient | doctor | admin
    phone_sealed = UnicodeAttribute()
    phone_masked = UnicodeAttribute()
    display_name = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default="active")
    created_at = UTCDateTimeAttribute()


@register
class PhoneLink(Model):
    """Blind index of a phone number → its account; the conditional put makes sign-up race-free."""

    Meta = meta("phone_links")
    phone_index = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()


@register
class SmsCode(Model):
    Meta = meta("sms_codes")
    phone_index = UnicodeAttribute(hash_key=True)
    code_hash = UnicodeAttribute()
    tries = NumberAttribute(default=0)
    used = BooleanAttribute(default=False)
    issued_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute()


@register
class TokenFamily(Model):
    """All refresh tokens descending from one login; revoking the family logs that session out."""

    Meta = meta("token_families")
    family_id = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    revoked = BooleanAttribute(default=False)
    expires_at = TTLAttribute()


@register
class RefreshToken(Model):
    Meta = meta("refresh_tokens")
    token_id = UnicodeAttribute(hash_key=True)
    family_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    secret_hash = UnicodeAttribute()
    used = BooleanAttribute(default=False)
    expires_at = TTLAttribute()


@register
class Profile(Model):
    """A patient profile (就诊人) an account manages: the holder (本人) or a family member."""

    Meta = meta("profiles")
    account_id = UnicodeAttribute(hash_key=True)
    profile_id = UnicodeAttribute(range_key=True)
    relation = UnicodeAttribute()  # self | spouse | child | parent | sibling | other
    real_name = UnicodeAttribute()
    gender = UnicodeAttribute()  # male | female
    birth_date = UnicodeAttribute()  # YYYY-MM-DD
    id_number_sealed = UnicodeAttribute(null=True)
    id_number_masked = UnicodeAttribute(null=True)
    id_number_index = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
