"""What every group of routes uses: who is asking and what they may see, request parsing, idempotent POSTs, and
calls to services that keep the gateway's read models current (read your own writes)."""
from __future__ import annotations

import base64
import io
import json
import re
import uuid
from datetime import date, datetime, timezone

import structlog
from marshmallow import ValidationError, fields
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType
from werkzeug.formparser import FormDataParser
from werkzeug.wrappers import Request, Response

from contracts.access import Principal
from contracts.errors import DomainError, Forbidden, InvalidRequest, Unauthenticated
from gateway.auth import BACKGROUND_HEADER, authenticate, check_same_origin
from gateway.scope import Scope
from services.runtime.nameko_glue import READ_EVENTS_TIMEOUT, rpc_call

JSON, MULTIPART = "application/json", "multipart/form-data"
MAX_FORM_PARTS = 1000       # a multipart/form-data body: at most this many fields and files
MAX_JSON_DEPTH = 64         # arrays and objects in a JSON body nest at most this deep (ours nest a few levels)


def json_response(status: int, body, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers)


def parse_query(request: Request, schema) -> dict:
    """The query string checked against `schema`. No parameter of ours is a list: one sent twice is refused
    (a proxy and we could each take another of the two)."""
    repeated = [k for k in request.args if len(request.args.getlist(k)) > 1]
    if repeated:
        raise InvalidRequest("each query parameter may appear once", {k: ["sent more than once"] for k in repeated},
                             code="duplicate_key")
    try:
        return schema.load(request.args.to_dict())
    except ValidationError as exc:
        raise InvalidRequest("the query has invalid parameters", exc.messages_dict) from None


def read_body(request: Request, limit: int, mimetypes: tuple[str, ...]) -> bytes:
    if request.mimetype not in mimetypes:
        raise UnsupportedMediaType(f"send the body as {' or '.join(mimetypes)}")
    # werkzeug reads nothing of a chunked body (no Content-Length); eventlet's wsgi.input decodes chunks itself
    stream = request.stream if request.content_length is not None else request.environ["wsgi.input"]
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise RequestEntityTooLarge(f"the request body is over the limit of {limit} bytes")
    return raw


def parse_body(request: Request, schema, limit: int, upload=()) -> tuple[bytes, dict]:
    """The JSON object of a request body, checked against `schema`: (raw bytes, the object as sent).

    With `upload` (names of fields that may come as files), a multipart/form-data body is accepted too and becomes
    the same object (see `form_object`); its "raw bytes", which Idempotency-Key compares, are then that object as
    canonical JSON, since a client sending the same form again picks a new boundary."""
    raw = read_body(request, limit, (JSON, MULTIPART) if upload else (JSON,))
    if request.mimetype == MULTIPART:
        data = form_object(raw, request.mimetype_params, schema, upload)
    else:
        data = json_object(raw)
    try:
        loaded = schema.load(data)
    except ValidationError as exc:
        raise InvalidRequest("the request has invalid fields", exc.messages_dict) from None
    if request.mimetype == MULTIPART:          # typed as JSON would have sent it: 90, not "90"; true, not "true"
        data = {name: _as_json(loaded[name]) for name in data}
        raw = json.dumps(data, sort_keys=True).encode()
    return raw, data


def json_object(raw: bytes) -> dict:
    """A JSON request body as the object it must be, read one way only: UTF-8, no key twice in one object (400
    `duplicate_key`: parsers that keep the first and the last value would read two requests), nested at most
    MAX_JSON_DEPTH deep (400 `json_too_deep`, counted before json.loads recurses), and nothing else that is not
    JSON (400 `malformed_json`): no NaN or Infinity, no half of a surrogate pair (\\ud800: no UTF-8 can hold it)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON: not UTF-8 ({exc.reason} at byte {exc.start})",
                             {"body": ["malformed JSON"]}, code="malformed_json") from None
    if nests_deeper_than(text, MAX_JSON_DEPTH):
        raise InvalidRequest(f"the body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels",
                             {"body": [f"nested deeper than {MAX_JSON_DEPTH}"]}, code="json_too_deep")
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)
    except _DuplicateKey as exc:
        raise InvalidRequest(f'the body sends the key "{exc.key}" more than once in one object',
                             {"body": [f'key "{exc.key}" sent more than once']}, code="duplicate_key") from None
    except ValueError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}", {"body": ["malformed JSON"]},
                             code="malformed_json") from None
    if _SURROGATE_ESCAPE.search(text) and not _is_unicode(data):
        raise InvalidRequest("the body is not valid JSON: a \\u escape names half of a surrogate pair, no character",
                             {"body": ["malformed JSON"]}, code="malformed_json")
    if not isinstance(data, dict):
        raise InvalidRequest("the body must be a JSON object", {"body": ["not an object"]})
    return data


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")   # a pair that json.loads joins, or half of one


def _is_unicode(data) -> bool:
    """No lone surrogate in any string: json.loads keeps one, and the event store's hash of it (UTF-8) failed."""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_JSON_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"?', re.DOTALL)  # to its closing quote, or the end
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def nests_deeper_than(text: str, limit: int) -> bool:
    """Whether the arrays and objects of a JSON text nest deeper than `limit`: the brackets outside strings,
    counted in one pass over the text without its strings (an unclosed string runs to the end). Malformed text
    gets an answer too; json.loads then refuses it."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for bracket in _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > limit:
            return True
    return False


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    data = {}
    for key, value in pairs:
        if key in data:
            raise _DuplicateKey(key)
        data[key] = value
    return data


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def form_object(raw: bytes, options: dict, schema, upload) -> dict:
    """A multipart/form-data body as the JSON object it stands for. Fields have the JSON names. A field in `upload`
    may be a file part: PEM (or other text starting with "-----BEGIN") as text, anything else taken as DER and
    sent on as its base64. A list field (e.g. `sans`) is one form field per item, repeated; any other field
    appears once. An empty field or file counts as not sent (what an HTML form sends for a blank input).
    Numbers and booleans ("true"/"false") stay text here: the schema reads them (parse_body then passes them on
    typed, as JSON would have sent them)."""
    parser = FormDataParser(silent=False, max_form_memory_size=len(raw) + 1, max_form_parts=MAX_FORM_PARTS)
    try:
        _stream, form, files = parser.parse(io.BytesIO(raw), MULTIPART, len(raw), options)
    except ValueError as exc:
        raise InvalidRequest(f"the body is not valid multipart/form-data: {exc}",
                             {"body": ["malformed multipart/form-data"]}, code="malformed_form") from None
    values: dict[str, list] = {}
    problems: dict[str, list[str]] = {}
    for name, text in form.items(multi=True):
        if text != "":
            values.setdefault(name, []).append(text)
    for name, storage in files.items(multi=True):
        content = storage.read()
        if name not in upload:
            problems[name] = ["send this field as a form field, not a file"]
        elif content:
            values.setdefault(name, []).append(_uploaded_text(content))
    repeated = [name for name, items in values.items()
                if len(items) > 1 and not isinstance(schema.fields.get(name), fields.List)]
    if repeated:
        raise InvalidRequest("the form sends a field more than once that takes one value",
                             {name: ["sent more than once"] for name in repeated}, code="duplicate_key")
    data = {name: items if isinstance(schema.fields.get(name), fields.List) else items[0]
            for name, items in values.items()}
    if problems:
        raise InvalidRequest("the form has invalid fields", problems)
    return data


def _uploaded_text(content: bytes) -> str:
    if content.lstrip().startswith(b"-----BEGIN"):
        return content.decode("ascii", errors="replace")
    return base64.b64encode(content).decode()


def _as_json(value):
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


class GatewayBase:
    """Helpers of GatewayService (which declares the dependencies they use)."""

    # ---- who is asking -------------------------------------------------------------------------------------
    def _begin(self, request: Request, *, password_change_allowed: bool = False) -> Scope:
        """Authenticate, record the actor for logs, RPCs and events, and return the caller's scope.
        An admin who must change their password may only do that (403 otherwise)."""
        now = datetime.now(timezone.utc)
        principal = authenticate(request, self, now)
        actor = f"admin:{principal.admin_id}"
        self.context.actor = actor
        structlog.contextvars.bind_contextvars(actor=actor, via=principal.via)
        if "csrf_token" in principal.extra:
            self._console_request(request, principal, now)
        if principal.must_change_password and not password_change_allowed:
            raise Forbidden("change your password first (POST /api/v1/auth/password)",
                            {"missing": "password change"}, code="password_change_required")
        return Scope(principal, self._directory_read(
            lambda d, c: d.department_organizations(c, principal.departments())))

    def _console_request(self, request: Request, principal: Principal, now: datetime) -> None:
        """A request of the console (the session cookie): ended if the session has been idle too long, refused
        if it changes something without coming from this origin with the CSRF token (auth.py)."""
        sessions = self.console_sessions
        if sessions.is_idle(principal.credential_id, now):
            self._identity("logout", principal.admin_id, principal.credential_id)
            sessions.ended(principal.credential_id)
            minutes = round(sessions.idle.total_seconds() / 60)
            raise Unauthenticated(f"the session ended after {minutes} minutes without activity; log in again",
                                  {"idle_timeout_seconds": sessions.idle.total_seconds()}, code="session_idle")
        check_same_origin(request, principal.extra["csrf_token"], self.context.settings.base_url)
        if request.headers.get(BACKGROUND_HEADER) != "1":
            sessions.active(principal.credential_id, now)

    def lookup_session(self, token_sha256: str):
        return self._principal_row("session", token_sha256, lambda p, c: p.by_session(c, token_sha256))

    def lookup_api_key(self, key_sha256: str):
        row = self._principal_row("api_key", key_sha256, lambda p, c: p.by_api_key(c, key_sha256))
        if row is not None:
            self.api_key_usage.touch(row["key_id"], datetime.now(timezone.utc))
        return row

    def _principal_row(self, kind: str, token_sha256: str, query):
        """The directory row of a token, through the process's PrincipalCache (principals.py)."""
        follower = self.principals
        return follower.projection.cache.lookup((kind, token_sha256), follower.position_now(),
                                                lambda: self._principals_read(query))

    # ---- read models ---------------------------------------------------------------------------------------
    def _directory_read(self, query):
        with self.orgs_directory.db.engine.connect() as conn:
            return query(self.orgs_directory.projection, conn)

    def _principals_read(self, query):
        with self.principals.db.engine.connect() as conn:
            return query(self.principals.projection, conn)

    def _dept_org_of(self, department_ids) -> callable:
        found = self._directory_read(lambda d, c: d.department_organizations(c, department_ids))
        return found.get

    # ---- calling services ----------------------------------------------------------------------------------
    def _read_orgs_events(self, after: int, limit: int) -> list[dict]:
        return rpc_call(self.orgs_rpc.read_events, after, limit, timeout=READ_EVENTS_TIMEOUT)

    def _read_identity_events(self, after: int, limit: int) -> list[dict]:
        return rpc_call(self.identity_rpc.read_events, after, limit, timeout=READ_EVENTS_TIMEOUT)

    def _read_ca_events(self, after: int, limit: int) -> list[dict]:
        return rpc_call(self.ca_rpc.read_events, after, limit, timeout=READ_EVENTS_TIMEOUT)

    def _call(self, proxy, method: str, *args, **kwargs):
        return rpc_call(getattr(proxy, method), *args, timeout=self.context.settings.rpc_timeout, **kwargs)

    def _apply(self, follower, read_events, result: dict) -> dict:
        """Read your own writes: the command's answer carries its events; apply them (the push arrives later as
        a duplicate), and pull if the follower was behind the command's position."""
        for message in result["events"]:
            follower.receive(message, read_events)
        follower.wait_for(result["position"], read_events)
        return result

    def _orgs(self, method: str, *args) -> dict:
        return self._apply(self.orgs_directory, self._read_orgs_events, self._call(self.orgs_rpc, method, *args))

    def _identity(self, method: str, *args, **kwargs) -> dict:
        return self._apply(self.principals, self._read_identity_events,
                           self._call(self.identity_rpc, method, *args, **kwargs))

    @property
    def _orgs_position(self) -> int:
        """How far the gateway has seen orgs: identity waits until it has seen as much (a role or person may
        name an organization created a moment ago)."""
        return self.orgs_directory.position()

    # ---- idempotent POST -----------------------------------------------------------------------------------
    def _idempotent(self, request: Request, principal: Principal, raw: bytes, run) -> Response:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return run(None)
        claim = self.idempotency.claim(f"admin:{principal.admin_id}", request.method, request.path, key, raw)
        if claim.replay is not None:
            stored = claim.replay
            return Response(stored["body"], status=stored["status"], mimetype="application/json",
                            headers={**stored["headers"], "Idempotent-Replayed": "true"})
        try:
            response = run(claim.derived_id)
        except DomainError:
            self.idempotency.release(claim)
            raise
        headers = {k: v for k, v in response.headers.items() if k == "Location"}
        self.idempotency.complete(claim, response.status_code, headers, response.get_data(as_text=True))
        return response
