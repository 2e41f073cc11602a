"""Accounts and auth driven through the HTTP API as a client would."""

import jwt
import pytest

from tests.support import count_ddb_calls

PHONE = "13800000001"


def test_login_me_and_refresh_rotation(api):
    user = api.login(PHONE)
    assert user.role == "patient"
    me = api.get("/v1/me", token=user.token)
    assert me.status == 200
    assert me.body["phone_masked"] == "138****0001"
    assert PHONE not in str(me.body)

    # rotation: a refresh token works once; reusing it revokes the whole family
    r1 = api.post("/v1/auth/refresh", {"refresh_token": user.refresh_token})
    assert r1.status == 200
    reuse = api.post("/v1/auth/refresh", {"refresh_token": user.refresh_token})
    assert reuse.status == 401 and reuse.error_code == "refresh_token_reused"
    after = api.post("/v1/auth/refresh", {"refresh_token": r1.body["refresh_token"]})
    assert after.status == 401


def test_same_phone_same_account(api, clock):
    a = api.login(PHONE)
    clock.advance(minutes=2)  # the per-phone limit allows one code a minute
    b = api.login(PHONE)
    assert a.account_id == b.account_id


def test_wrong_code_tries_are_limited(api):
    assert api.post("/v1/auth/sms-code", {"phone": PHONE}).status == 202
    for _ in range(5):
        r = api.post("/v1/auth/token", {"phone": PHONE, "code": "000000" if api.last_sms_code(PHONE) != "000000" else "111111"})
        assert r.status == 401
    r = api.post("/v1/auth/token", {"phone": PHONE, "code": api.last_sms_code(PHONE)})
    assert r.status == 429


def test_code_is_single_use(api):
    api.post("/v1/auth/sms-code", {"phone": PHONE})
    code = api.last_sms_code(PHONE)
    assert api.post("/v1/auth/token", {"phone": PHONE, "code": code}).status == 200
    assert api.post("/v1/auth/token", {"phone": PHONE, "code": code}).status == 401


def test_sms_rate_limited_per_phone(api):
    assert api.post("/v1/auth/sms-code", {"phone": PHONE}).status == 202
    r = api.post("/v1/auth/sms-code", {"phone": PHONE})
    assert r.status == 429 and r.error_code == "rate_limited"
    assert "Retry-After" in r.headers or "retry-after" in r.headers


def test_bad_input_is_400_not_500(api):
    assert api.post("/v1/auth/sms-code", {"phone": "12345"}).status == 400
    assert api.post("/v1/auth/sms-code", {"phone": PHONE, "extra": 1}).status == 400
    assert api.post("/v1/auth/sms-code", raw="{not json").status == 400
    assert api.post("/v1/auth/sms-code", raw="[1,2]").status == 400
    big = api.post("/v1/auth/sms-code", raw='{"phone": "' + "1" * 70000 + '"}')
    assert big.status == 413
    r = api.post("/v1/auth/token", {"phone": PHONE, "code": "12"})
    assert r.status == 400 and r.body["error"]["request_id"]


def test_forged_and_none_tokens_refused(api):
    user = api.login(PHONE)
    claims = jwt.decode(user.token, options={"verify_signature": False})
    none_token = jwt.encode({**claims, "role": "admin"}, key=None, algorithm="none")
    forged = jwt.encode({**claims, "role": "admin"}, "guessed-secret", algorithm="HS256", headers={"kid": "k1"})
    for bad in (none_token, forged, user.token[:-3] + "abc", "garbage"):
        r = api.get("/v1/me", token=bad)
        assert r.status == 401, bad
        assert r.error_code == "invalid_token"
    assert api.get("/v1/me").status == 401  # no header at all


def test_expired_token_refused(api, clock):
    user = api.login(PHONE)
    clock.advance(minutes=16)
    r = api.get("/v1/me", token=user.token)
    assert r.status == 401


def test_authorizer_makes_no_dynamodb_call(api):
    user = api.login(PHONE)
    from chalicelib.core.http import token_authorizer

    with count_ddb_calls() as calls:
        token_authorizer({"type": "TOKEN", "authorizationToken": f"Bearer {user.token}", "methodArn": "arn"}, None)
    assert calls == []


def test_get_me_budget(api):
    user = api.login(PHONE)
    with count_ddb_calls() as calls:
        assert api.get("/v1/me", token=user.token).status == 200
    assert len(calls) <= 2, calls


def test_malformed_refresh_tokens_are_refused_not_crashed(api):
    for raw in (".abcdefghij", "abcdefghij.", "..........", "x" * 40):
        r = api.post("/v1/auth/refresh", {"refresh_token": raw})
        assert r.status == 401 and r.error_code == "invalid_refresh_token", (raw, r.status)


def test_logout_revokes_refresh(api):
    user = api.login(PHONE)
    assert api.post("/v1/auth/logout", {"refresh_token": user.refresh_token}, token=user.token).status == 200
    assert api.post("/v1/auth/refresh", {"refresh_token": user.refresh_token}).status == 401


def _guess_all_at_once(api, phone: str, guesses: list[str]) -> list[str]:
    """Every guess reaches DynamoDB before any is answered: each guess's first DynamoDB call waits
    at a barrier until all guesses are there, then calls run one at a time (DynamoDB applies
    writes to one item serially). Any read-then-write check would let every guess through."""
    import threading

    import botocore.client

    from chalicelib.accounts import service
    from chalicelib.core.errors import ApiError

    barrier, serial, local = threading.Barrier(len(guesses), timeout=30), threading.Lock(), threading.local()
    real = botocore.client.BaseClient._make_api_call

    def gated(self, operation_name, api_params):
        if self.meta.service_model.service_name == "dynamodb" and not getattr(local, "arrived", False):
            local.arrived = True
            barrier.wait()
        with serial:
            return real(self, operation_name, api_params)

    outcomes: list[str] = [""] * len(guesses)

    def guess(i: int) -> None:
        try:
            service.login(phone, guesses[i])
            outcomes[i] = "ok"
        except ApiError as e:
            outcomes[i] = e.code

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(botocore.client.BaseClient, "_make_api_call", gated)
        threads = [threading.Thread(target=guess, args=(i,)) for i in range(len(guesses))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    return outcomes


def test_concurrent_guesses_cannot_beat_the_try_limit(api):
    assert api.post("/v1/auth/sms-code", {"phone": PHONE}).status == 202
    code = api.last_sms_code(PHONE)
    wrong = [f"{(int(code) + i) % 10**6:06d}" for i in range(1, 11)]
    outcomes = _guess_all_at_once(api, PHONE, wrong)
    assert sorted(outcomes) == ["invalid_code"] * 5 + ["too_many_attempts"] * 5, outcomes
    r = api.post("/v1/auth/token", {"phone": PHONE, "code": code})
    assert r.status == 429 and r.error_code == "too_many_attempts"


def test_two_right_guesses_at_once_log_in_once(api):
    assert api.post("/v1/auth/sms-code", {"phone": PHONE}).status == 202
    code = api.last_sms_code(PHONE)
    assert sorted(_guess_all_at_once(api, PHONE, [code, code])) == ["invalid_code", "ok"]


def test_logout_works_with_an_expired_access_token(api, clock):
    user = api.login(PHONE)
    clock.advance(minutes=20)  # the 15-minute access token has expired; the refresh token has not
    assert api.get("/v1/me", token=user.token).status == 401
    r = api.post("/v1/auth/logout", {"refresh_token": user.refresh_token}, token=user.token)
    assert r.status == 200, r.body
    assert api.post("/v1/auth/refresh", {"refresh_token": user.refresh_token}).status == 401


def test_a_verified_doctors_me_shows_the_doctors_name(api):
    from tests.doctors_support import make_doctor

    doctor = make_doctor(api, name="李秀英")
    me = api.get("/v1/me", token=doctor.token).body
    assert me["role"] == "doctor" and me["display_name"] == "李秀英"
