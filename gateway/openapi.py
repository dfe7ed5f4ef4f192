"""The OpenAPI 3.1 document, generated from the routes themselves: each `@api(...)` carries an `Operation`, and
the schemas are the marshmallow classes the gateway validates and answers with."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import fields as ma_fields

from gateway import schemas

ERROR_RESPONSES = {
    400: "invalid request: malformed JSON, unknown or invalid fields (details name them)",
    401: "not authenticated: no, an invalid or an expired token or API key, or a suspended account",
    403: "authenticated, but a right is missing (details name it), or the password must be changed first",
    404: "no such object, or not in your scope",
    409: "conflicts with the current state (details say which rule)",
    413: "request body over the limit",
    415: "request body is not application/json",
    503: "a service did not answer in time",
}


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    body: type | object | None = None          # marshmallow schema (class or instance) of the JSON body
    query: type | None = None                  # marshmallow schema of the query parameters
    responses: dict = field(default_factory=dict)   # status -> (schema or None, description)
    upload: dict = field(default_factory=dict)  # field -> media types: also multipart/form-data, the field a file
    idempotent_post: bool = False
    public: bool = False                       # needs no authentication (stays true after identity lands)


def _openapi_path(werkzeug_rule: str) -> str:
    return re.sub(r"<(?:[a-z_]+:)?([a-z_]+)>", r"{\1}", werkzeug_rule)


def build_spec(service_cls, server_url: str) -> dict:
    spec = APISpec(title="Certplane API", version="1.0.0", openapi_version="3.1.0",
                   plugins=[MarshmallowPlugin()],
                   info={"description": "Certificate lifecycle management. Errors always have the shape of the "
                                        "Error schema. Every route except login, health and this document needs "
                                        "Authorization: Bearer <session token or API key>; objects outside the "
                                        "caller's scope answer 404 and never appear in lists or counts."},
                   servers=[{"url": server_url}])
    spec.components.schema("Error", schema=schemas.Error)
    spec.components.security_scheme("bearer", {
        "type": "http", "scheme": "bearer",
        "description": "a session token from POST /api/v1/auth/login (cps_…) or an API key (cpk_…)"})
    paths: dict[str, dict] = {}
    for handler in routes(service_cls):
        operation: Operation = handler.doc
        path = _openapi_path(handler.url)
        method = handler.method.lower()
        parameters = [{"in": "path", "name": name, "required": True,
                       "schema": {"type": "string", "format": "uuid"} if name.endswith("_id") else {"type": "string"}}
                      for name in re.findall(r"{([a-z_]+)}", path)]
        if operation.query is not None:
            parameters.append({"in": "query", "schema": operation.query})
        if operation.idempotent_post:
            parameters.append({"in": "header", "name": "Idempotency-Key", "required": False,
                               "schema": {"type": "string", "maxLength": 255},
                               "description": "repeat the request safely: same key and body, same response"})
        entry: dict = {"summary": operation.summary, "tags": [operation.tag], "parameters": parameters,
                       "responses": {}}
        if operation.body is not None:
            entry["requestBody"] = {"required": True,
                                    "content": {"application/json": {"schema": operation.body}}}
        if operation.upload:
            entry["requestBody"]["content"]["multipart/form-data"] = {
                "schema": operation.body,
                "encoding": {name: {"contentType": types} for name, types in operation.upload.items()}}
            entry["requestBody"]["description"] = _form_rules(operation.body, operation.upload)
            entry["responses"]["415"] = {"description": "request body is neither application/json nor "
                                                        "multipart/form-data",
                                         "content": {"application/json": {"schema": "Error"}}}
        for status, (schema, description) in operation.responses.items():
            response: dict = {"description": description}
            if schema is not None:
                response["content"] = {"application/json": {"schema": schema}}
            entry["responses"][str(status)] = response
        defaults = ERROR_RESPONSES if not operation.public else \
            {s: d for s, d in ERROR_RESPONSES.items() if operation.body is not None and s in (400, 413, 415)}
        if defaults:
            for status, description in defaults.items():
                entry["responses"].setdefault(str(status), {
                    "description": description,
                    "content": {"application/json": {"schema": "Error"}}})
        if not operation.public:
            entry["security"] = [{"bearer": []}]
        paths.setdefault(path, {})[method] = entry
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _form_rules(body, upload: dict) -> str:
    """How a multipart/form-data body maps to the JSON one (gateway/base.py form_object does it)."""
    schema = body() if isinstance(body, type) else body
    lists = [name for name, f in schema.fields.items() if isinstance(f, ma_fields.List)]
    files = ", ".join(f"`{name}`" for name in upload)
    text = (f"JSON, or multipart/form-data with the same field names: {files} as a file part (PEM, or DER bytes) "
            "or as a text field; ")
    if lists:
        text += (f"a list ({', '.join(f'`{n}`' for n in lists)}) as one form field per item, the field repeated "
                 "(not comma-separated); ")
    return text + ("every other field once; booleans `true` or `false`; numbers in decimal; an empty field counts "
                   "as not sent. The same validation, errors and Idempotency-Key rules as JSON.")


def routes(service_cls):
    """Every @api entrypoint of a service class, in definition order."""
    from gateway.http import ApiHandler

    found, seen = [], set()
    for cls in service_cls.__mro__:             # the route mixins (api_*.py) hold most of them
        for name, value in vars(cls).items():
            if name in seen:
                continue
            seen.add(name)
            found += [e for e in getattr(value, "nameko_entrypoints", ()) if isinstance(e, ApiHandler)]
    return found
