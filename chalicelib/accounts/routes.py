"""Accounts routes: SMS login, tokens, the caller's account and the profiles it manages."""

from chalicelib.core.http import Api, Ctx, ListOf
from chalicelib.core.lazy import lazy_module

service = lazy_module("chalicelib.accounts.service")

api = Api("accounts")


@api.route("/v1/auth/sms-code", "POST", auth=False, request="SmsCodeRequest", response="SmsCodeSent", status=202,
           summary="Send a one-time login code by SMS", errors=(400, 429))
def send_sms_code(ctx: Ctx):
    return service.send_sms_code(ctx.body.phone, ctx.source_ip)


@api.route("/v1/auth/token", "POST", auth=False, request="TokenRequest", response="TokenPair",
           summary="Exchange phone + SMS code for an access token and a refresh token", errors=(400, 401, 429))
def token(ctx: Ctx):
    return service.login(ctx.body.phone, ctx.body.code)


@api.route("/v1/auth/refresh", "POST", auth=False, request="RefreshRequest", response="TokenPair",
           summary="Rotate a refresh token (reuse of an old one revokes the session)", errors=(400, 401))
def refresh(ctx: Ctx):
    return service.refresh(ctx.body.refresh_token)


@api.route("/v1/auth/logout", "POST", auth=False, request="LogoutRequest", response="Ok",
           summary="Revoke this session: the refresh token identifies it, so an expired access token is fine")
def logout(ctx: Ctx):
    service.logout(None, ctx.body.refresh_token)
    return {"ok": True}


@api.route("/v1/me", "GET", response="MeOut", summary="The caller's account and profiles")
def get_me(ctx: Ctx):
    return service.me(ctx.caller)


@api.route("/v1/me", "PATCH", request="MeUpdate", response="MeOut", summary="Update the caller's display name")
def patch_me(ctx: Ctx):
    return service.update_me(ctx.caller, ctx.body.display_name)


@api.route("/v1/me/profiles", "GET", query="ListQuery", response=ListOf("ProfileOut"),
           summary="Patient profiles (就诊人) this account manages")
def list_profiles(ctx: Ctx):
    return service.profiles_page(ctx.caller, ctx.query.limit, ctx.query.cursor)


@api.route("/v1/me/profiles", "POST", request="ProfileCreate", response="ProfileOut", status=201, idempotent=True,
           summary="Add a patient profile (本人 or a family member)", errors=(400, 409, 422))
def create_profile(ctx: Ctx):
    return service.create_profile(ctx.caller, ctx.body)


@api.route("/v1/me/profiles/{profile_id}", "GET", response="ProfileOut", summary="One managed profile", errors=(404,))
def get_profile(ctx: Ctx, profile_id: str):
    return service.profile_out(service.get_profile(ctx.account_id, profile_id))


@api.route("/v1/me/profiles/{profile_id}", "PATCH", request="ProfileUpdate", response="ProfileOut",
           summary="Update a managed profile", errors=(400, 404))
def update_profile(ctx: Ctx, profile_id: str):
    return service.update_profile(ctx.caller, profile_id, ctx.body)
