"""The OpenAPI 3.1 document, generated from the routes' own pydantic schemas (``http.ROUTES``)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from .http import ROUTES, Api, Ctx, ListOf

api = Api("system")

_STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Invalid request",
                401: "Missing, invalid or expired token", 415: "Unsupported Content-Type",
                403: "Wrong role", 404: "Not found (or not yours)",
                409: "State conflict", 413: "Body too large", 422: "Rule violated", 429: "Rate limited"}


def _schema(tp: Any, defs: dict) -> dict:
    from pydantic import TypeAdapter

    if isinstance(tp, ListOf):
        return {"type": "object", "required": ["items", "next_cursor"],
                "properties": {"items": {"type": "array", "items": _schema(tp.item, defs)},
                               "next_cursor": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}
    schema = TypeAdapter(tp).json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
    defs.update(schema.pop("$defs", {}))
    return schema


def _request_schema(tp: Any, defs: dict) -> dict:
    from pydantic import TypeAdapter

    schema = TypeAdapter(tp).json_schema(ref_template="#/components/schemas/{model}", mode="validation")
    defs.update(schema.pop("$defs", {}))
    return schema


@lru_cache(maxsize=1)
def document() -> dict:
    from pydantic import TypeAdapter

    from .schemas import ErrorBody

    defs: dict = {}
    paths: dict = {}
    error_ref = {"$ref": "#/components/schemas/ErrorBody"}
    # A request without an Authorization header is refused by the gateway itself; on AWS its
    # gateway response renders ErrorBody (infra/), `chalice local` answers {"message": ...}.
    gateway_or_error = {"anyOf": [error_ref, {"type": "object", "required": ["message"],
                                              "properties": {"message": {"type": ["string", "null"]}}}]}
    _schema(ErrorBody, defs)
    defs["ErrorBody"] = TypeAdapter(ErrorBody).json_schema(ref_template="#/components/schemas/{model}")
    defs.update(defs["ErrorBody"].pop("$defs", {}))
    for spec in ROUTES:
        op: dict = {"summary": spec.summary, "tags": [spec.tag],
                    "operationId": f"{spec.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', spec.path.lower()).strip('_')}"}
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                  for n in re.findall(r"{(\w+)}", spec.path)]
        if spec.query is not None:
            qs = _request_schema(spec.resolve(spec.query), defs)
            for name, prop in qs.get("properties", {}).items():
                params.append({"name": name, "in": "query", "required": name in qs.get("required", []),
                               "schema": prop})
        if spec.idempotent:
            params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                           "schema": {"type": "string", "minLength": 1, "maxLength": 128}})
        if params:
            op["parameters"] = params
        if spec.request is not None:
            op["requestBody"] = {"required": True,
                                 "content": {"application/json": {"schema": _request_schema(spec.resolve(spec.request), defs)}}}
        ok: dict = {"description": _STATUS_TEXT.get(spec.status, "OK")}
        if spec.produces == "application/json" and spec.response is not None:
            ok["content"] = {"application/json": {"schema": _schema(spec.resolve(spec.response), defs)}}
        elif spec.produces != "application/json":
            ok["content"] = {spec.produces: {"schema": {"type": "string"}}}
        responses: dict = {str(spec.status): ok}
        codes = set(spec.errors)
        if spec.request is not None or spec.query is not None or spec.idempotent:
            codes |= {400}
        if spec.method in ("POST", "PUT", "PATCH"):
            codes |= {415}
        if spec.auth:
            codes |= {401}
        if spec.roles:
            codes |= {403}
        if spec.idempotent:
            codes |= {409, 422}
        if spec.request is not None:
            codes |= {413}
        for code in sorted(codes):
            provider_callback = not spec.auth and spec.request is None and spec.method == "POST"
            schema = gateway_or_error if code in (401, 403) or provider_callback else error_ref
            content = {"application/json": {"schema": schema}}
            if spec.produces == "text/html" and code == 404:
                content = {"text/html": {"schema": {"type": "string"}}}
            responses[str(code)] = {"description": _STATUS_TEXT.get(code, "Error"), "content": content}
        if spec.auth:
            op["security"] = [{"bearerAuth": []}]
        op["responses"] = responses
        paths.setdefault(spec.path, {})[spec.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Suizhen (随诊) API", "version": "1.0.0",
                 "description": "Post-visit care: binding, follow-up messaging, extra slots, payments."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": defs,
                       "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
    }


@api.route("/v1/openapi.json", "GET", auth=False, summary="This API's OpenAPI document")
def openapi_json(ctx: Ctx):
    return document()


@api.route("/v1/health", "GET", auth=False, summary="Liveness check")
def health(ctx: Ctx):
    return {"status": "ok"}
