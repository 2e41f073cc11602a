"""The health check and the OpenAPI document, registered in every function beside its unit's own
routes (the gateway sends them to ``topology.SYSTEM``'s function, which knows every route).

The document's builder (``openapi``) is imported by the first request for it: every function
imports this module at cold start, and the builder is as large as a domain's routes.
"""

from __future__ import annotations

from .http import Api, Ctx
from .lazy import lazy_module

openapi = lazy_module("chalicelib.core.openapi")

api = Api("system")


@api.route("/v1/openapi.json", "GET", auth=False, summary="This API's OpenAPI document")
def openapi_json(ctx: Ctx):
    return openapi.document()


@api.route("/v1/health", "GET", auth=False, summary="Liveness check")
def health(ctx: Ctx):
    return {"status": "ok"}
