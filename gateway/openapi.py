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
    400: "invalid request: malformed JSON or framing, JSON nested too deep (json_too_deep), a key sent twice "
         "(duplicate_key), unknown or invalid fields or query parameters, numbers out of bounds (details name them)",
    401: "not authenticated: no, an invalid or an expired token or API key, or a suspended account",
    403: "authenticated, but a right is missing (details name it), or the password must be changed first",
    404: "no such object, or not in your scope",
    408: "the request body did not arrive in time",
    409: "conflicts with the current state (details say which rule)",
    413: "request body over the limit",
    415: "request body is not of the media type the route takes",
    503: "a service did not answer in time",
}
BODY_ERRORS = (400, 408, 413, 415)      # every route that reads a body can answer these, public ones included


def default_errors(operation: "Operation", path_parameters: list[str]) -> list[int]:
    """The error statuses a route can answer besides its own `responses`: all of them for a route that needs
    authentication (the body ones only if it reads a body); for a public route those its inputs lead to — a body
    or a query can be invalid (400), a path names an object that may not exist (404), and either goes to a
    service that may not answer (503)."""
    takes_body = operation.body is not None or operation.raw_body is not None
    if not operation.public:
        return [s for s in ERROR_RESPONSES if takes_body or s not in BODY_ERRORS[1:]]
    statuses = set(BODY_ERRORS) if takes_body else set()
    if operation.query is not None:
        statuses.add(400)
    if path_parameters:
        statuses.add(404)
    if takes_body or operation.query is not None or path_parameters:
        statuses.add(503)
    return sorted(statuses)


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    body: type | object | None = None          # marshmallow schema (class or instance) of the JSON body
    raw_body: str | None = None                # or the media type of a body that is not JSON (bytes, e.g. OCSP)
    query: type | None = None                  # marshmallow schema of the query parameters
    responses: dict = field(default_factory=dict)   # status -> (schema, media types (a tuple of str) of a
                                                    # non-JSON answer, or None for no body; description), or
                                                    # (schema, description, media types) for JSON of other types
    upload: dict = field(default_factory=dict)  # field -> media types: also multipart/form-data, the field a file
    idempotent_post: bool = False
    public: bool = False                       # needs no authentication (stays true after identity lands)


def _openapi_path(werkzeug_rule: str) -> str:
    return re.sub(r"<(?:[a-z_]+(?:\([a-z_,]+\))?:)?([a-z_]+)>", r"{\1}", werkzeug_rule)


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
        path_names = re.findall(r"{([a-z_]+)}", path)
        choices = dict((name, values.split(",")) for values, name in re.findall(r"<any\(([a-z_,]+)\):([a-z_]+)>",
                                                                               handler.url))
        parameters = [{"in": "path", "name": name, "required": True,
                       "schema": {"type": "string", "enum": choices[name]} if name in choices else
                       {"type": "string", "format": "uuid"} if name.endswith("_id") else {"type": "string"}}
                      for name in path_names]
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
        if operation.raw_body is not None:
            entry["requestBody"] = {"required": True, "content": {operation.raw_body: {
                "schema": {"type": "string", "contentMediaType": operation.raw_body}}}}
        if operation.upload:
            entry["requestBody"]["content"]["multipart/form-data"] = {
                "schema": operation.body,
                "encoding": {name: {"contentType": types} for name, types in operation.upload.items()}}
            entry["requestBody"]["description"] = _form_rules(operation.body, operation.upload)
            entry["responses"]["415"] = {"description": "request body is neither application/json nor "
                                                        "multipart/form-data",
                                         "content": {"application/json": {"schema": "Error"}}}
        for status, (schema, description, *media) in operation.responses.items():
            response: dict = {"description": description}
            if media:                     # (schema — marshmallow or a JSON Schema dict —, description, media types)
                response["content"] = {media_type: {"schema": schema} for media_type in media[0]}
            elif isinstance(schema, tuple):
                response["content"] = {media_type: {"schema": {"type": "string"}} for media_type in schema}
            elif schema is not None:
                response["content"] = {"application/json": {"schema": schema}}
            entry["responses"][str(status)] = response
        for status in default_errors(operation, path_names):
            entry["responses"].setdefault(str(status), {
                "description": ERROR_RESPONSES[status],
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
