"""The OpenAPI description, true to what the hub answers (issue 14).

FastAPI describes a 422 as its own ``HTTPValidationError`` (``detail``: an array) and no other
error at all. The hub's errors are all one JSON shape, mapped in one place (hub/api/errors.py):
``{"detail": …}`` where ``detail`` is a sentence, or for a body that failed validation the list of
``{loc, msg, type}``; some carry more facts beside it (CAP ingest's ``unmapped``). Every error
CONTRACT §Errors lists can come from any route through the shared dependencies and middleware
(a bad or throttled token, a body over the limit, a full disk), so each operation documents them
all, with that one schema. Clients generated from ``/openapi.json`` then parse every answer, and
tests/api/test_trust_openapi.py runs schemathesis against it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

#: CONTRACT §Errors, in its words.
ERRORS = {
    "400": "The request cannot be read (a malformed body or header)",
    "401": "No token, or a token that is not (or no longer) valid",
    "403": "A token that may not do this",
    "404": "Not found (also another commune's objects the caller may not see)",
    "409": "A transition the workflow does not allow",
    "413": "A body over the limit, or a commune's audio over its quota",
    "415": "A body of a type this operation does not take",
    "422": "Invalid fields (``detail`` names them; for a body, the list of what failed)",
    "429": "Too many failed attempts, or too much audio work at once; see ``Retry-After``",
    "507": "The hub's storage is full; nothing was written",
}

ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"$ref": "#/components/schemas/ErrorItem"}},
            ],
        },
    },
    "additionalProperties": True,
}

ERROR_ITEM_SCHEMA = {
    "title": "ErrorItem",
    "type": "object",
    "required": ["loc", "msg", "type"],
    "properties": {
        "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
        "msg": {"type": "string"},
        "type": {"type": "string"},
    },
}

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def describe_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Give every operation of a generated description the hub's error answers (in place)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    components["ErrorItem"] = ERROR_ITEM_SCHEMA
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for item in schema.get("paths", {}).values():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for code, description in ERRORS.items():
                responses[code] = {"description": description, "content": error}
    # FastAPI's own validation shapes are no longer referred to by anything.
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and so ``/openapi.json``, ``/docs``) describe the hub's errors."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
