"""The OpenAPI 3.1 document, generated from the routes themselves: each `@api(...)` carries an `Operation`, and
the schemas are the marshmallow classes the gateway validates and answers with."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from gateway import schemas

ERROR_RESPONSES = {
    400: "invalid request: malformed JSON, unknown or invalid fields (details name them)",
    404: "no such object",
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
    idempotent_post: bool = False
    public: bool = False                       # needs no authentication (stays true after identity lands)


def _openapi_path(werkzeug_rule: str) -> str:
    return re.sub(r"<(?:[a-z_]+:)?([a-z_]+)>", r"{\1}", werkzeug_rule)


def build_spec(service_cls, server_url: str) -> dict:
    spec = APISpec(title="Certplane API", version="1.0.0", openapi_version="3.1.0",
                   plugins=[MarshmallowPlugin()],
                   info={"description": "Certificate lifecycle management. Errors always have the shape of the "
                                        "Error schema. Until the identity service lands the API is "
                                        "unauthenticated; every route passes through one authentication seam "
                                        "(gateway/auth.py) where bearer tokens and API keys will be checked."},
                   servers=[{"url": server_url}])
    spec.components.schema("Error", schema=schemas.Error)
    paths: dict[str, dict] = {}
    for handler in routes(service_cls):
        operation: Operation = handler.doc
        path = _openapi_path(handler.url)
        method = handler.method.lower()
        parameters = [{"in": "path", "name": name, "required": True, "schema": {"type": "string", "format": "uuid"}}
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
        for status, (schema, description) in operation.responses.items():
            response: dict = {"description": description}
            if schema is not None:
                response["content"] = {"application/json": {"schema": schema}}
            entry["responses"][str(status)] = response
        if not operation.public:
            for status, description in ERROR_RESPONSES.items():
                entry["responses"].setdefault(str(status), {
                    "description": description,
                    "content": {"application/json": {"schema": "Error"}}})
        paths.setdefault(path, {})[method] = entry
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def routes(service_cls):
    """Every @api entrypoint of a service class, in definition order."""
    from gateway.http import ApiHandler

    found = []
    for value in vars(service_cls).values():
        for entrypoint in getattr(value, "nameko_entrypoints", ()):
            if isinstance(entrypoint, ApiHandler):
                found.append(entrypoint)
    return found
