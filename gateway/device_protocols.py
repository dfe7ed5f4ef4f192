"""What the gateway's SCEP and EST routes share (gateway/api_scep.py, api_est.py): the request read under a body
limit, passed to enrollment as a request envelope (DESIGN §5: the owning service answers the protocol), and its
answer returned unchanged. Refusals are text/plain with the reason, as devices log them."""
from __future__ import annotations

import base64

from werkzeug.wrappers import Request, Response

from contracts.errors import DomainError

TEXT = "text/plain; charset=utf-8"


def text(status: int, message: str, headers: dict | None = None) -> Response:
    return Response(message + "\n", status=status, headers=headers or {}, content_type=TEXT)


def read_body(request: Request, limit: int) -> bytes | None:
    """The POST body (a chunked one too), or None when it is over `limit` bytes."""
    if request.method != "POST":
        return b""
    # werkzeug reads nothing of a chunked body (no Content-Length); eventlet's wsgi.input decodes chunks
    stream = request.stream if request.content_length is not None else request.environ["wsgi.input"]
    body = stream.read(limit + 1)
    return None if len(body) > limit else body


def pass_to_enrollment(routes, rpc_name: str, what: str, request: Request, path: str, passed_headers: tuple,
                       body: bytes, client_der: bytes | None = None) -> tuple[dict | None, Response]:
    """(the answer, its Response) of enrollment's `rpc_name` for this request; (None, 503 + Retry-After) when
    enrollment does not answer, so a device tries again."""
    envelope = {"method": request.method, "path": path, "query": request.query_string.decode("latin-1"),
                "headers": {k: request.headers[k] for k in passed_headers if k in request.headers},
                "body_b64": base64.b64encode(body).decode(),
                "client_cert_b64": base64.b64encode(client_der).decode() if client_der else None}
    try:
        answer = routes._call(routes.enrollment_rpc, rpc_name, envelope)
    except (TimeoutError, DomainError) as exc:
        return None, text(503, f"the {what} service did not answer ({type(exc).__name__}); try again shortly",
                          {"Retry-After": "5"})
    headers = dict(answer["headers"])
    content_type = headers.pop("Content-Type", None)
    raw = base64.b64decode(answer["body_b64"])
    return answer, Response(raw, status=answer["status"], headers=headers, content_type=content_type)
