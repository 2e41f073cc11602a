"""The OpenAPI 3.1 document, generated from the routes' own pydantic schemas (``http.ROUTES``).

Made for client generators (openapi-python-client, openapi-generator): every request and response
body is a named schema under ``components/schemas`` referenced by ``$ref`` (a page of ``Item`` is
``ItemPage``); every error answer is the one ``Error`` schema; every enum is a named schema (the
``Literal`` aliases of the domains' schema modules keep their names, any other enum is named after
its model and field); times carry ``format: date-time`` / ``date``; PNG answers are binary
(``format: binary``, ``contentMediaType: image/png``) and declare the ``Accept`` header they need.
"""

from __future__ import annotations

import re
import typing
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from .http import ROUTES, ListOf

if TYPE_CHECKING:  # pydantic is imported only when the document is built
    from pydantic import BaseModel
    from pydantic.json_schema import JsonSchemaMode

REF = "#/components/schemas/{model}"

_STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Invalid request",
                401: "Missing, invalid or expired token", 415: "Unsupported Content-Type",
                403: "Wrong role", 404: "Not found (or not yours)",
                409: "State conflict", 413: "Body too large", 422: "Rule violated", 429: "Rate limited",
                503: "A provider did not answer; retry later"}

BINARY_TYPES = ("image/png",)
ACCEPT_NOTE = ("Binary answer: send `Accept: {ct}` (API Gateway and `chalice local` return the bytes only to a "
               "request whose Accept header names the type; without it the answer is 400).")


def _accept_param(ct: str, defs: dict) -> dict:
    """The ``Accept`` header a binary route needs, as a parameter so generators send it themselves.

    OpenAPI lets tooling ignore an ``Accept`` parameter, but openapi-python-client (the one the tests
    generate) sends it. The enum is named (one ``PngAccept`` for every PNG route) and the default sits
    beside an ``allOf`` of it, not beside a bare ``$ref``, where openapi-python-client drops it and
    the caller would have to pass the value.
    """
    name = _camel(ct.split("/", 1)[1]) + "Accept"
    defs[name] = {"title": name, "type": "string", "enum": [ct], "description": f"the Accept header {ct} answers need"}
    return {"name": "Accept", "in": "header", "required": True, "description": ACCEPT_NOTE.format(ct=ct),
            "schema": {"allOf": [{"$ref": REF.format(model=name)}], "default": ct}}


@cache
def page_model(item: type) -> type:
    """``{"items": [item], "next_cursor": str | null}`` as a named model ``<Item>Page``."""
    from pydantic import Field, create_model

    from .schemas import Response

    return create_model(f"{item.__name__}Page", __base__=Response,
                        items=(list[item], ...),  # type: ignore[valid-type]
                        next_cursor=(str | None, Field(description="pass as `cursor` for the next page; "
                                                                   "null on the last page")))


def _named_enums() -> dict[tuple, str]:
    """Enum value tuples → their name, from every ``X = Literal[...]`` alias of the schema modules."""
    import sys

    names: dict[tuple, str] = {}
    taken: dict[str, tuple] = {}
    for module_name in sorted({spec.schemas_module for spec in ROUTES} | {"chalicelib.core.schemas"}):
        module = sys.modules.get(module_name)
        for attr, value in sorted(vars(module).items()) if module else ():
            if typing.get_origin(value) is not typing.Literal:
                continue
            values = tuple(value.__args__)
            if len(values) < 2 or values in names:
                continue
            name = attr if attr not in taken else module_name.split(".")[1].title() + attr
            names[values] = name
            taken[name] = values
    return names


def _camel(s: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[^0-9A-Za-z]+", s) if p)


class _Enums:
    """Moves every inline ``enum`` into a named component and leaves a ``$ref`` in its place."""

    def __init__(self, defs: dict):
        self.defs = defs
        self.known = _named_enums()

    def name_for(self, values: tuple, context: str) -> str:
        name = self.known.get(values) or context
        existing = self.defs.get(name)
        if existing is not None and tuple(existing.get("enum", ())) != values:
            name = context if name != context else context + "Enum"
        self.known.setdefault(values, name)
        return name

    def walk(self, node: Any, context: str) -> Any:
        if isinstance(node, list):
            return [self.walk(n, context) for n in node]
        if not isinstance(node, dict):
            return node
        if "enum" in node and len(node["enum"]) > 1:
            values = tuple(node["enum"])
            name = self.name_for(values, context)
            self.defs[name] = {"title": name, "type": node.get("type", "string"), "enum": list(values)}
            rest = {k: v for k, v in node.items() if k not in ("enum", "type", "title")}
            return {"$ref": REF.format(model=name), **rest}
        out = {}
        for key, value in node.items():
            if key == "properties":
                out[key] = {p: self.walk(s, context + _camel(p)) for p, s in value.items()}
            else:
                out[key] = self.walk(value, context)
        return out


def _body_models() -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    from .schemas import Error

    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(Error, "serialization")]
    for spec in ROUTES:
        if spec.request is not None:
            models.append((spec.resolve(spec.request), "validation"))
        if spec.response is not None and spec.produces == "application/json":
            resolved = spec.resolve(spec.response)
            models.append((page_model(resolved.item) if isinstance(resolved, ListOf) else resolved, "serialization"))
    return list(dict.fromkeys(models))


def _body_ref(tp: Any, refs: dict, mode: str) -> dict:
    if isinstance(tp, ListOf):
        tp = page_model(tp.item)
    return refs[(tp, mode)]


def _query_params(model: type, enums: _Enums, defs: dict) -> list[dict]:
    from pydantic import TypeAdapter

    schema = TypeAdapter(model).json_schema(ref_template=REF, mode="validation")
    defs.update(schema.pop("$defs", {}))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = enums.walk(prop, _camel(model.__name__) + _camel(name))
        param = {"name": name, "in": "query", "required": name in schema.get("required", []), "schema": prop}
        if "description" in prop:
            param["description"] = prop["description"]
        params.append(param)
    return params


def _operation_id(spec) -> str:
    return f"{spec.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', spec.path.lower()).strip('_')}"


@lru_cache(maxsize=1)
def document() -> dict:
    from pydantic.json_schema import models_json_schema

    models = _body_models()
    refs, top = models_json_schema(models, ref_template=REF)
    defs: dict = top.get("$defs", {})
    # The gateway's own refusals (no token, unknown route) render Error too: on AWS through the
    # gateway responses in infra/, locally through devstack's API front. Only a payment provider's
    # callback is answered in the provider's own protocol.
    defs["ProviderFailure"] = {"title": "ProviderFailure", "type": "object", "required": ["code", "message"],
                               "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                               "description": "WeChat Pay's callback answer when a notification is refused"}
    error_ref = {"$ref": REF.format(model="Error")}
    provider_or_error = {"anyOf": [{"$ref": REF.format(model="ProviderFailure")}, error_ref]}
    enums = _Enums(defs)
    for name in list(defs):
        defs[name] = enums.walk(defs[name], name) if "enum" not in defs[name] else defs[name]

    paths: dict = {}
    for spec in ROUTES:
        op: dict = {"summary": spec.summary, "tags": [spec.tag], "operationId": _operation_id(spec)}
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                  for n in re.findall(r"{(\w+)}", spec.path)]
        if spec.query is not None:
            params += _query_params(spec.resolve(spec.query), enums, defs)
        if spec.produces in BINARY_TYPES:
            params.append(_accept_param(spec.produces, defs))
        if spec.idempotent:
            params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                           "description": "a retry with the same key returns the first answer",
                           "schema": {"type": "string", "minLength": 1, "maxLength": 128}})
        if params:
            op["parameters"] = params
        if spec.request is not None:
            op["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": _body_ref(spec.resolve(spec.request), refs, "validation")}}}
        ok: dict = {"description": _STATUS_TEXT.get(spec.status, "OK")}
        if spec.produces == "application/json" and spec.response is not None:
            ok["content"] = {"application/json": {"schema": _body_ref(spec.resolve(spec.response), refs,
                                                                      "serialization")}}
        elif spec.produces in BINARY_TYPES:
            ok["content"] = {spec.produces: {"schema": {"type": "string", "format": "binary",
                                                        "contentMediaType": spec.produces}}}
            ok["description"] = ACCEPT_NOTE.format(ct=spec.produces)
            op["description"] = ACCEPT_NOTE.format(ct=spec.produces)
        elif spec.produces != "application/json":
            ok["content"] = {spec.produces: {"schema": {"type": "string"}}}
        responses: dict = {str(spec.status): ok}
        codes = set(spec.errors)
        if spec.request is not None or spec.query is not None or spec.idempotent or spec.produces in BINARY_TYPES:
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
            # a provider's callback that answers its failures in the provider's protocol (no
            # response model of ours); one that answers a model of ours fails with Error alone
            provider_callback = (not spec.auth and spec.request is None and spec.method == "POST"
                                 and spec.response is None)
            schema = provider_or_error if provider_callback and code in (400, 401) else error_ref
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
                 "description": "Post-visit care: binding, follow-up messaging, extra slots, payments. "
                                "Clients: see the README's section for the mobile team."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": dict(sorted(defs.items())),
                       "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
    }

