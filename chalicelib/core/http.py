"""The HTTP edge shared by every domain's routes.

``Api(name).route(...)`` wraps a Chalice Blueprint route with what every route needs:
the token authorizer, role checks, body/query validation (pydantic → 400), response shaping,
``Idempotency-Key`` handling, and an entry in the OpenAPI registry. Route functions stay thin:
they receive a :class:`Ctx` and call their domain's service.

Schemas are named, not imported: ``request="DoctorApply"`` refers to the domain's
``schemas`` module, which is imported on first use. This keeps pydantic (≈50 ms) out of the
cold import of the app; ``ListOf("Item")`` names a paginated list of ``Item``.

Authorization model: the authorizer verifies the token and passes its verdict in the context
(it allows the call either way), so an invalid or expired token gets our own 401 body, and
behaves the same under ``chalice local`` and API Gateway. A missing header is refused by the
gateway itself (401).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from functools import cached_property
from typing import Any, NamedTuple

from chalice import AuthResponse, Blueprint
from chalice import Response as HttpResponse

from . import lazy, observability
from .config import get_settings
from .errors import ApiError, BadRequest, Forbidden, PayloadTooLarge, Unauthorized
from .ids import new_id

# Every function's cold import runs this module and builds its routes, nothing more: the token
# check, the clock and pagination are imported by the request that needs them, and the records
# below are NamedTuples and a plain class, not dataclasses (``dataclasses`` and the code it
# generates per class cost ~15 ms here).

authorizer_bp = Blueprint(__name__)


@authorizer_bp.authorizer(ttl_seconds=300)
def token_authorizer(auth_request):
    """Verifies the bearer token (no DynamoDB call) and passes account id, role and expiry."""
    from .tokens import verify_access_token

    token = auth_request.token or ""
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    claims = verify_access_token(token)
    if claims is None:
        return AuthResponse(routes=["*"], principal_id="anonymous", context={"valid": "false"})
    return AuthResponse(
        routes=["*"],
        principal_id=claims.account_id,
        context={"valid": "true", "role": claims.role, "exp": str(_exp_of(token))},
    )


def _exp_of(token: str) -> int:
    import jwt

    return int(jwt.decode(token, options={"verify_signature": False}).get("exp", 0))


class Caller(NamedTuple):
    account_id: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class ListOf(NamedTuple):
    """``response=ListOf("Item")``: a page ``{"items": [Item], "next_cursor": str | null}``."""

    item: Any


SchemaRef = Any  # a schema class, its name in the domain's schemas module, or ListOf(ref)


class RouteSpec(NamedTuple):
    path: str
    method: str
    summary: str
    tag: str
    auth: bool
    roles: tuple[str, ...] | None
    request: SchemaRef
    query: SchemaRef
    response: SchemaRef
    status: int
    idempotent: bool
    produces: str = "application/json"
    errors: tuple[int, ...] = ()
    schemas_module: str = ""

    def resolve(self, ref: SchemaRef) -> Any:
        """The schema class (or ``ListOf`` of one) a reference names."""
        if isinstance(ref, ListOf):
            return ListOf(self.resolve(ref.item))
        if isinstance(ref, str):
            return getattr(lazy.load(self.schemas_module), ref)
        return ref


ROUTES: list[RouteSpec] = []


class Ctx:
    """What a route function gets: the caller, the validated body and query, the raw request."""

    def __init__(self, request: Any, caller: Caller | None, body: Any = None, query: Any = None):
        self.request = request
        self.caller = caller
        self.body = body
        self.query = query

    @property
    def account_id(self) -> str:
        """The signed-in caller's account (a route declared without ``auth=False``)."""
        if self.caller is None:
            raise Unauthorized("token is missing, invalid or expired", code="invalid_token")
        return self.caller.account_id

    @cached_property
    def request_id(self) -> str:
        return request_id_of(self.request.context)

    @property
    def source_ip(self) -> str:
        return (self.request.context.get("identity") or {}).get("sourceIp") or "unknown"

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name.lower())


def request_id_of(context: dict) -> str:
    rid = (context or {}).get("requestId")
    if not rid:
        rid = new_id()
        if context is not None:
            context["requestId"] = rid
    return rid


def _caller_from(request) -> Caller:
    from .clock import epoch

    auth = (request.context or {}).get("authorizer") or {}
    if auth.get("valid") != "true":
        raise Unauthorized("token is missing, invalid or expired", code="invalid_token")
    try:
        exp = int(auth.get("exp", "0"))
    except ValueError:
        exp = 0
    if exp <= epoch():  # the gateway may cache an authorizer verdict past a token's expiry
        raise Unauthorized("token has expired", code="token_expired")
    return Caller(account_id=auth["principalId"], role=auth.get("role", ""))


def _validate(model: Any, data: Any, where: str):
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except TypeError:  # a validator met a value of a type it did not expect
        raise BadRequest(f"{where} is invalid", code="validation_error")
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        loc = ".".join(str(p) for p in errors[0]["loc"]) if errors else ""
        msg = errors[0]["msg"] if errors else "invalid"
        raise BadRequest(f"{where} is invalid: {loc or where}: {msg}", code="validation_error", details=errors)


def parse_body(request, model: Any):
    raw = request.raw_body or b""
    if len(raw) > get_settings().max_body_bytes:
        raise PayloadTooLarge("request body is too large")
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("request body is not valid JSON", code="invalid_json")
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object", code="invalid_json")
    return _validate(model, data, "body")


def parse_query(request, model: Any):
    params = request.query_params or {}
    return _validate(model, {k: params[k] for k in params}, "query")


def dump(value: Any) -> Any:
    from .pagination import Page

    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, Page):
        return {"items": [dump(i) for i in value.items], "next_cursor": value.next_cursor}
    if isinstance(value, list):
        return [dump(v) for v in value]
    return value


class Api:
    """One per domain: ``api = Api("bindings")``; register ``api.bp`` in ``app.py``."""

    def __init__(self, tag: str, schemas_module: str | None = None):
        self.tag = tag
        self.schemas_module = schemas_module or f"chalicelib.{tag}.schemas"
        self.bp = Blueprint(f"chalicelib.{tag}")

    def route(
        self,
        path: str,
        method: str = "GET",
        *,
        summary: str,
        auth: bool = True,
        roles: Iterable[str] | None = None,
        request: SchemaRef = None,
        query: SchemaRef = None,
        response: SchemaRef = None,
        status: int = 200,
        idempotent: bool = False,
        produces: str = "application/json",
        errors: Iterable[int] = (),
        content_types: list[str] | None = None,
    ) -> Callable:
        role_set = tuple(roles) if roles else None
        # Every creating POST honours Idempotency-Key (DESIGN.md): a retry returns the first answer.
        idempotent = idempotent or (method == "POST" and status == 201)
        spec = RouteSpec(path, method, summary, self.tag, auth, role_set, request, query, response,
                         status, idempotent, produces, tuple(errors), self.schemas_module)
        ROUTES.append(spec)
        bp = self.bp

        def decorate(fn: Callable) -> Callable:
            kwargs: dict[str, Any] = {"methods": [method], "name": f"{self.tag}_{fn.__name__}"}
            if auth:
                kwargs["authorizer"] = token_authorizer
            if content_types:
                kwargs["content_types"] = content_types

            def view(**params):
                req = bp.current_request
                caller = _caller_from(req) if auth else None
                if role_set and caller is not None and caller.role not in role_set:
                    raise Forbidden(f"this action needs the role: {' or '.join(role_set)}", code="wrong_role")
                ctx = Ctx(request=req, caller=caller)
                if request is not None:
                    ctx.body = parse_body(req, spec.resolve(request))
                if query is not None:
                    ctx.query = parse_query(req, spec.resolve(query))
                key = req.headers.get("idempotency-key") if idempotent else None
                if key:
                    from .idempotency import run_idempotent

                    status_code, body = run_idempotent(ctx, key, lambda: (status, dump(fn(ctx, **params))),
                                                       bp.lambda_context)
                    return HttpResponse(body=body, status_code=status_code,
                                        headers={"Content-Type": "application/json"})
                result = fn(ctx, **params)
                if isinstance(result, HttpResponse):
                    return result
                return HttpResponse(body=dump(result), status_code=status,
                                    headers={"Content-Type": "application/json"})

            view.__name__ = fn.__name__
            view.__doc__ = fn.__doc__
            bp.route(path, **kwargs)(view)
            return fn

        return decorate


def error_response(exc: ApiError, request_id: str) -> HttpResponse:
    body = {"error": {"code": exc.code, "message": exc.message, "request_id": request_id}}
    if exc.details is not None:
        body["error"]["details"] = exc.details
    headers = {"Content-Type": "application/json", "X-Request-Id": request_id, **exc.headers}
    return HttpResponse(body=body, status_code=exc.status, headers=headers)


_CHALICE_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
                  415: "unsupported_media_type", 500: "internal_error"}


def error_middleware(event, get_response):
    """Renders ApiError and Chalice's own error bodies in our error format, with a request id
    that also goes on every log line of the request."""
    rid = request_id_of(event.context)
    observability.logger.append_keys(request_id=rid)
    try:
        response = get_response(event)
    except ApiError as exc:
        if exc.status >= 500:
            observability.logger.exception("api error")
        else:
            observability.logger.info("request refused", extra={"status": exc.status, "code": exc.code})
        return error_response(exc, rid)
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and "Code" in body and "Message" in body:
        code = _CHALICE_CODES.get(response.status_code, "error")
        message = "an internal error occurred" if response.status_code >= 500 else str(body["Message"])
        err = ApiError(message, code=code)
        err.status = response.status_code
        response = error_response(err, rid)
    response.headers.setdefault("X-Request-Id", rid)
    return response
