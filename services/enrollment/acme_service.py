"""ACME (RFC 8555) in enrollment: the protocol's entrypoint, the ACME account RPCs of the screens, and the
processor that records domains' challenge checks. A mixin of EnrollmentService (nameko collects entrypoints from
base classes): the same store, read models (ACME's in acme_projections.py) and issuance path as REST.

The gateway passes every `/acme/...` request as an envelope {method, path, url, headers, body_b64} to
`acme_request` and returns the answer {status, headers, body_b64} unchanged. Every POST is a JWS (acme_jws.py)
checked in one order: content type, JWS shape, header (alg, url, jwk xor kid), nonce (used once: AcmeNonces), key,
signature — then the resource's handler. Every answer carries a fresh Replay-Nonce and the directory link; every
error is a problem document (acme_problems.py).

finalize records an ordinary SSL request (requested_by `acme:<ACME account id>`, its id fixed by the order) whose
certificate the issuance pipeline makes; it waits up to acme_finalize_wait seconds for it, then answers the order
as it is (`processing` with Retry-After, or `valid`). Challenges are a pipeline too: `acme_challenge_submitted`
→ domains' check → `acme_challenge_checked` → `record_challenge_checks` here.
"""
from __future__ import annotations

import base64
import json
import math
import secrets
import uuid
from datetime import datetime, timedelta, timezone

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from nameko.rpc import rpc

from contracts import acme as acme_contract
from contracts import certificate_rules as rules
from contracts import enrollment as enrollment_contract
from contracts import names as name_rules
from contracts.errors import EXPECTED, Conflict, DomainError, InvalidRequest, NotFound
from services.enrollment import acme_domain as ad
from services.enrollment import acme_jws as jws_rules
from services.enrollment import profiles
from services.enrollment.acme_events import AcmeAccountCreated, AcmeAuthorizationCreated, AcmeOrderCreated
from services.enrollment.acme_events import AcmeRegistrationCreated, AcmeRenewalCampaignStarted
from services.enrollment.acme_events import decode as acme_decode
from services.enrollment.acme_problems import Problem, from_domain_error, subproblem
from services.enrollment.acme_projections import AcmeView
from services.enrollment.csr import parse_csr
from services.runtime.entrypoint_helpers import load_payload, parse_id
from services.runtime.store import StreamAppend

log = structlog.get_logger(__name__)

JOSE = "application/jose+json"
PROBLEM = "application/problem+json"
MAX_BODY = 64 * 1024
# RFC 5280 reason codes a client may give revokeCert (§7.6), as Certplane's reason names
REVOCATION_REASONS = {0: "unspecified", 1: "key_compromise", 3: "affiliation_changed", 4: "superseded",
                      5: "cessation_of_operation"}       # all in contracts.ca.LEAF_REVOCATION_REASONS


def _stream(kind: str, ident: str) -> str:
    return f"acme-{kind}-{ident}"


class AcmeEntrypoints:
    """Mixed into EnrollmentService: uses its store, context, waiting, domain_facts, _request, revoke_ssl…"""

    # ---- the protocol ---------------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def acme_request(self, request: dict) -> dict:
        base = self.context.settings.base_url.rstrip("/") + "/acme"
        exchange = _Exchange(self, base, request)
        try:
            status, headers, body = exchange.answer()
        except Exception as exc:                             # noqa: BLE001 — every failure is a problem document
            problem = _problem_of(exc, request.get("path"))
            status, headers, body = problem.status, {"Content-Type": PROBLEM, **problem.headers}, problem.document()
        headers = {**headers, "Replay-Nonce": self._new_nonce(), "Cache-Control": "no-store",
                   "Link": _links(headers.get("Link"), f'<{base}/directory>;rel="index"')}
        if isinstance(body, (dict, list)):
            headers.setdefault("Content-Type", "application/json")
            raw = json.dumps(body).encode()
        else:
            raw = body or b""
        return {"status": status, "headers": headers, "body_b64": base64.b64encode(raw).decode()}

    def _new_nonce(self) -> str:
        return self.acme_nonces.issue(secrets.token_urlsafe(24), self.store.clock())

    # ---- ACME accounts (the screens' RPCs) ----------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def create_acme_account(self, payload: dict, created_by: str) -> dict:
        values = load_payload(acme_contract.CreateAcmeAccountV1(), payload)
        organization_id = str(values["organization_id"])
        department_id = str(values["department_id"]) if values["department_id"] else None
        self._subject(organization_id, department_id)              # NotFound for an unknown one (or not its dept)
        profile_ids = []
        for profile_id in values["profile_ids"]:
            profile = self.get_profile(str(profile_id))
            if profile["cert_type"] != "ssl":
                raise InvalidRequest(f"profile {profile['name']!r} is not an SSL profile; ACME issues TLS "
                                     "certificates", {"profile_ids": [str(profile_id)]}, code="profile_not_ssl")
            if str(profile_id) not in profile_ids:
                profile_ids.append(str(profile_id))
        acme_account_id = str(uuid.uuid4())
        kid = "kid-" + secrets.token_urlsafe(16)
        hmac_key = secrets.token_bytes(32)
        event = AcmeAccountCreated(acme_account_id, values["name"], organization_id, department_id, profile_ids,
                                   kid, ad.eab_hmac_sha256(hmac_key), created_by)
        with self.store.transaction() as unit:
            self.eab_keys.keep(kid, {"hmac_key": jws_rules.b64url(hmac_key)}, unit.conn)
            unit.append(_stream("account", acme_account_id), 0, [event.encode()], self.context.metadata())
        return {"acme_account": self.get_acme_account(acme_account_id),
                "eab": {"kid": kid, "hmac_key": jws_rules.b64url(hmac_key)}}

    @rpc(expected_exceptions=EXPECTED)
    def get_acme_account(self, acme_account_id: str) -> dict:
        acme_account_id = parse_id(acme_account_id, "acme_account")
        found = self.store.read(lambda conn: self._acme_view.account(conn, acme_account_id))
        if found is None:
            raise NotFound.of("acme_account", acme_account_id)
        return found

    @rpc(expected_exceptions=EXPECTED)
    def list_acme_accounts(self, scope: dict, offset: int = 0, limit: int = 50) -> dict:
        return self.store.read(lambda conn: self._acme_view.account_page(conn, scope, max(0, int(offset)),
                                                                         min(500, int(limit))))

    @rpc(expected_exceptions=EXPECTED)
    def deactivate_acme_account(self, acme_account_id: str, by: str) -> dict:
        """Its EAB credentials stop working and its registrations can no longer order; certificates stay."""
        acme_account_id = parse_id(acme_account_id, "acme_account")
        self.get_acme_account(acme_account_id)

        def decide(history):
            state = self._acme_state("account", acme_account_id, history)
            return [e.encode() for e in ad.decide_deactivate_account(state, by)]

        self.store.execute(_stream("account", acme_account_id), decide)
        return {"acme_account": self.get_acme_account(acme_account_id)}

    @rpc(expected_exceptions=EXPECTED)
    def acme_account_orders(self, acme_account_id: str, offset: int = 0, limit: int = 50) -> dict:
        acme_account_id = parse_id(acme_account_id, "acme_account")
        self.get_acme_account(acme_account_id)
        rows, total = self.store.read(lambda conn: self._acme_view.orders_of(
            conn, "acme_account_id", acme_account_id, max(0, int(offset)), min(500, int(limit))))
        now = self.store.clock()
        items = []
        for row in rows:
            order = self._order(row["order_id"])
            items.append({"order_id": row["order_id"], "status": self._order_status(order, now),
                          "identifiers": list(row["identifiers"]), "ssl_id": row["ssl_id"],
                          "created_at": row["created_at"].isoformat() if row["created_at"] else None})
        return {"items": items, "total": total}

    # ---- ARI renewal campaigns ------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def start_renewal_campaign(self, payload: dict, started_by: str) -> dict:
        values = load_payload(acme_contract.StartRenewalCampaignV1(), payload)
        criteria = {k: (str(values[k]) if values[k] else None) for k in ("ca_id", "profile_id", "organization_id",
                                                                          "key_type")}
        if not any(criteria.values()):
            raise InvalidRequest("name at least one of ca_id, profile_id, organization_id, key_type",
                                 {"ca_id": ["one criterion at least"]}, code="campaign_without_criteria")
        campaign_id = str(uuid.uuid4())
        event = AcmeRenewalCampaignStarted(campaign_id, **criteria, reason=values["reason"], started_by=started_by)
        self.store.append(_stream("campaign", campaign_id), 0, [event.encode()], self.context.metadata())
        return self.get_renewal_campaign(campaign_id)

    @rpc(expected_exceptions=EXPECTED)
    def list_renewal_campaigns(self, offset: int = 0, limit: int = 50) -> dict:
        return self.store.read(lambda conn: self._acme_view.campaigns_page(conn, max(0, int(offset)),
                                                                           min(500, int(limit))))

    @rpc(expected_exceptions=EXPECTED)
    def get_renewal_campaign(self, campaign_id: str) -> dict:
        campaign_id = parse_id(campaign_id, "campaign")
        found = self.store.read(lambda conn: self._acme_view.campaigns_page(conn, 0, 1, campaign_id))["items"]
        if not found:
            raise NotFound.of("campaign", campaign_id)
        return found[0]

    def campaign_for_revoked_ca(self, unit, envelope) -> None:
        """An issuing CA was revoked (ca_revoked.v1): every certificate it issued should be renewed at once."""
        p = envelope.payload
        event = AcmeRenewalCampaignStarted(str(uuid.uuid5(uuid.NAMESPACE_URL, f"certplane:ca-revoked:{p['ca_id']}")),
                                           p["ca_id"], None, None, None, f"the issuing CA was revoked ({p['reason']})",
                                           "system:ca-revoked")
        unit.append_streams([StreamAppend(_stream("campaign", event.campaign_id), 0, (event.encode(),))],
                            {"correlation_id": envelope.correlation_id, "actor": "system:enrollment",
                             "causation_id": envelope.event_id})

    # ---- the pipeline's answer: domains checked a challenge ------------------------------------------------
    def record_challenge_checks(self, unit, envelopes) -> None:
        appends, versions = [], {}
        for envelope in envelopes:
            if envelope.event_type not in acme_contract.CHECKED_EVENTS:
                continue
            checked = envelope.payload
            stream = _stream("authz", checked["authorization_id"])
            history = self.store.load(stream, unit.conn)
            if stream in versions:                   # two checks of one authorization in a batch: the first wins
                continue
            state = self._acme_state("authz", checked["authorization_id"], history)
            events = ad.decide_record_check(state, checked)
            if not events:
                continue
            versions[stream] = len(history)
            appends.append(StreamAppend(stream, len(history), tuple(e.encode() for e in events)))
        if appends:
            last = envelopes[-1]
            unit.append_streams(appends, {"correlation_id": last.correlation_id, "actor": "system:enrollment",
                                          "causation_id": last.event_id})

    # ---- shared reads ---------------------------------------------------------------------------------------
    @property
    def _acme_view(self) -> AcmeView:
        return self.store.projection(AcmeView)

    def _acme_state(self, kind: str, ident: str, history=None):
        """The folded state of an ACME aggregate (`kind` of _AGGREGATES) from its stream (or `history`)."""
        evolve, empty = _AGGREGATES[kind]
        history = self.store.load(_stream(kind, ident)) if history is None else history
        return ad.fold(evolve, empty, (acme_decode(r.event_type, r.payload) for r in history))

    def _registration(self, registration_id: str) -> ad.Registration:
        return self._acme_state("reg", registration_id)

    def _authorization(self, authorization_id: str) -> ad.Authorization:
        return self._acme_state("authz", authorization_id)

    def _order(self, order_id: str) -> ad.Order:
        return self._acme_state("order", order_id)

    def _order_status(self, order: ad.Order, now: datetime) -> str:
        statuses = [self._authorization(a).status(now) for a in order.authorization_ids]
        ssl_status = self._status(order.ssl_id) if order.ssl_id else None
        return ad.order_status(order, statuses, ssl_status, now)


def _problem_of(exc: Exception, path) -> Problem:
    """The problem document a failed ACME request answers: its own, a refusal's (contracts.errors) mapped, or —
    for a bug, which is logged — serverInternal."""
    if isinstance(exc, Problem):
        log.info("acme_problem", type=exc.type, path=path, detail=exc.detail[:200])
        return exc
    if isinstance(exc, DomainError):
        return from_domain_error(exc)
    log.exception("acme_request_failed", path=path)
    return Problem("serverInternal", "the server failed on this request; try again")


_AGGREGATES = {"account": (ad.evolve_account, ad.AcmeAccount()), "reg": (ad.evolve_registration, ad.Registration()),
               "authz": (ad.evolve_authorization, ad.Authorization()), "order": (ad.evolve_order, ad.Order())}


def _links(*links) -> str:
    return ", ".join(link for link in links if link)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _rfc3339(text, field: str) -> datetime | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise Problem.malformed(f"{field} must be an RFC 3339 date-time")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise Problem.malformed(f"{field} is not an RFC 3339 date-time: {text!r}") from None
    if moment.tzinfo is None:
        raise Problem.malformed(f"{field} needs a time zone (e.g. Z)")
    return moment.astimezone(timezone.utc)


class _Exchange:
    """One ACME request: the checks every POST passes, then its resource's handler. Reads and appends go through
    the service (`svc`)."""

    def __init__(self, svc, base: str, request: dict):
        self.svc, self.base = svc, base
        self.method = str(request.get("method", "GET")).upper()
        self.path = "/" + str(request.get("path", "")).strip("/")
        self.url = f"{base}{self.path}"
        self.headers = {str(k).lower(): str(v) for k, v in (request.get("headers") or {}).items()}
        self.body = base64.b64decode(request.get("body_b64") or "")
        self.now = svc.store.clock()
        self.settings = svc.context.settings

    # ---- routing --------------------------------------------------------------------------------------------
    def answer(self):
        parts = self.path.strip("/").split("/")
        head = parts[0]
        if self.method in ("GET", "HEAD"):
            if self.path == "/directory":
                return 200, {}, self.directory()
            if self.path == "/new-nonce":
                return (200 if self.method == "HEAD" else 204), {}, b""
            if head == "renewal-info" and len(parts) == 2:
                return self.renewal_info(parts[1])
            raise Problem("malformed", "use POST (or POST-as-GET) for this resource", status=405,
                          headers={"Allow": "POST"})
        if self.method != "POST":
            raise Problem("malformed", f"{self.method} is not allowed here", status=405,
                          headers={"Allow": "GET, HEAD, POST"})
        routes = {
            ("new-account",): ("jwk", self.new_account),
            ("new-order",): ("kid", self.new_order),
            ("revoke-cert",): ("either", self.revoke_cert),
            ("key-change",): ("kid", self.key_change),
            ("acct", "*"): ("kid", self.account),
            ("acct", "*", "orders"): ("kid", self.orders),
            ("order", "*"): ("kid", self.order),
            ("order", "*", "finalize"): ("kid", self.finalize),
            ("authz", "*"): ("kid", self.authorization),
            ("chall", "*", "*"): ("kid", self.challenge),
            ("cert", "*"): ("kid", self.certificate),
        }
        shape = tuple("*" if i and p not in ("orders", "finalize") else p for i, p in enumerate(parts))
        route = routes.get(shape)
        if route is None:
            raise Problem("malformed", f"no ACME resource at {self.path}", status=404)
        key_by, handler = route
        jws, registration, jwk = self.authenticate(key_by)
        args = [p for p, s in zip(parts, shape) if s == "*"]
        return handler(jws, registration, jwk, *args)

    def authenticate(self, key_by: str):
        content_type = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != JOSE:
            raise Problem("malformed", f"send ACME requests as {JOSE}", status=415)
        if len(self.body) > MAX_BODY:
            raise Problem("malformed", f"the request is over {MAX_BODY} bytes", status=413)
        jws = jws_rules.parse(self.body)
        jws_rules.check_header(jws, self.url, key_by)
        if not self.svc.acme_nonces.use(jws.protected["nonce"], self.now):
            raise Problem("badNonce", "this nonce was used already, expired, or never given; use the Replay-Nonce "
                                      "of this answer")
        rate = self.settings.acme_bad_nonce_rate
        if rate and secrets.randbelow(1_000_000) < rate * 1_000_000:
            raise Problem("badNonce", "nonce refused (the test setting acme_bad_nonce_rate)")
        registration, jwk = None, None
        if "jwk" in jws.protected:
            jwk = jws.protected["jwk"]
            key = jws_rules.load_jwk(jwk)
        else:
            registration = self.registration_of_kid(jws.protected["kid"])
            key = jws_rules.load_jwk(registration.jwk)
        jws_rules.verify(jws, key)
        return jws, registration, jwk

    def registration_of_kid(self, kid) -> ad.Registration:
        prefix = f"{self.base}/acct/"
        if not isinstance(kid, str) or not kid.startswith(prefix):
            raise Problem("accountDoesNotExist", "the kid is not an account URL of this server")
        try:
            registration_id = str(uuid.UUID(kid[len(prefix):]))
        except ValueError:
            raise Problem("accountDoesNotExist", "the kid is not an account URL of this server") from None
        registration = self.svc._registration(registration_id)
        if registration.registration_id is None:
            raise Problem("accountDoesNotExist", "no account has this kid")
        if not registration.active:
            raise Problem("unauthorized", "this account is deactivated")
        return registration

    def acme_account(self, registration: ad.Registration) -> ad.AcmeAccount:
        """The ACME account (SCM's) a registration orders under: active, or unauthorized."""
        if registration.acme_account_id is None:
            raise Problem("unauthorized", "this account is bound to no ACME account of an organization")
        account = self.svc._acme_state("account", registration.acme_account_id)
        if not account.active:
            raise Problem("unauthorized", "the ACME account this client registered with is deactivated; ask "
                                          "your administrator for new EAB credentials")
        return account

    # ---- directory, renewal info --------------------------------------------------------------------------
    def directory(self) -> dict:
        b = self.base
        profiles_meta = {}
        for profile in self.svc.list_profiles():
            if profile["cert_type"] == "ssl":
                profiles_meta[profile["name"]] = profile.get("description") or f"{profile['name']} ({profiles.trust_class(profile)} TLS)"
        return {"newNonce": f"{b}/new-nonce", "newAccount": f"{b}/new-account", "newOrder": f"{b}/new-order",
                "revokeCert": f"{b}/revoke-cert", "keyChange": f"{b}/key-change",
                "renewalInfo": f"{b}/renewal-info",
                "meta": {"externalAccountRequired": bool(self.settings.acme_eab_required),
                         "caaIdentities": list(self.settings.caa_identities),
                         "website": self.settings.base_url, "profiles": profiles_meta}}

    def renewal_info(self, cert_id: str):
        """ARI (RFC 9773 §4.2): the suggested renewal window of a certificate named by AKI keyIdentifier and
        serial. Normally the middle third's start … the last third (like Let's Encrypt); for a revoked
        certificate now (a window already open)."""
        row = self.ssl_of_cert_id(cert_id)
        not_before, not_after = row["not_before"], row["not_after"]
        lifetime = not_after - not_before
        campaign = self.svc.store.read(lambda conn: self.svc._acme_view.campaign_for(conn, row))
        if row["status"] == "revoked" or campaign is not None:
            start, end = self.now - timedelta(hours=1), self.now
        else:
            start = not_before + lifetime * 2 / 3 - lifetime / 9
            end = not_before + lifetime * 2 / 3 + lifetime / 9
        body = {"suggestedWindow": {"start": _iso(start), "end": _iso(end)}}
        if campaign is not None:
            body["explanationURL"] = f"{self.settings.base_url.rstrip('/')}/api/v1/acme-renewal-campaigns/" \
                                     f"{campaign['campaign_id']}"
        return 200, {"Retry-After": "21600"}, body

    def ssl_of_cert_id(self, cert_id: str) -> dict:
        aki_text, _, serial_text = cert_id.partition(".")
        aki = jws_rules.b64url_decode(aki_text, "the certID's keyIdentifier")
        serial_der = jws_rules.b64url_decode(serial_text, "the certID's serial")
        serial = format(int.from_bytes(serial_der, "big"), "x") if serial_der else ""
        row = self.svc.store.read(lambda conn: self.svc._view.ssl_by_serial(conn, serial)) if serial else None
        if row is None or not row["certificate_pem"]:
            raise Problem("malformed", "no certificate issued here has this certID", status=404)
        certificate = x509.load_pem_x509_certificate(row["certificate_pem"].encode())
        try:
            key_id = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
        except x509.ExtensionNotFound:
            key_id = None
        if key_id != aki:
            raise Problem("malformed", "no certificate issued here has this certID", status=404)
        return row

    # ---- accounts ---------------------------------------------------------------------------------------------
    def new_account(self, jws, _registration, jwk):
        payload = jws.payload_json()
        thumbprint = jws_rules.thumbprint(jwk)
        existing = self.svc.store.read(lambda conn: self.svc._acme_view.registration_by_thumbprint(conn, thumbprint))
        if existing is not None:
            registration = self.svc._registration(existing)
            return 200, {"Location": f"{self.base}/acct/{existing}"}, self.account_object(registration)
        if payload.get("onlyReturnExisting") is True:
            raise Problem("accountDoesNotExist", "no account has this key")
        if payload.get("termsOfServiceAgreed") is False:
            raise Problem("userActionRequired", "agree to the terms of service (termsOfServiceAgreed: true)")
        contact = ad.check_contact(payload.get("contact"))
        eab = payload.get("externalAccountBinding")
        acme_account_id = None
        if eab is None:
            if self.settings.acme_eab_required:
                raise Problem("externalAccountRequired", "this server needs External Account Binding: ask your "
                              "administrator for the key id and HMAC key of an ACME account")
        else:
            kid = jws_rules.verify_eab(eab, jwk, self.url, self.hmac_key_of)
            account = self.svc.store.read(lambda conn: self.svc._acme_view.account_by_kid(conn, kid))
            acme_account_id = account["acme_account_id"]
        registration_id = str(uuid.uuid4())
        event = AcmeRegistrationCreated(registration_id, acme_account_id, jws_rules.public_jwk(jwk), thumbprint,
                                        contact)
        try:
            self.svc.store.append(_stream("reg", registration_id), 0, [event.encode()], self.metadata(
                f"acme:{acme_account_id}"))
        except Conflict:                                # the same key registered a moment ago, in a race
            existing = self.svc.store.read(
                lambda conn: self.svc._acme_view.registration_by_thumbprint(conn, thumbprint))
            return 200, {"Location": f"{self.base}/acct/{existing}"}, \
                self.account_object(self.svc._registration(existing))
        log.info("acme_account_registered", registration_id=registration_id, acme_account_id=acme_account_id)
        return 201, {"Location": f"{self.base}/acct/{registration_id}"}, \
            self.account_object(self.svc._registration(registration_id))

    def hmac_key_of(self, kid: str) -> bytes | None:
        account = self.svc.store.read(lambda conn: self.svc._acme_view.account_by_kid(conn, kid))
        if account is None or account["status"] != "active":
            return None
        kept = self.svc.eab_keys.get(kid)
        return jws_rules.b64url_decode(kept["hmac_key"], "hmac key") if kept else None

    def account_object(self, registration: ad.Registration) -> dict:
        return {"status": registration.status, "contact": list(registration.contact),
                "orders": f"{self.base}/acct/{registration.registration_id}/orders"}

    def own(self, registration: ad.Registration, registration_id: str) -> None:
        if registration.registration_id != registration_id:
            raise Problem("unauthorized", "the kid is another account than this URL's")

    def account(self, jws, registration, _jwk, registration_id):
        self.own(registration, registration_id)
        if not jws.payload:
            return 200, {}, self.account_object(registration)
        payload = jws.payload_json()
        stream = _stream("reg", registration.registration_id)
        if payload.get("status") == "deactivated":
            events = ad.decide_deactivate_registration(registration)
        elif "status" in payload and payload["status"] != "valid":
            raise Problem.malformed("an account's status can only be changed to deactivated")
        elif "contact" in payload:
            events = ad.decide_update_registration(registration, ad.check_contact(payload["contact"]))
        else:
            events = []
        if events:
            self.svc.store.append(stream, self.version(stream), [e.encode() for e in events],
                                  self.metadata(registration))
        return 200, {}, self.account_object(self.svc._registration(registration.registration_id))

    def key_change(self, jws, registration, _jwk):
        """§7.3.5: the outer JWS is signed by the account's key, its payload a JWS signed by the new key (jwk) with
        the same url, whose payload names the account and its old key."""
        inner = jws_rules.parse(jws.payload)
        h = inner.protected
        if h.get("alg") not in jws_rules.SIGNATURE_ALGORITHMS:
            raise Problem("badSignatureAlgorithm", "the inner JWS's alg is not allowed",
                          algorithms=list(jws_rules.SIGNATURE_ALGORITHMS))
        if "jwk" not in h or "kid" in h:
            raise Problem.malformed("the inner JWS is signed by the new key: a jwk header, no kid")
        if h.get("url") != self.url:
            raise Problem.malformed("the inner JWS's url must be the keyChange URL")
        if "nonce" in h:
            raise Problem.malformed("the inner JWS must not have a nonce")
        new_key = jws_rules.load_jwk(h["jwk"])
        jws_rules.verify(inner, new_key)
        payload = inner.payload_json()
        if payload.get("account") != f"{self.base}/acct/{registration.registration_id}":
            raise Problem.malformed("the inner payload's account is not the signing account")
        old = payload.get("oldKey")
        if not isinstance(old, dict):
            raise Problem.malformed("the inner payload needs the account's oldKey")
        new_thumbprint = jws_rules.thumbprint(h["jwk"])
        holder = self.svc.store.read(lambda conn: self.svc._acme_view.registration_by_thumbprint(conn, new_thumbprint))
        if holder is not None and holder != registration.registration_id:
            raise Problem("malformed", "the new key is another account's", status=409,
                          headers={"Location": f"{self.base}/acct/{holder}"})
        events = ad.decide_key_change(registration, jws_rules.public_jwk(h["jwk"]), new_thumbprint,
                                      jws_rules.thumbprint(old))
        stream = _stream("reg", registration.registration_id)
        self.svc.store.append(stream, self.version(stream), [e.encode() for e in events], self.metadata(registration))
        return 200, {}, self.account_object(self.svc._registration(registration.registration_id))

    # ---- orders -----------------------------------------------------------------------------------------------
    def new_order(self, jws, registration, _jwk):
        payload = jws.payload_json()
        account = self.acme_account(registration)
        identifiers = self.identifiers(payload.get("identifiers"))
        profile = self.order_profile(account, payload.get("profile"))
        public = profiles.trust_class(profile) == "public"
        if public and any(i["type"] == "ip" for i in identifiers):
            raise Problem("rejectedIdentifier", "this profile issues public TLS certificates: no IP addresses",
                          subproblems=[subproblem("rejectedIdentifier", "no IP addresses under a public profile", i)
                                       for i in identifiers if i["type"] == "ip"])
        not_before = _rfc3339(payload.get("notBefore"), "notBefore")
        not_after = _rfc3339(payload.get("notAfter"), "notAfter")
        self.term_days(profile, not_before, not_after)
        self.rate_limit(registration, account)
        replaces = self.replaced_ssl(payload.get("replaces"), registration)
        names = [("*." if i["wildcard"] else "") + i["value"] for i in identifiers]
        refused = []
        for identifier, name in zip(identifiers, names):      # the certificate rules of the profile's class
            try:
                rules.certificate_names("ssl", profiles.trust_class(profile), None, [name], ())
            except DomainError as exc:
                refused.append(subproblem("rejectedIdentifier", exc.message, self.identifier_object(identifier)))
        if refused:
            raise Problem("rejectedIdentifier", f"profile {profile['name']!r} cannot name these identifiers",
                          subproblems=refused)
        answers = self.svc._coverage(account.organization_id, account.department_id, names, self.now)
        for identifier, name in zip(identifiers, names):
            answer = answers[name]
            if not answer["allowed"]:
                refused.append(subproblem("rejectedIdentifier", f"{name}: {answer['reason']} (not delegated to "
                                          "this ACME account's organization or department for SSL)",
                                          self.identifier_object(identifier)))
        if refused:
            raise Problem("rejectedIdentifier", "these identifiers are not this organization's: "
                          + ", ".join(s["identifier"]["value"] for s in refused), subproblems=refused)
        appends, authorization_ids = [], []
        reuse_after = self.now - timedelta(days=self.settings.acme_authz_reuse_days)
        for identifier, name in zip(identifiers, names):
            reused = self.svc.store.read(lambda conn: self.svc._acme_view.reusable_authorization(
                conn, registration.registration_id, identifier["value"], identifier["wildcard"], reuse_after,
                self.now + timedelta(days=1), public))
            if reused is not None:
                authorization_ids.append(reused)
                continue
            authorization_id = str(uuid.uuid4())
            answer = answers[name]
            valid_by = f"dcv:{answer['domain_id']}" if answer.get("fresh_dcv") else None
            challenges = [] if valid_by else [
                {"challenge_id": secrets.token_urlsafe(9), "type": t, "token": ad.new_token(secrets.token_bytes(24))}
                for t in ad.challenge_types(identifier["type"], identifier["wildcard"])]
            created = AcmeAuthorizationCreated(authorization_id, registration.registration_id, identifier["type"],
                                               identifier["value"], identifier["wildcard"],
                                               (self.now + ad.AUTHORIZATION_LIFETIME).isoformat(), challenges,
                                               valid_by, profiles.trust_class(profile))
            appends.append(StreamAppend(_stream("authz", authorization_id), 0, (created.encode(),)))
            authorization_ids.append(authorization_id)
        order_id = str(uuid.uuid4())
        order = AcmeOrderCreated(order_id, registration.registration_id, account.acme_account_id,
                                 account.organization_id, account.department_id, profile["profile_id"],
                                 [{"type": i["type"], "value": n} for i, n in zip(identifiers, names)],
                                 authorization_ids, not_before.isoformat() if not_before else None,
                                 not_after.isoformat() if not_after else None,
                                 (self.now + ad.ORDER_LIFETIME).isoformat(), replaces,
                                 payload.get("replaces") if replaces else None)
        appends.append(StreamAppend(_stream("order", order_id), 0, (order.encode(),)))
        self.svc.store.append_streams(appends, self.metadata(registration))
        log.info("acme_order_created", order_id=order_id, identifiers=len(identifiers),
                 reused=len(identifiers) - (len(appends) - 1))
        return 201, {"Location": f"{self.base}/order/{order_id}"}, self.order_object(self.svc._order(order_id))

    def identifiers(self, given) -> list[dict]:
        """[{type, value, wildcard}] normalised, without repeats; malformed or unsupportedIdentifier otherwise."""
        if not isinstance(given, list) or not given:
            raise Problem.malformed("identifiers must be a non-empty list")
        if len(given) > ad.MAX_IDENTIFIERS:
            raise Problem("rejectedIdentifier", f"at most {ad.MAX_IDENTIFIERS} identifiers per order")
        out, seen, bad = [], set(), []
        for item in given:
            if not isinstance(item, dict) or not isinstance(item.get("value"), str):
                raise Problem.malformed("each identifier is {type, value}")
            kind, value = item.get("type"), item["value"]
            if kind not in ("dns", "ip"):
                bad.append(subproblem("unsupportedIdentifier", f"identifier type {kind!r} is not supported",
                                      {"type": str(kind), "value": value}))
                continue
            try:
                if kind == "ip":
                    normal, wildcard = name_rules.ip_address(value), False
                else:
                    if name_rules.is_ip_address(value):
                        raise InvalidRequest("an IP address is an identifier of type ip", {})
                    normal = name_rules.normalise(value)
                    wildcard = normal.startswith("*.")
                    normal = normal.removeprefix("*.")
            except InvalidRequest as exc:
                bad.append(subproblem("rejectedIdentifier", exc.message, {"type": kind, "value": value}))
                continue
            if (kind, normal, wildcard) not in seen:
                seen.add((kind, normal, wildcard))
                out.append({"type": kind, "value": normal, "wildcard": wildcard})
        if bad:
            raise Problem("rejectedIdentifier" if all("rejected" in b["type"] for b in bad) else "malformed",
                          "some identifiers cannot be ordered", subproblems=bad)
        return out

    @staticmethod
    def identifier_object(identifier: dict) -> dict:
        return {"type": identifier["type"],
                "value": ("*." if identifier.get("wildcard") else "") + identifier["value"]}

    def order_profile(self, account: ad.AcmeAccount, name) -> dict:
        offered = [self.svc.get_profile(p) for p in account.profile_ids]
        if name is None:
            return offered[0]
        for profile in offered:
            if profile["name"] == name:
                return profile
        raise Problem("malformed", f"profile {name!r} is not offered to this account; offered: "
                      + ", ".join(p["name"] for p in offered))

    def term_days(self, profile: dict, not_before: datetime | None, not_after: datetime | None) -> int:
        """The profile's longest term, or the shortest that reaches a requested notAfter."""
        terms = sorted(profile["terms"])
        if not_before is not None and not_before > self.now + timedelta(days=1):
            raise Problem.malformed("notBefore may be at most a day ahead")
        if not_after is None:
            return terms[-1]
        start = max(not_before or self.now, self.now)
        if not_after <= start:
            raise Problem.malformed("notAfter must be after notBefore (and after now)")
        wanted = math.ceil((not_after - start).total_seconds() / 86400)
        fitting = [t for t in terms if t >= wanted]
        if not fitting:
            raise Problem.malformed(f"notAfter is {wanted} days ahead; profile {profile['name']!r} issues at most "
                                    f"{terms[-1]} days")
        return fitting[0]

    def rate_limit(self, registration: ad.Registration, account: ad.AcmeAccount) -> None:
        since = self.now - timedelta(hours=1)
        view = self.svc._acme_view
        for column, value, limit, what in (
                ("registration_id", registration.registration_id, self.settings.acme_orders_per_account_hour,
                 "this account"),
                ("organization_id", account.organization_id, self.settings.acme_orders_per_org_hour,
                 "this organization")):
            count = self.svc.store.read(lambda conn: view.orders_since(conn, column, value, since))
            if count >= limit:
                raise Problem("rateLimited", f"{what} made {count} orders in the last hour (at most {limit})",
                              headers={"Retry-After": "600"})

    def replaced_ssl(self, cert_id, registration: ad.Registration) -> str | None:
        if cert_id is None:
            return None
        if not isinstance(cert_id, str):
            raise Problem.malformed("replaces is an ARI certID")
        row = self.ssl_of_cert_id(cert_id)
        order = self.svc.store.read(lambda conn: self.svc._acme_view.order_of_ssl(conn, row["ssl_id"]))
        if order is None or order["registration_id"] != registration.registration_id:
            raise Problem.malformed("replaces names a certificate this account did not order")
        if row["renewed_by"]:
            raise Problem("alreadyReplaced", "that certificate was replaced already")
        return row["ssl_id"]

    def order_of(self, registration: ad.Registration, order_id: str) -> ad.Order:
        order = self.svc._order(self.parse_uuid(order_id))
        if order.order_id is None or order.registration_id != registration.registration_id:
            raise Problem("malformed", "no such order for this account", status=404)
        return order

    def order_object(self, order: ad.Order) -> dict:
        status = self.svc._order_status(order, self.now)
        body = {"status": status, "expires": _iso(order.expires_at), "identifiers": [
                    {"type": i["type"], "value": i["value"]} for i in order.identifiers],
                "authorizations": [f"{self.base}/authz/{a}" for a in order.authorization_ids],
                "finalize": f"{self.base}/order/{order.order_id}/finalize"}
        if order.not_before:
            body["notBefore"] = _iso(datetime.fromisoformat(order.not_before))
        if order.not_after:
            body["notAfter"] = _iso(datetime.fromisoformat(order.not_after))
        if status == "valid":
            body["certificate"] = f"{self.base}/cert/{order.ssl_id}"
        if status == "invalid":
            body["error"] = self.order_error(order)
        if order.replaces_cert_id:
            body["replaces"] = order.replaces_cert_id
        return body

    def order_error(self, order: ad.Order) -> dict:
        if order.ssl_id:
            row = self.svc.get_ssl(order.ssl_id)
            if row["status"] == "declined":
                return Problem("unauthorized", f"an administrator declined the request: {row['declined_reason']}"
                               ).document()
            extra = {"certplane_code": row["last_error_code"], "findings": row["last_findings"]}
            return Problem("badCSR", row.get("last_error") or "the CA refused the request",
                           **{k: v for k, v in extra.items() if v}).document()
        for authorization_id in order.authorization_ids:
            authorization = self.svc._authorization(authorization_id)
            for challenge in authorization.challenges:
                if challenge.error:
                    return Problem(challenge.error["type"], challenge.error["detail"]).document()
        return Problem("unauthorized", "an authorization of this order is no longer valid").document()

    def order(self, jws, registration, _jwk, order_id):
        order = self.order_of(registration, order_id)
        return self.order_answer(order)

    def order_answer(self, order: ad.Order):
        body = self.order_object(order)
        headers = {"Location": f"{self.base}/order/{order.order_id}"}
        if body["status"] == "processing":
            headers["Retry-After"] = "1"
        return 200, headers, body

    def orders(self, jws, registration, _jwk, registration_id):
        self.own(registration, registration_id)
        rows, _total = self.svc.store.read(lambda conn: self.svc._acme_view.orders_of(
            conn, "registration_id", registration.registration_id, 0, 1000))
        return 200, {}, {"orders": [f"{self.base}/order/{r['order_id']}" for r in rows]}

    def finalize(self, jws, registration, _jwk, order_id):
        order = self.order_of(registration, order_id)
        payload = jws.payload_json()
        account = self.acme_account(registration)
        status = self.svc._order_status(order, self.now)
        if order.ssl_id is None:
            ad.decide_finalize(order, status, "-")                         # orderNotReady before anything else
            csr_der = jws_rules.b64url_decode(payload.get("csr") or "", "csr") if isinstance(
                payload.get("csr"), str) else None
            if not csr_der:
                raise Problem("badCSR", "finalize needs the CSR (base64url DER) in `csr`")
            self.request_certificate(order, account, csr_der)
        elif status == "processing":
            pass                                     # a finalize repeated while issuing: the order as it is
        else:
            ad.decide_finalize(order, status, order.ssl_id)
        order = self.svc._order(order.order_id)
        if self.svc._status(order.ssl_id) == "applied":
            self.svc._wait_for_outcome(order.ssl_id, self.settings.acme_finalize_wait)
        return self.order_answer(order)

    def request_certificate(self, order: ad.Order, account: ad.AcmeAccount, csr_der: bytes) -> None:
        """The SSL request of this order (id fixed by the order), then `finalized`. A retry after a lost answer
        finds the request recorded (Conflict) and records `finalized` only."""
        try:
            parsed = parse_csr(csr_der)
        except DomainError as exc:
            raise from_domain_error(exc, csr=True) from None
        profile = self.svc.get_profile(order.profile_id)
        wanted = {i["value"] for i in order.identifiers}
        try:
            asked = set(rules.names_from_csr("ssl", profiles.trust_class(profile), parsed.names,
                                             parsed.subject_common_name))
            if parsed.subject_common_name and parsed.names:
                asked.add(rules.normalised_name("csr", parsed.subject_common_name))
        except DomainError as exc:
            raise from_domain_error(exc, csr=True) from None
        if asked != wanted:
            extra, missing = sorted(asked - wanted), sorted(wanted - asked)
            raise Problem("badCSR", "the CSR must ask for exactly the order's identifiers"
                          + (f"; not in the order: {', '.join(extra)}" if extra else "")
                          + (f"; missing: {', '.join(missing)}" if missing else ""))
        not_before = datetime.fromisoformat(order.not_before) if order.not_before else None
        not_after = datetime.fromisoformat(order.not_after) if order.not_after else None
        ssl_id = ad.ssl_id_of_order(order.order_id)
        pem = x509.load_der_x509_csr(parsed.der).public_bytes(serialization.Encoding.PEM).decode()
        values = {"organization_id": account.organization_id, "department_id": account.department_id,
                  "profile_id": order.profile_id, "term_days": self.term_days(profile, not_before, not_after),
                  "csr": pem, "sans": [i["value"] for i in order.identifiers],
                  "comments": f"ACME order {order.order_id}", "auto_renew": False}
        try:
            self.svc._request(load_payload(enrollment_contract.SslRequestV1(), values),
                              f"acme:{account.acme_account_id}", False, ssl_id, renewal_of=order.replaces,
                              wait=False, validated_names=frozenset(self.validated_names(order)))
        except Conflict:
            log.info("acme_finalize_retried", order_id=order.order_id, ssl_id=ssl_id)
        except DomainError as exc:
            raise from_domain_error(exc, csr=True) from None
        stream = _stream("order", order.order_id)
        events = ad.decide_finalize(order, "ready", ssl_id)
        self.svc.store.append(stream, self.version(stream), [e.encode() for e in events],
                              self.metadata(f"acme:{account.acme_account_id}"))

    def validated_names(self, order: ad.Order) -> list[str]:
        """The order's names proven by a challenge of its own valid authorizations (not by DCV evidence, which
        the request checks itself): ACME's http-01, dns-01 and tls-alpn-01 are DCV methods of the BR
        (3.2.2.4.19, 3.2.2.4.7, 3.2.2.4.20)."""
        proven = []
        for authorization_id in order.authorization_ids:
            authorization = self.svc._authorization(authorization_id)
            if authorization.status(self.now) == "valid" and not authorization.valid_by:
                proven.append(("*." if authorization.wildcard else "") + authorization.identifier)
        return proven

    # ---- authorizations and challenges ----------------------------------------------------------------------
    def authorization_of(self, registration: ad.Registration, authorization_id: str) -> ad.Authorization:
        authorization = self.svc._authorization(self.parse_uuid(authorization_id))
        if authorization.authorization_id is None or authorization.registration_id != registration.registration_id:
            raise Problem("malformed", "no such authorization for this account", status=404)
        return authorization

    def authorization(self, jws, registration, _jwk, authorization_id):
        authorization = self.authorization_of(registration, authorization_id)
        if jws.payload:
            payload = jws.payload_json()
            if payload.get("status") != "deactivated":
                raise Problem.malformed("an authorization's status can only be changed to deactivated")
            try:
                events = ad.decide_deactivate_authorization(authorization, registration.registration_id, self.now)
            except LookupError:
                raise Problem("malformed", "no such authorization", status=404) from None
            stream = _stream("authz", authorization.authorization_id)
            self.svc.store.append(stream, self.version(stream), [e.encode() for e in events],
                                  self.metadata(registration))
            authorization = self.svc._authorization(authorization.authorization_id)
        return 200, {}, self.authorization_object(authorization)

    def authorization_object(self, authorization: ad.Authorization) -> dict:
        body = {"identifier": {"type": authorization.identifier_type, "value": authorization.identifier},
                "status": authorization.status(self.now), "expires": _iso(authorization.expires_at),
                "challenges": [self.challenge_object(authorization, c) for c in authorization.challenges]}
        if authorization.wildcard:
            body["wildcard"] = True
        return body

    def challenge_object(self, authorization: ad.Authorization, challenge: ad.Challenge) -> dict:
        body = {"type": challenge.type, "url": f"{self.base}/chall/{authorization.authorization_id}/"
                                              f"{challenge.challenge_id}",
                "status": challenge.status, "token": challenge.token}
        if challenge.validated_at:
            body["validated"] = _iso(datetime.fromisoformat(challenge.validated_at))
        if challenge.error:
            body["error"] = Problem(challenge.error["type"], challenge.error["detail"]).document()
        return body

    def challenge(self, jws, registration, _jwk, authorization_id, challenge_id):
        authorization = self.authorization_of(registration, authorization_id)
        challenge = authorization.challenge(challenge_id)
        if challenge is None:
            raise Problem("malformed", "no such challenge", status=404)
        if jws.payload:
            jws.payload_json()                                  # "{}": the client is ready
            account = self.acme_account(registration)
            submitted = {"organization_id": account.organization_id, "department_id": account.department_id,
                         "account_uri": f"{self.base}/acct/{registration.registration_id}",
                         "trust_class": authorization.trust_class}
            events = ad.decide_submit_challenge(authorization, challenge_id, registration, self.now, submitted)
            if events:
                stream = _stream("authz", authorization.authorization_id)
                self.svc.store.append(stream, self.version(stream), [e.encode() for e in events],
                                      self.metadata(registration))
                authorization = self.svc._authorization(authorization.authorization_id)
                challenge = authorization.challenge(challenge_id)
        headers = {"Link": f'<{self.base}/authz/{authorization.authorization_id}>;rel="up"'}
        if challenge.status == "processing":
            headers["Retry-After"] = "1"
        return 200, headers, self.challenge_object(authorization, challenge)

    # ---- certificates -----------------------------------------------------------------------------------------
    def certificate(self, jws, registration, _jwk, ssl_id):
        ssl_id = self.parse_uuid(ssl_id)
        order = self.svc.store.read(lambda conn: self.svc._acme_view.order_of_ssl(conn, ssl_id))
        if order is None or order["registration_id"] != registration.registration_id:
            raise Problem("malformed", "no such certificate for this account", status=404)
        found = self.svc.ssl_certificate(ssl_id)
        if not found["certificate_pem"]:
            raise Problem("malformed", "the certificate is not issued yet", status=404)
        row = self.svc.get_ssl(ssl_id)
        chain = "".join(found["chain_pem"][:1]) if found["chain_pem"] else ""
        # the issuing CA only, as RFC 8555 §7.4.2 shows (the root is the client's trust anchor); `up` names it
        body = (found["certificate_pem"] + chain).encode()
        up = f'<{self.settings.base_url.rstrip("/")}/ca/{row["ca_id"]}.crt>;rel="up"'
        return 200, {"Content-Type": "application/pem-certificate-chain", "Link": up}, body

    def revoke_cert(self, jws, registration, jwk):
        payload = jws.payload_json()
        der = jws_rules.b64url_decode(payload.get("certificate") or "", "certificate") \
            if isinstance(payload.get("certificate"), str) else b""
        try:
            certificate = x509.load_der_x509_certificate(der)
        except ValueError:
            raise Problem.malformed("certificate must be the DER certificate, base64url") from None
        reason_code = payload.get("reason", 0)
        if not isinstance(reason_code, int) or reason_code not in REVOCATION_REASONS:
            raise Problem("badRevocationReason", "reason must be one of "
                          + ", ".join(f"{k} ({v})" for k, v in REVOCATION_REASONS.items()))
        reason = REVOCATION_REASONS[reason_code]
        serial = format(certificate.serial_number, "x")
        row = self.svc.store.read(lambda conn: self.svc._view.ssl_by_serial(conn, serial))
        if row is None or row["certificate_pem"] is None or x509.load_pem_x509_certificate(
                row["certificate_pem"].encode()) != certificate:
            raise Problem("unauthorized", "this certificate was not issued here")
        if registration is not None:
            order = self.svc.store.read(lambda conn: self.svc._acme_view.order_of_ssl(conn, row["ssl_id"]))
            if order is None or order["registration_id"] != registration.registration_id:
                raise Problem("unauthorized", "this account did not order this certificate")
            by = f"acme:{registration.registration_id}"
        else:
            key = jws_rules.load_jwk(jwk)
            spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            if key.public_bytes(*spki) != certificate.public_key().public_bytes(*spki):
                raise Problem("unauthorized", "the jwk is not this certificate's key")
            by = "acme:certificate-key"
        if row["status"] == "revoked":
            raise Problem("alreadyRevoked", "this certificate is revoked already")
        try:
            self.svc.revoke_ssl(row["ssl_id"], by, {"reason": reason})
        except Conflict:
            raise Problem("alreadyRevoked", "this certificate is revoked already") from None
        return 200, {}, b""

    # ---- helpers ------------------------------------------------------------------------------------------
    def version(self, stream: str) -> int:
        return len(self.svc.store.load(stream))

    def metadata(self, who) -> dict:
        actor = who if isinstance(who, str) else f"acme:{who.registration_id}"
        return {**self.svc.context.metadata(), "actor": actor}

    @staticmethod
    def parse_uuid(text: str) -> str:
        try:
            return str(uuid.UUID(text))
        except ValueError:
            raise Problem("malformed", "no such resource", status=404) from None
