"""Enrollment form accounts and device enrollment endpoints (issue 15): entrypoints mixed into EnrollmentService
(nameko collects entrypoints and dependencies from base classes). The rules are in forms_domain.py, the read model
in forms_projections.py, the contracts in contracts/enrollment_forms.py.

Access codes: hashed with argon2id (identity's parameters: argon2-cffi's RFC 9106 low-memory defaults, in an OS
thread so the hashing does not stall the process) and kept in a KeptSecrets table (`form_access_codes`, keyed by
the account id) in the same transaction as the event that says the code was set — never in an event or a log. A
code that is too long or has control characters is refused (400) by the contract before any hashing, and counts
as no failure.

`authorize_applicant` is what the public forms (and SCEP/EST, issue 16) call: the account when the access code is
right and the applicant's email domain is delegated to the account's organization (department) for its type —
from enrollment's copy of domains' facts, as names are checked for SSL requests (service.py `_check_names`).
Refusals: 400 bad code or email (no failure counted), 404 unknown or deleted account, 403 `form_account_disabled`
(a disabled account says so: its id came from an administrator, and the applicant can ask them), 401
`account_locked` while locked (identity's answer to a locked login: same class, code and words; no hashing, nothing
recorded), 403 `access_code_wrong` (a failure recorded; the max_failures-th locks), 422 `email_not_delegated`
(checked only after the right code, so the form tells nobody without it which domains the organization has).
"""
from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import datetime, timedelta

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from eventlet import tpool
from nameko.rpc import rpc

from contracts import enrollment_forms as contract
from contracts.errors import EXPECTED, ConcurrencyConflict, Conflict, Forbidden, NotFound, PolicyViolation
from services.enrollment import forms_domain as fd
from services.enrollment.forms_events import decode as forms_decode
from services.enrollment.forms_projections import FormsView
from services.runtime.entrypoint_helpers import load_payload, parse_id
from services.runtime.kept_secrets import KeptSecretsProvider

log = structlog.get_logger(__name__)

_hasher = PasswordHasher()   # argon2id with identity's parameters (services/identity/adapters/credentials.py)
_APPEND_ATTEMPTS = 3
_GENERATE_ATTEMPTS = 5


def _account_stream(form_account_id: str) -> str:
    return f"form_account-{form_account_id}"


def _endpoint_stream(endpoint_id: str) -> str:
    return f"device_endpoint-{endpoint_id}"


def hash_access_code(code: str) -> str:
    return tpool.execute(_hasher.hash, code)


def access_code_matches(digest: str | None, code: str) -> bool:
    if not digest:
        return False
    try:
        return bool(tpool.execute(_hasher.verify, digest, code))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def generated_credential() -> str:
    return "".join(secrets.choice(contract.CREDENTIAL_ALPHABET) for _ in range(contract.CREDENTIAL_LENGTH))


def credential_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def endpoint_credentials_answer(endpoint: dict, credential: str) -> dict:
    """CredentialV1: what an scep or est device sends."""
    if endpoint["type"] == "scep":
        return {"challenge_password": credential}
    return {"username": endpoint["uri_extension"], "password": credential}


def challenge_stream(challenge_id: str) -> str:
    return f"device_challenge-{challenge_id}"


def generated_uri_extension() -> str:
    return "".join(secrets.choice(contract.URI_EXTENSION_ALPHABET)
                   for _ in range(contract.GENERATED_URI_EXTENSION_LENGTH))


class FormEntrypoints:
    """Mixed into EnrollmentService: uses its store, context, domain_facts, org_facts, get_profile, _subject,
    _current, catch_up_domain_facts."""

    # the argon2id hashes of the access codes (events say only when one was set); a lost row makes the account's
    # code unusable: an administrator sets a new one
    access_codes = KeptSecretsProvider("form_access_codes")
    # scep/est endpoints' credentials ({"sha256"} by endpoint id) and one-time challenges ({"challenge_id",
    # "endpoint_id", "expires_at"} by the challenge's sha256): server-made, 140 random bits, so a plain hash
    endpoint_credentials = KeptSecretsProvider("device_endpoint_credentials")
    device_challenges = KeptSecretsProvider("device_challenge_secrets")

    # ---- enrollment form accounts ---------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def create_form_account(self, payload: dict, created_by: str, account_id: str | None = None) -> dict:
        values = _canonical(load_payload(contract.CreateFormAccountV1(), payload))
        code = values.pop("access_code")
        self._subject(values["organization_id"], values["department_id"])   # NotFound: unknown org or not its dept
        profiles = self._form_profiles(values["profile_ids"])
        now = self.store.clock()
        account_id = parse_id(account_id or uuid.uuid4(), "form_account")
        fd.decide_create_account(fd.FormAccount(), account_id, values, profiles, created_by, now)  # refuse first
        digest = hash_access_code(code)
        self._form_append_keeping(_account_stream(account_id), fd.fold_account,
                             lambda state: fd.decide_create_account(state, account_id, values, profiles,
                                                                    created_by, now),
                             keep=(account_id, digest))
        log.info("form_account_created", form_account_id=account_id, cert_type=values["cert_type"])
        return {"form_account": self.get_form_account(account_id)}

    @rpc(expected_exceptions=EXPECTED)
    def get_form_account(self, form_account_id: str) -> dict:
        form_account_id = parse_id(form_account_id, fd.ACCOUNT_KIND)
        found = self.store.read(lambda conn: self._forms_view.account(conn, form_account_id))
        if found is None:
            raise NotFound.of(fd.ACCOUNT_KIND, form_account_id)
        return self._form_account_answer(found)

    @rpc(expected_exceptions=EXPECTED)
    def list_form_accounts(self, scope: dict, cert_type: str | None = None, offset: int = 0,
                           limit: int = 50) -> dict:
        """`scope`: {cert_type: contracts.access.certificate_scope(p, cert_type)} for each type the caller's
        accounts may be of (an account of type T is seen by the roles of type T); `cert_type`: only that type."""
        if cert_type is not None and cert_type not in contract.FORM_CERT_TYPES:
            return {"items": [], "total": 0}
        scopes = {t: s for t, s in (scope or {}).items() if t in contract.FORM_CERT_TYPES}
        page = self.store.read(lambda conn: self._forms_view.account_page(conn, scopes, cert_type,
                                                                          max(0, int(offset)),
                                                                          min(500, int(limit))))
        return {"items": [self._form_account_answer(a) for a in page["items"]], "total": page["total"]}

    @rpc(expected_exceptions=EXPECTED)
    def update_form_account(self, form_account_id: str, changes: dict, updated_by: str) -> dict:
        """Name, profiles, CSR generation, the flags, status, and a new access code (write-only); the type,
        organization and department are fixed (400)."""
        form_account_id = parse_id(form_account_id, fd.ACCOUNT_KIND)
        changes = _canonical(load_payload(contract.UpdateFormAccountV1(), changes))
        code = changes.pop("access_code", None)
        profiles = self._form_profiles(changes["profile_ids"]) if "profile_ids" in changes else {}
        now = self.store.clock()
        stream = _account_stream(form_account_id)

        def decide(state):
            self._form_exists(state, form_account_id)
            return fd.decide_update_account(state, changes, profiles, code is not None, updated_by, now)

        decide(self._fold_forms(stream, fd.fold_account))                        # refuse before hashing
        keep = (form_account_id, hash_access_code(code)) if code is not None else None
        self._form_append_keeping(stream, fd.fold_account, decide, keep=keep)
        return {"form_account": self.get_form_account(form_account_id)}

    @rpc(expected_exceptions=EXPECTED)
    def disable_form_account(self, form_account_id: str, by: str) -> dict:
        return self.update_form_account(form_account_id, {"status": "disabled"}, by)

    @rpc(expected_exceptions=EXPECTED)
    def delete_form_account(self, form_account_id: str, by: str) -> dict:
        """Gone from lists and reads; its access code hash is forgotten in the same transaction."""
        form_account_id = parse_id(form_account_id, fd.ACCOUNT_KIND)

        def decide(state):
            self._form_exists(state, form_account_id)
            return fd.decide_delete_account(state, by)

        self._form_append_keeping(_account_stream(form_account_id), fd.fold_account, decide, forget=form_account_id)
        return {"deleted": form_account_id}

    @rpc(expected_exceptions=EXPECTED)
    def authorize_applicant(self, account_id: str, access_code: str, email: str) -> dict:
        """{"form_account": FormAccountV1} for an applicant with the right code and a delegated email domain;
        the refusals are in this module's docstring."""
        values = load_payload(contract.AuthorizeApplicantV1(), {"access_code": access_code, "email": email})
        account_id = parse_id(account_id, fd.ACCOUNT_KIND)
        stream = _account_stream(account_id)
        settings = self.context.settings
        now = self.store.clock()
        state = self._fold_forms(stream, fd.fold_account)
        self._form_exists(state, account_id)
        fd.check_open(state, now)                     # disabled, or locked: no hashing, nothing recorded
        kept = self.access_codes.get(account_id) or {}
        code_ok = access_code_matches(kept.get("hash"), values["access_code"])

        def decide(history):
            current = fd.fold_account(forms_decode(r.event_type, r.payload) for r in history)
            self._form_exists(current, account_id)
            return [e.encode() for e in fd.decide_access(current, code_ok, now, settings.form_access_max_failures,
                                                         settings.form_access_lockout_seconds)]

        result = self.store.execute(stream, decide)
        failed = [r for r in result.events if r.event_type == "form_access_failed.v1"]
        if failed:
            log.info("form_access_failed", form_account_id=account_id,
                     consecutive_failures=failed[-1].payload["consecutive_failures"],
                     locked=bool(failed[-1].payload["locked_until"]))
            raise fd.wrong_code_refusal(failed[-1].payload)
        self._check_applicant_email(state, values["email"], now)
        return {"form_account": self.get_form_account(account_id)}

    def _check_applicant_email(self, state: fd.FormAccount, email: str, now) -> None:
        delegation_type = contract.APPLICANT_DELEGATION_TYPE[state.cert_type]
        domain_name = fd.email_domain(email)

        def refusal() -> str | None:
            if domain_name.startswith("["):
                return "an address literal is in no delegated domain"
            facts = self._current(self.domain_facts, "domains")
            with facts.db.reader() as conn:
                answer = facts.projection.may_issue_names(conn, state.organization_id, state.department_id,
                                                          delegation_type, [domain_name], now)[domain_name]
            return None if answer["allowed"] else answer["reason"]

        reason = refusal()
        if reason and self.catch_up_domain_facts():
            reason = refusal()           # read your writes: a delegation made a moment ago may not be here yet
        if reason:
            where = "department" if state.department_id else "organization"
            raise PolicyViolation(f"the email's domain {domain_name} is not delegated to this account's {where} "
                                  f"for {delegation_type} certificates ({reason})", {"email": [reason]},
                                  code="email_not_delegated")

    # ---- device enrollment endpoints ------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def create_device_endpoint(self, payload: dict, created_by: str, endpoint_id: str | None = None) -> dict:
        values = _canonical(load_payload(contract.CreateDeviceEndpointV1(), payload))
        self._subject(values["organization_id"], values["department_id"])
        profiles = self._form_profiles(values["profile_ids"])
        fd.check_profiles("device", values["profile_ids"], profiles)
        endpoint_id = parse_id(endpoint_id or uuid.uuid4(), fd.ENDPOINT_KIND)
        given = values["uri_extension"]
        credential = generated_credential() if values["type"] in contract.PROTOCOL_ENDPOINT_TYPES else None
        now = self.store.clock()
        for attempt in range(1 if given else _GENERATE_ATTEMPTS):
            extension = given or generated_uri_extension()
            try:
                self._form_append_keeping(
                    _endpoint_stream(endpoint_id), fd.fold_endpoint,
                    lambda state: fd.decide_create_endpoint(state, endpoint_id, values, extension, profiles,
                                                            created_by, now),
                    keep=(endpoint_id, {"sha256": credential_digest(credential)}) if credential else None,
                    table=self.endpoint_credentials)
                break
            except Conflict as exc:
                if given or exc.code != "uri_extension_taken" or attempt == _GENERATE_ATTEMPTS - 1:
                    raise
        endpoint = self.get_device_endpoint(endpoint_id)
        answer = {"device_endpoint": endpoint}
        if credential:
            answer["credentials"] = endpoint_credentials_answer(endpoint, credential)
        return answer

    @rpc(expected_exceptions=EXPECTED)
    def rotate_device_endpoint_credential(self, endpoint_id: str, by: str) -> dict:
        """A new credential for an scep or est endpoint, answered once; the old one stops working at once."""
        endpoint_id = parse_id(endpoint_id, fd.ENDPOINT_KIND)
        credential = generated_credential()
        now = self.store.clock()

        def decide(state):
            self._form_exists(state, endpoint_id)
            return fd.decide_rotate_credential(state, by, now)
        self._form_append_keeping(_endpoint_stream(endpoint_id), fd.fold_endpoint, decide,
                                  keep=(endpoint_id, {"sha256": credential_digest(credential)}),
                                  table=self.endpoint_credentials)
        endpoint = self.get_device_endpoint(endpoint_id)
        return {"device_endpoint": endpoint, "credentials": endpoint_credentials_answer(endpoint, credential)}

    @rpc(expected_exceptions=EXPECTED)
    def issue_device_challenge(self, endpoint_id: str, payload: dict, issued_by: str,
                               challenge_id: str | None = None) -> dict:
        """A one-time challenge for one device of an scep or est endpoint (contracts IssueChallengeV1), answered
        once (IssuedChallengeV1). Its own stream: enrolling devices never contend on the endpoint's."""
        endpoint_id = parse_id(endpoint_id, fd.ENDPOINT_KIND)
        values = load_payload(contract.IssueChallengeV1(), payload or {})
        challenge_id = parse_id(challenge_id or uuid.uuid4(), fd.CHALLENGE_KIND)
        endpoint = self._fold_forms(_endpoint_stream(endpoint_id), fd.fold_endpoint)
        self._form_exists(endpoint, endpoint_id)
        challenge = generated_credential()
        now = self.store.clock()
        self._form_append_keeping(
            challenge_stream(challenge_id), lambda history: list(history),
            lambda history: fd.decide_issue_challenge(endpoint, history, challenge_id, values, issued_by, now),
            keep=(credential_digest(challenge), {"challenge_id": challenge_id, "endpoint_id": endpoint_id,
                                                 "expires_at": (now + timedelta(hours=values["valid_hours"]))
                                                 .isoformat()}),
            table=self.device_challenges)
        found = self.store.read(lambda conn: self._forms_view.challenges_of(conn, endpoint_id, now))
        issued = next(c for c in found if c["challenge_id"] == challenge_id)
        return {**issued, "challenge": challenge}

    @rpc(expected_exceptions=EXPECTED)
    def list_device_challenges(self, endpoint_id: str) -> dict:
        """The endpoint's one-time challenges, newest first (never the challenges themselves)."""
        endpoint_id = parse_id(endpoint_id, fd.ENDPOINT_KIND)
        self.get_device_endpoint(endpoint_id)
        now = self.store.clock()
        return {"items": self.store.read(lambda conn: self._forms_view.challenges_of(conn, endpoint_id, now))}

    @rpc(expected_exceptions=EXPECTED)
    def get_device_endpoint(self, endpoint_id: str) -> dict:
        endpoint_id = parse_id(endpoint_id, fd.ENDPOINT_KIND)
        found = self.store.read(lambda conn: self._forms_view.endpoint(conn, endpoint_id))
        if found is None:
            raise NotFound.of(fd.ENDPOINT_KIND, endpoint_id)
        return self._device_endpoint_answer(found)

    @rpc(expected_exceptions=EXPECTED)
    def list_device_endpoints(self, scope: dict, offset: int = 0, limit: int = 50) -> dict:
        """`scope`: contracts.access.certificate_scope(p, "device")."""
        page = self.store.read(lambda conn: self._forms_view.endpoint_page(conn, scope or {}, max(0, int(offset)),
                                                                           min(500, int(limit))))
        return {"items": [self._device_endpoint_answer(e) for e in page["items"]], "total": page["total"]}

    @rpc(expected_exceptions=EXPECTED)
    def update_device_endpoint(self, endpoint_id: str, changes: dict, updated_by: str) -> dict:
        endpoint_id = parse_id(endpoint_id, fd.ENDPOINT_KIND)
        changes = _canonical(load_payload(contract.UpdateDeviceEndpointV1(), changes))
        profiles = self._form_profiles(changes["profile_ids"]) if "profile_ids" in changes else {}
        self.store.execute(_endpoint_stream(endpoint_id), self._device_endpoint_decider(
            endpoint_id, lambda state: fd.decide_update_endpoint(state, changes, profiles, updated_by)))
        return {"device_endpoint": self.get_device_endpoint(endpoint_id)}

    @rpc(expected_exceptions=EXPECTED)
    def delete_device_endpoint(self, endpoint_id: str, by: str) -> dict:
        """Gone; its URI extension is free again."""
        endpoint_id = parse_id(endpoint_id, fd.ENDPOINT_KIND)
        self.store.execute(_endpoint_stream(endpoint_id), self._device_endpoint_decider(
            endpoint_id, lambda state: fd.decide_delete_endpoint(state, by)))
        return {"deleted": endpoint_id}

    @rpc(expected_exceptions=EXPECTED)
    def device_endpoint_by_uri(self, uri_extension: str, endpoint_type: str | None = None) -> dict:
        """The endpoint a public form URL (or an SCEP/EST path) names: 404 for none (or a malformed extension, or
        one of another `endpoint_type` than asked), 403 `device_endpoint_disabled` for a disabled one."""
        if not isinstance(uri_extension, str) or not re.match(contract.URI_EXTENSION_PATTERN, uri_extension):
            raise NotFound.of(fd.ENDPOINT_KIND, str(uri_extension)[:64])
        found = self.store.read(lambda conn: self._forms_view.endpoint_by_uri(conn, uri_extension))
        if found is None or (endpoint_type is not None and found["type"] != endpoint_type):
            raise NotFound.of(fd.ENDPOINT_KIND, uri_extension)
        if found["status"] != "active":
            raise Forbidden("this device enrollment endpoint is disabled", {"uri_extension": [found["status"]]},
                            code="device_endpoint_disabled")
        return {"device_endpoint": self._device_endpoint_answer(found)}

    # ---- helpers --------------------------------------------------------------------------------------------
    @property
    def _forms_view(self) -> FormsView:
        return self.store.projection(FormsView)

    def _form_account_answer(self, account: dict) -> dict:
        """A lockout that has passed is no longer shown."""
        locked = account["locked_until"]
        if locked is not None and datetime.fromisoformat(locked) <= self.store.clock():
            account = {**account, "locked_until": None}
        return account

    def _device_endpoint_answer(self, endpoint: dict) -> dict:
        settings = self.context.settings
        base, extension = settings.base_url.rstrip("/"), endpoint["uri_extension"]
        est_base = settings.est_base_url
        return {**endpoint, "form_url": f"{base}{contract.DEVICE_FORM_PATH}{extension}",
                "scep_url": f"{base}{contract.SCEP_PATH}{extension}" if endpoint["type"] == "scep" else None,
                "est_url": (f"{est_base}{contract.EST_PATH}{extension}/"
                            if endpoint["type"] == "est" and est_base else None)}

    def _form_profiles(self, profile_ids) -> dict:
        """{profile id: the profile, or None for an unknown one}."""
        found = {}
        for profile_id in dict.fromkeys(str(p) for p in profile_ids):
            try:
                found[profile_id] = self.get_profile(profile_id)
            except NotFound:
                found[profile_id] = None
        return found

    def _fold_forms(self, stream: str, fold):
        return fold(forms_decode(r.event_type, r.payload) for r in self.store.load(stream))

    @staticmethod
    def _form_exists(state, ident: str) -> None:
        if not state.exists:
            kind = fd.ACCOUNT_KIND if isinstance(state, fd.FormAccount) else fd.ENDPOINT_KIND
            raise NotFound.of(kind, ident)

    def _device_endpoint_decider(self, endpoint_id: str, decide):
        def run(history):
            state = fd.fold_endpoint(forms_decode(r.event_type, r.payload) for r in history)
            self._form_exists(state, endpoint_id)
            return [e.encode() for e in decide(state)]
        return run

    def _form_append_keeping(self, stream: str, fold, decide, keep: tuple[str, object] | None = None,
                             forget: str | None = None, table=None):
        """Decide on the stream and append, with a secret's hash kept (`keep`: (key, value); the access codes'
        table unless `table` names another KeptSecrets) or forgotten (`forget`: the key) in the same transaction;
        retried on a concurrent append."""
        kept = table if table is not None else self.access_codes
        for _ in range(_APPEND_ATTEMPTS):
            try:
                with self.store.transaction() as unit:
                    history = self.store.load(stream, unit.conn)
                    events = decide(fold(forms_decode(r.event_type, r.payload) for r in history))
                    if not events:
                        return None
                    if keep is not None:
                        value = keep[1] if isinstance(keep[1], dict) else {"hash": keep[1]}
                        kept.keep(keep[0], value, unit.conn)
                    if forget is not None:
                        unit.conn.execute(kept.table.delete().where(kept.table.c.key == forget))
                    return unit.append(stream, len(history), [e.encode() for e in events], self.context.metadata())
            except ConcurrencyConflict:
                log.info("append_conflict_retried", stream_id=stream)
        raise Conflict(f"{stream} was changed by someone else at the same time; try again", {"stream_id": stream},
                       code="concurrent_update")


def _canonical(values: dict) -> dict:
    """Loaded values with their UUIDs as canonical text (events and the read model compare them as text)."""
    out = {}
    for key, value in values.items():
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, list):
            value = [str(v) if isinstance(v, uuid.UUID) else v for v in value]
        out[key] = value
    return out
