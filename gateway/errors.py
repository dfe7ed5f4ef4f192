"""The one table from errors to HTTP (DESIGN §5): every error response of the API is built here."""
from __future__ import annotations

import json

import structlog
from nameko.exceptions import UnknownService
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from contracts.errors import DomainError

log = structlog.get_logger(__name__)


def error_response(status: int, code: str, message: str, details=None, correlation_id: str | None = None,
                   headers: dict | None = None) -> Response:
    body = {"error": {"code": code, "message": message, "details": details if details is not None else {},
                      "correlation_id": correlation_id}}
    response = Response(json.dumps(body), status=status, mimetype="application/json", headers=headers)
    if correlation_id:
        response.headers["X-Correlation-Id"] = correlation_id
    return response


def response_for_exception(exc: BaseException, correlation_id: str | None) -> Response:
    if isinstance(exc, DomainError):
        headers = {"Retry-After": "5"} if exc.http_status == 503 else None
        return error_response(exc.http_status, exc.code, exc.message, exc.details, correlation_id, headers)
    if isinstance(exc, HTTPException):  # routing: 404 unknown path, 405 wrong method, 413 too large
        headers = dict(exc.get_headers())
        headers.pop("Content-Type", None)
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name, None, correlation_id, headers)
    if isinstance(exc, (TimeoutError, UnknownService)):
        log.error("upstream_unavailable", error=str(exc), correlation_id=correlation_id)
        return error_response(503, "service_unavailable", "a service did not answer in time; try again",
                              None, correlation_id, {"Retry-After": "5"})
    log.error("unhandled_error", error=repr(exc), correlation_id=correlation_id)
    return error_response(500, "internal_error", "unexpected error; it was logged with this correlation id",
                          None, correlation_id)
