"""Accounts rules: SMS login, rotating refresh tokens, the caller's account and profiles.

Other domains use ``get_profile``, ``get_account`` and ``set_role``; they never touch these tables.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sys
from datetime import timedelta
from typing import NoReturn

from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib.core import clock, ratelimit
from chalicelib.core.config import get_settings
from chalicelib.core.crypto import blind_index, mask, seal
from chalicelib.core.errors import NotFound, TooManyRequests, Unauthorized
from chalicelib.core.ids import new_id
from chalicelib.core.observability import logger
from chalicelib.core.outbox import emit, transaction
from chalicelib.core.pagination import Page, parse_limit, query_page
from chalicelib.core.tokens import issue_access_token

from .models import Account, PhoneLink, Profile, RefreshToken, SmsCode, TokenFamily
from .schemas import AccountOut, MeOut, ProfileCreate, ProfileOut, ProfileUpdate, TokenPair


def _code_hash(phone_index: str, code: str) -> str:
    return hmac.new(phone_index.encode(), code.encode(), hashlib.sha256).hexdigest()


# --- SMS login -------------------------------------------------------------------------------

def send_sms_code(phone: str, source_ip: str) -> dict:
    s = get_settings()
    index = blind_index(phone, "phone")
    ratelimit.hit("sms-ip", hashlib.sha256(source_ip.encode()).hexdigest()[:32],
                  limit=s.sms_per_ip_per_hour, window_s=3600)
    ratelimit.hit("sms-phone-min", index, limit=1, window_s=60,
                  message="a code was sent less than a minute ago")
    ratelimit.hit("sms-phone-hour", index, limit=s.sms_per_phone_per_hour, window_s=3600)
    code = f"{secrets.randbelow(10**6):06d}"
    now = clock.now()
    SmsCode(index, code_hash=_code_hash(index, code), tries=0, used=False, issued_at=now,
            expires_at=now + timedelta(seconds=s.sms_code_ttl_s)).save()
    text = f"【随诊】您的验证码是{code}，{s.sms_code_ttl_s // 60}分钟内有效。请勿告诉他人。"
    if s.dev_sms_echo:
        # Dev stack only: the console is the SMS gateway. Never enabled in prod config.
        print(f"[dev-sms] to {mask(phone)}: code {code}", file=sys.stderr, flush=True)
    else:
        # The one SMS interface (Aliyun / Tencent templates in production; see notifications).
        from chalicelib.notifications.providers import send_sms

        send_sms(phone, "login_code", {"code": code}, text=text)
    logger.info("sms code sent")
    return {"sent": True, "expires_in": s.sms_code_ttl_s, "resend_after": 60}


def _consume_code(index: str, code: str) -> None:
    """Count the guess, then check it: each guess first takes one of the code's ``sms_max_tries``
    slots with a single conditional UpdateItem (live, unused, fewer tries than the limit), and
    only a guess that got a slot is compared. DynamoDB applies conditional updates to one item
    one at a time, so however many guesses arrive at once, at most ``sms_max_tries`` are ever
    checked; the rest are refused unread. A right guess then consumes the code (``used`` false →
    true), so two right guesses at once log in once."""
    s = get_settings()
    now = clock.now()
    rec = SmsCode(index)
    try:
        rec.update(actions=[SmsCode.tries.add(1)],
                   condition=SmsCode.phone_index.exists() & (SmsCode.used == False)  # noqa: E712
                   & (SmsCode.expires_at > now) & (SmsCode.tries < s.sms_max_tries))
    except UpdateError as exc:
        if not _condition_failed(exc):
            raise
        _refuse_guess(index, now, s.sms_max_tries)
    if not hmac.compare_digest(rec.code_hash, _code_hash(index, code)):
        raise Unauthorized("the code is wrong or has expired", code="invalid_code")
    try:
        rec.update(actions=[SmsCode.used.set(True)],
                   condition=(SmsCode.used == False) & (SmsCode.code_hash == rec.code_hash))  # noqa: E712
    except UpdateError as exc:
        if not _condition_failed(exc):
            raise
        raise Unauthorized("the code is wrong or has expired", code="invalid_code")


def _condition_failed(exc: UpdateError) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


def _refuse_guess(index: str, now, max_tries: int) -> NoReturn:
    """The guess got no slot: say why (read only on this refused path)."""
    try:
        rec = SmsCode.get(index, consistent_read=True)
    except SmsCode.DoesNotExist:
        raise Unauthorized("the code is wrong or has expired", code="invalid_code")
    if not rec.used and rec.expires_at > now and rec.tries >= max_tries:
        raise TooManyRequests("too many wrong codes; request a new one", code="too_many_attempts")
    raise Unauthorized("the code is wrong or has expired", code="invalid_code")


def _account_for_phone(phone: str, index: str) -> Account:
    try:
        return Account.get(PhoneLink.get(index).account_id)
    except (PhoneLink.DoesNotExist, Account.DoesNotExist):
        pass
    account = Account(new_id(), role="patient", phone_sealed=seal(phone), phone_masked=mask(phone),
                      created_at=clock.now())
    try:
        with transaction() as tx:
            tx.save(PhoneLink(index, account_id=account.account_id), condition=PhoneLink.phone_index.does_not_exist())
            tx.save(account, condition=Account.account_id.does_not_exist())
            emit(tx, "account.created", {"account_id": account.account_id})
    except TransactWriteError:
        return Account.get(PhoneLink.get(index, consistent_read=True).account_id)  # lost a sign-up race
    return account


def _issue(account: Account, family_id: str) -> TokenPair:
    s = get_settings()
    secret = secrets.token_urlsafe(32)
    token_id = new_id()
    RefreshToken(token_id, family_id=family_id, account_id=account.account_id,
                 secret_hash=hashlib.sha256(secret.encode()).hexdigest(), used=False,
                 expires_at=clock.now() + timedelta(seconds=s.refresh_token_ttl_s)).save()
    access, ttl = issue_access_token(account.account_id, account.role)
    return TokenPair(access_token=access, expires_in=ttl, refresh_token=f"{token_id}.{secret}",
                     account=account_out(account))


def login(phone: str, code: str) -> TokenPair:
    index = blind_index(phone, "phone")
    _consume_code(index, code)
    account = _account_for_phone(phone, index)
    if account.status != "active":
        raise Unauthorized("this account is disabled", code="account_disabled")
    family = TokenFamily(new_id(), account_id=account.account_id, revoked=False,
                         expires_at=clock.now() + timedelta(seconds=get_settings().refresh_token_ttl_s))
    family.save()
    logger.info("login", extra={"account_id": account.account_id})
    return _issue(account, family.family_id)


def _parse_refresh(raw: str) -> RefreshToken:
    token_id, _, secret = raw.partition(".")
    if not token_id or not secret:  # an empty key is a DynamoDB validation error, not a miss
        raise Unauthorized("refresh token is not valid", code="invalid_refresh_token")
    try:
        rec = RefreshToken.get(token_id, consistent_read=True)
    except (RefreshToken.DoesNotExist, ValueError):
        raise Unauthorized("refresh token is not valid", code="invalid_refresh_token")
    if not hmac.compare_digest(rec.secret_hash, hashlib.sha256(secret.encode()).hexdigest()):
        raise Unauthorized("refresh token is not valid", code="invalid_refresh_token")
    return rec


def _revoke_family(family_id: str) -> None:
    TokenFamily(family_id).update(actions=[TokenFamily.revoked.set(True)])


def refresh(raw: str) -> TokenPair:
    """Rotate: the old token is spent; reusing a spent token revokes its whole family."""
    rec = _parse_refresh(raw)
    try:
        family = TokenFamily.get(rec.family_id, consistent_read=True)
    except TokenFamily.DoesNotExist:
        raise Unauthorized("refresh token is not valid", code="invalid_refresh_token")
    if family.revoked or rec.expires_at <= clock.now():
        raise Unauthorized("refresh token is not valid", code="invalid_refresh_token")
    if rec.used:
        _revoke_family(rec.family_id)
        logger.warning("refresh token reuse; family revoked", extra={"account_id": rec.account_id})
        raise Unauthorized("refresh token was already used; please sign in again", code="refresh_token_reused")
    try:
        rec.update(actions=[RefreshToken.used.set(True)], condition=RefreshToken.used == False)  # noqa: E712
    except UpdateError:
        _revoke_family(rec.family_id)
        raise Unauthorized("refresh token was already used; please sign in again", code="refresh_token_reused")
    account = get_account(rec.account_id)
    if account.status != "active":
        raise Unauthorized("this account is disabled", code="account_disabled")
    return _issue(account, rec.family_id)


def logout(caller, raw: str) -> None:
    """Revoke the session family the refresh token belongs to. The refresh token identifies the
    session, so this works with an expired access token (``caller`` is then None); with a valid
    access token, it must be the same account's."""
    try:
        rec = _parse_refresh(raw)
    except Unauthorized:
        return  # logging out with a dead token is already the desired state
    if caller is None or rec.account_id == caller.account_id:
        _revoke_family(rec.family_id)


# --- account and profiles ---------------------------------------------------------------------

def get_account(account_id: str) -> Account:
    try:
        return Account.get(account_id)
    except Account.DoesNotExist:
        raise NotFound("account not found")


def phone_index_of(account_id: str) -> str:
    """Blind index of the account's phone number (compare phones without revealing them)."""
    from chalicelib.core.crypto import unseal

    return blind_index(unseal(get_account(account_id).phone_sealed), "phone")


def account_out(a: Account) -> AccountOut:
    return AccountOut(account_id=a.account_id, role=a.role, phone_masked=a.phone_masked,
                      display_name=a.display_name, created_at=clock.iso(a.created_at))


def profile_out(p: Profile) -> ProfileOut:
    return ProfileOut(profile_id=p.profile_id, relation=p.relation, real_name=p.real_name, gender=p.gender,
                      birth_date=p.birth_date, id_number_masked=p.id_number_masked,
                      created_at=clock.iso(p.created_at))


def me(caller) -> MeOut:
    account = get_account(caller.account_id)
    profiles = [profile_out(p) for p in Profile.query(caller.account_id)]
    return MeOut(**account_out(account).model_dump(), profiles=profiles)


def update_me(caller, display_name: str) -> MeOut:
    try:
        Account(caller.account_id).update(actions=[Account.display_name.set(display_name)],
                                          condition=Account.account_id.exists())
    except UpdateError:
        raise NotFound("account not found")
    return me(caller)


def set_role(account_id: str, role: str, display_name: str | None = None) -> None:
    """Called by the doctors service when an operator verifies a doctor (with the doctor's name, so
    the doctor's own ``/v1/me`` shows it)."""
    actions: list[Action] = [Account.role.set(role)]
    if display_name:
        actions.append(Account.display_name.set(display_name))
    Account(account_id).update(actions=actions, condition=Account.account_id.exists())


MAX_PROFILES = 10


def list_profiles(caller) -> list[ProfileOut]:
    return [profile_out(p) for p in Profile.query(caller.account_id)]


def profiles_page(caller, limit: int | None, cursor: str | None) -> Page:
    """One Query per page, like every list."""
    page = query_page(Profile, Profile.query, caller.account_id, limit=parse_limit(str(limit) if limit else None),
                      cursor=cursor)
    return Page([profile_out(p) for p in page.items], page.next_cursor)


def profile_names(keys) -> dict[tuple[str, str], str]:
    """(account_id, profile_id) → the profile's name, for other domains' list rows: one
    BatchGetItem per 100 keys, never a call per row."""
    wanted = list(dict.fromkeys(keys))
    out: dict[tuple[str, str], str] = {}
    for start in range(0, len(wanted), 100):
        for p in Profile.batch_get(wanted[start:start + 100], attributes_to_get=["account_id", "profile_id", "real_name"]):
            out[(p.account_id, p.profile_id)] = p.real_name
    return out


def get_profile(account_id: str, profile_id: str) -> Profile:
    """A profile the account manages, or 404 (never reveals other accounts' profiles)."""
    try:
        return Profile.get(account_id, profile_id)
    except Profile.DoesNotExist:
        raise NotFound("profile not found")


def create_profile(caller, body: ProfileCreate) -> ProfileOut:
    from chalicelib.core.errors import Conflict, Unprocessable

    existing = list(Profile.query(caller.account_id))
    if len(existing) >= MAX_PROFILES:
        raise Unprocessable(f"an account manages at most {MAX_PROFILES} profiles", code="too_many_profiles")
    if body.relation == "self" and any(p.relation == "self" for p in existing):
        raise Conflict("this account already has its own (本人) profile", code="self_profile_exists")
    now = clock.now()
    p = Profile(caller.account_id, new_id(), relation=body.relation, real_name=body.real_name,
                gender=body.gender, birth_date=body.birth_date.isoformat(), created_at=now, updated_at=now)
    _set_id_number(p, body.id_number)
    try:
        p.save(condition=Profile.profile_id.does_not_exist())
    except PutError:
        raise Conflict("profile already exists")
    return profile_out(p)


def _set_id_number(p: Profile, id_number: str | None) -> None:
    if id_number:
        p.id_number_sealed = seal(id_number)
        p.id_number_masked = mask(id_number, 3, 4)
        p.id_number_index = blind_index(id_number, "id_number")


def update_profile(caller, profile_id: str, body: ProfileUpdate) -> ProfileOut:
    p = get_profile(caller.account_id, profile_id)
    changes = body.model_dump(exclude_unset=True)
    for field in ("real_name", "gender"):
        if changes.get(field) is not None:
            setattr(p, field, changes[field])
    if changes.get("birth_date") is not None:
        p.birth_date = changes["birth_date"].isoformat()
    _set_id_number(p, changes.get("id_number"))
    p.updated_at = clock.now()
    p.save(condition=Profile.profile_id.exists())
    return profile_out(p)
