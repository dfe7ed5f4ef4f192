"""The enrollment service (SSL part): certificate profiles, and SSL requests from CSR to collected certificate.
Entrypoints load payloads with contract schemas; the checks come before anything is recorded and need no other
service: names from enrollment's own copy of domains' facts (facts.DomainFacts, followed), the subject from its copy
of orgs' facts (facts.OrgSubjects), both read in this service's database.

Issuance is the pipeline of DESIGN §3.6: a request that needs no approval is recorded with its approval and its
application (`ssl_applied`, carrying the signing request) in one append; the ca's processor signs it and records
`certificate_issued` (or `certificate_refused`); this service's processor (`record_outcomes`) turns that into
`ssl_issued` (or `ssl_issuance_failed`: status failed). The request's RPC waits up to `issuance_wait` seconds for
that outcome (Outcomes) and answers with the request as it then is. Nothing is lost at any crash: the application
is recorded before the answer, each processor commits its outcome with its tracking row, and the CA signs each
application once (its `applications` table).

The copies of other services' facts lag their source by the time a pushed event takes (milliseconds), or — when a
push is lost — until the next periodic pull (catch_up_interval, 5 s). While the source does not answer those pulls
the copy is not confirmed current; after `facts_max_lag` seconds (60) new requests are refused with 503 until it
is. So a delegation removed at time t is honoured until at most t + facts_max_lag. Before refusing a name (or an
organization it does not know), enrollment pulls once and looks again: lag never refuses what was just granted.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from datetime import timedelta

import eventlet
from eventlet.event import Event
import structlog
from nameko.extensions import DependencyProvider
from nameko.rpc import RpcProxy, rpc

from contracts import acme as acme_contract
from contracts import certificate_rules as rules
from contracts import ca as ca_contract
from contracts import certificates as certs_contract
from contracts import enrollment as contract
from contracts.errors import EXPECTED, Conflict, InvalidRequest, NotFound, PolicyViolation, Unavailable
from services.enrollment import domain, profiles, reports
from services.enrollment.acme_projections import AcmeNonces, AcmeView
from services.enrollment.acme_service import AcmeEntrypoints
from services.enrollment.certs_projections import CertsView
from services.enrollment.certs_service import CertEntrypoints
from services.enrollment.csr import csr_pem, parse_csr
from services.enrollment.downloads import render
from services.enrollment.events import SslIssuanceFailed, SslIssued, SslRequested, decode
from services.enrollment.facts import DomainFacts, OrgSubjects
from services.enrollment.forms_projections import FormsView
from services.enrollment.forms_service import FormEntrypoints
from services.enrollment.device_protocols import DeviceProtocols
from services.enrollment.est_service import EstEntrypoints
from services.enrollment.scep_service import ScepEntrypoints
from services.enrollment.projections import EnrollmentView, display_name, ssl_view
from services.runtime.entrypoint_helpers import decider, load_payload, parse_id
from services.runtime.faults import crash_point
from services.runtime.kept_secrets import KeptSecretsProvider
from services.runtime.nameko_glue import (Context, EventSourced, EventStoreProvider, follows, open_database, periodic,
                                          processes, rpc_call, settings_of)
from services.runtime.store import StreamAppend

log = structlog.get_logger(__name__)


def _ssl_stream(ssl_id: str) -> str:
    return f"ssl-{ssl_id}"


def _profile_stream(profile_id: str) -> str:
    return f"profile-{profile_id}"


def _default_profile_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"certplane:profile:{name}"))


class Nonces(DependencyProvider):
    def setup(self):
        self.nonces = AcmeNonces(open_database(settings_of(self.container), self.container.service_name))

    def get_dependency(self, worker_ctx):
        return self.nonces


class Outcomes(DependencyProvider):
    """The requests of this process waiting for their outcome: `wait` returns when the processor here recorded it
    (`done`), or — if another replica's processor did — when a look at the read model, every quarter second,
    finds it; at the latest after the wait asked for."""

    POLL_SECONDS = 0.25

    def setup(self):
        self.waiting: dict[str, Event] = {}

    def wait(self, ssl_id: str, seconds: float, settled) -> None:
        """Return once `done(ssl_id)` was called here, or `settled()` says so at a poll, or after `seconds`. The
        caller has just applied the request: it is not settled yet, so the first look is after the first poll."""
        event = self.waiting.setdefault(ssl_id, Event())
        deadline = time.monotonic() + seconds
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                with eventlet.Timeout(min(remaining, self.POLL_SECONDS), False):
                    event.wait()
                if event.ready() or settled():
                    return
        finally:
            self.waiting.pop(ssl_id, None)

    def done(self, ssl_id: str) -> None:
        event = self.waiting.get(ssl_id)
        if event is not None and not event.ready():
            event.send(True)

    def get_dependency(self, worker_ctx):
        return self


class EnrollmentService(CertEntrypoints, FormEntrypoints, ScepEntrypoints, EstEntrypoints, DeviceProtocols,
                        AcmeEntrypoints, EventSourced):
    name = contract.SOURCE

    store = EventStoreProvider(projections=[EnrollmentView, AcmeView, CertsView, FormsView])
    context = Context()
    # the collection ids of issued certificates, for the collection mail (events hold only their sha256)
    collection_ids = KeptSecretsProvider("ssl_collection_ids")
    ca_rpc = RpcProxy("ca")                 # revocation, and the lint of a request that waits for approval
    domain_facts = follows("domains", DomainFacts)
    org_facts = follows("orgs", OrgSubjects)
    outcomes = processes("ca", policy="record_outcomes", types=ca_contract.OUTCOME_EVENTS + ("ca_revoked.v1",))
    waiting = Outcomes()
    # the HMAC keys of ACME accounts' External Account Bindings (events hold only their sha256): the server MACs
    # with them, so they are kept, not hashed. A lost row makes its EAB unusable: make a new ACME account.
    eab_keys = KeptSecretsProvider("acme_eab_keys")
    acme_nonces = Nonces()
    # a person's email or name changed: their client certificates are revoked (certs_service)
    person_changes = processes("identity", policy="revoke_for_person_changes", types=("person_identity_changed.v1",),
                               prepare="prepare_person_revocations")
    # its own tracking row: domain_facts follows the same source in this database
    challenge_checks = processes("domains", policy="record_challenge_checks", types=acme_contract.CHECKED_EVENTS,
                                 tracking_key="domains:acme_checks")

    # ---- default profiles at first start ------------------------------------------------------------------
    @periodic(setting="catch_up_interval")
    def ensure_default_profiles(self) -> bool:
        """Create the default profiles once (fixed ids: replicas starting together create each once)."""
        if self.store.read(self._view.all_profiles):
            return True
        for values in profiles.default_profiles(None, self.store.clock()):
            values = load_payload(contract.ProfileFieldsV1(now=self.store.clock()), _json_ready(values))
            profile_id = _default_profile_id(values["name"])
            try:
                self.store.execute(_profile_stream(profile_id),
                                   _profile_decider(domain.decide_create_profile, profile_id, _json_ready(values)))
            except Exception as exc:   # noqa: BLE001 — a replica created it at the same moment
                log.info("default_profile_skipped", name=values["name"], reason=type(exc).__name__)
        return True

    # ---- profiles -----------------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def list_profiles(self) -> list[dict]:
        return self.store.read(self._view.all_profiles)

    @rpc(expected_exceptions=EXPECTED)
    def get_profile(self, profile_id: str) -> dict:
        profile_id = parse_id(profile_id, "profile")
        found = self.store.read(lambda conn: self._view.profile(conn, profile_id))
        if found is None:
            raise NotFound.of("profile", profile_id)
        return found

    @rpc(expected_exceptions=EXPECTED)
    def create_profile(self, payload: dict, profile_id: str | None = None) -> dict:
        values = _json_ready(load_payload(contract.ProfileFieldsV1(now=self.store.clock()), payload))
        profile_id = parse_id(profile_id or uuid.uuid4(), "profile")
        result = self.store.execute(_profile_stream(profile_id),
                                    _profile_decider(domain.decide_create_profile, profile_id, values))
        return self.command_result(result, profile=self.get_profile(profile_id))

    @rpc(expected_exceptions=EXPECTED)
    def update_profile(self, profile_id: str, changes: dict) -> dict:
        profile_id = parse_id(profile_id, "profile")
        current = self.get_profile(profile_id)
        domain.check_trust_class_kept(current, changes)              # before the merged profile is judged
        merged = {k: v for k, v in current.items() if k not in ("profile_id", "created_at", "updated_at")}
        values = _json_ready(load_payload(contract.ProfileFieldsV1(now=self.store.clock()), {**merged, **changes}))
        result = self.store.execute(_profile_stream(profile_id),
                                    _profile_decider(domain.decide_update_profile, profile_id, values))
        return self.command_result(result, profile=self.get_profile(profile_id))

    @rpc(expected_exceptions=EXPECTED)
    def delete_profile(self, profile_id: str) -> dict:
        profile_id = parse_id(profile_id, "profile")
        result = self.store.execute(_profile_stream(profile_id),
                                    _profile_decider(domain.decide_delete_profile, profile_id))
        return self.command_result(result)

    # ---- SSL requests -------------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def request_ssl(self, payload: dict, requested_by: str, auto_approve: bool, ssl_id: str | None = None,
                    requester_email: str | None = None) -> dict:
        return self._request(load_payload(contract.SslRequestV1(), payload), requested_by, auto_approve, ssl_id,
                             requester_email=requester_email)

    @rpc(expected_exceptions=EXPECTED)
    def renew_ssl(self, ssl_id: str, requested_by: str, auto_approve: bool, payload: dict | None = None,
                  replace: bool = False, new_ssl_id: str | None = None, requester_email: str | None = None,
                  wait: bool = True) -> dict:
        """A new request with the details of `ssl_id` and a new CSR (or its stored one, which keeps the key).
        `replace`: the old certificate is revoked (superseded) once the new one is issued. `wait`: for the outcome,
        as a request does (auto-renew does not: it renews many)."""
        values = load_payload(contract.RenewV1(), payload or {})
        ssl_id = parse_id(ssl_id, "ssl")
        old = self._fold(self.store.load(_ssl_stream(ssl_id)))
        domain.check_renewable(old, ssl_id, replace)
        r = old.request
        again = {"organization_id": r.organization_id, "department_id": r.department_id, "profile_id": r.profile_id,
                 "term_days": r.term_days, "csr": values["csr"] or r.csr_pem, "common_name": r.common_name,
                 "sans": list(r.sans), "comments": r.comments, "external_requester": r.external_requester,
                 "auto_renew": r.auto_renew}
        return self._request(load_payload(contract.SslRequestV1(), again), requested_by, auto_approve, new_ssl_id,
                             requester_email=requester_email or r.requester_email, renewal_of=ssl_id,
                             replaces=replace, wait=wait)

    @periodic(setting="auto_renew_check_interval")
    def auto_renew(self) -> bool:
        """Certificates marked auto-renew get a renewal request (same CSR, so the same key) `auto_renew_days`
        before they expire; it goes through the profile's approval like any request."""
        now = self.store.clock()
        due = self.store.read(lambda conn: self._view.due_for_renewal(
            conn, now + timedelta(days=self.context.settings.auto_renew_days), now))
        for ssl_id in due:
            try:
                renewed = self.renew_ssl(ssl_id, "system:auto-renew", False, wait=False)
                log.info("auto_renew_requested", ssl_id=ssl_id, renewal=renewed["ssl"]["ssl_id"])
            except Exception as exc:   # noqa: BLE001 — one failure must not stop the others; retried next tick
                log.warning("auto_renew_failed", ssl_id=ssl_id, reason=f"{type(exc).__name__}: {exc}")
        return True

    def _request(self, values: dict, requested_by: str, auto_approve: bool, ssl_id: str | None,
                 requester_email: str | None = None, renewal_of: str | None = None, replaces: bool = False,
                 wait: bool = True, validated_names: frozenset = frozenset()) -> dict:
        """`validated_names`: names whose control was proven for this request itself (an ACME order's valid
        authorizations), which a public profile then needs no other DCV evidence for."""
        ssl_id = parse_id(ssl_id or uuid.uuid4(), "ssl")
        profile = self.get_profile(str(values["profile_id"]))
        if profile["cert_type"] != "ssl":
            raise InvalidRequest("the profile is not an SSL profile", {"profile_id": [profile["cert_type"]]},
                                 code="profile_not_ssl")
        parsed = parse_csr(values["csr"])
        now = self.store.clock()
        checked = profiles.check_request(profile, parsed, values["common_name"], values["sans"],
                                         values["term_days"], now)
        organization_id = str(values["organization_id"])
        department_id = str(values["department_id"]) if values["department_id"] else None
        self._check_names(organization_id, department_id, checked.sans, profile, now, validated_names)
        trust_class = profiles.trust_class(profile)
        subject = rules.subject_for("ssl", trust_class, self._subject(organization_id, department_id))
        requested = SslRequested(ssl_id, organization_id, department_id, profile["profile_id"], values["term_days"],
                                 checked.common_name, list(checked.sans), parsed.key_type, csr_pem(parsed.der),
                                 subject, values["comments"], values["external_requester"], values["auto_renew"],
                                 requested_by, requester_email, renewal_of, replaces, trust_class)
        automatic = auto_approve or not profile["requires_approval"]
        if automatic:
            events = domain.decide_request(domain.Ssl(), requested, requested_by,
                                           _signing_request(requested, profile))
        else:
            self._lint(requested, profile)             # a profile whose certificates would fail refuses at once
            events = domain.decide_request(domain.Ssl(), requested, None)
        result = self.store.append(_ssl_stream(ssl_id), 0, [e.encode() for e in events], self.context.metadata())
        crash_point("enrollment.recorded")
        return self.command_result(result, False,
                                   ssl=self._outcome(ssl_id) if automatic and wait else self.get_ssl(ssl_id))

    def _outcome(self, ssl_id: str) -> dict:
        """The applied request as it is once the pipeline answered, or after `issuance_wait` seconds (at most 60 %
        of the RPC timeout, so the caller's call never times out first)."""
        self._wait_for_outcome(ssl_id, self.context.settings.issuance_wait)
        return self.get_ssl(ssl_id)

    def _wait_for_outcome(self, ssl_id: str, seconds: float) -> None:
        """Until the applied request has its outcome, or `seconds` (at most 60 % of the RPC timeout) passed."""
        seconds = min(seconds, 0.6 * self.context.settings.rpc_timeout)
        self.waiting.wait(ssl_id, seconds, lambda: self._status(ssl_id) != "applied")

    def _status(self, ssl_id: str) -> str | None:
        view = self._view
        return self.store.db.quick_scalar(view.status_query, {"ssl_id": ssl_id})

    def _supersede(self, requested: SslRequested) -> None:
        """Replace: the old certificate is revoked as superseded once its successor is issued."""
        if not (requested.replaces and requested.renewal_of):
            return
        try:
            self.revoke_ssl(requested.renewal_of, requested.requested_by, {"reason": "superseded"})
        except Conflict:
            pass                     # revoked meanwhile by someone else: nothing more to do
        except Exception as exc:     # noqa: BLE001 — the ca did not answer: logged; revoke it by hand or retry
            log.warning("supersede_failed", ssl_id=requested.renewal_of, reason=f"{type(exc).__name__}: {exc}")

    @rpc(expected_exceptions=EXPECTED)
    def approve_ssl(self, ssl_id: str, approver: str, payload: dict | None = None) -> dict:
        """Approve (or approve again a failed request): approved and applied in one append, then the outcome as
        `_outcome` waits for it."""
        values = load_payload(contract.ApproveV1(), payload or {})
        ssl_id = parse_id(ssl_id, "ssl")

        def decide(history):
            state = self._fold(history)
            request = state.request
            signing = None
            if request is not None:
                signing = _signing_request(request, self.get_profile(request.profile_id))
            return [e.encode() for e in domain.decide_approve(state, ssl_id, approver, values["message"], signing)]

        result = self.store.execute(_ssl_stream(ssl_id), decide)
        return self.command_result(result, False, ssl=self._outcome(ssl_id))

    # ---- the pipeline's last step: the CA's answers become the requests' outcomes ---------------------------
    def record_outcomes(self, unit, envelopes) -> None:
        """ca's `certificate_issued` / `certificate_refused` for an SSL application (request_id `ssl:<id>`, the
        application the request's last `ssl_applied`) become `ssl_issued` (with a new collection id, kept in the
        same transaction) / `ssl_issuance_failed`, appended with the tracking row. Waiting answers are woken, and
        a replacement's predecessor revoked, once that committed. A revoked CA (`ca_revoked`) starts an ARI renewal
        campaign for its certificates (acme_service.campaign_for_revoked_ca)."""
        appends, versions = [], {}
        for envelope in envelopes:
            if envelope.event_type == "ca_revoked.v1":
                self.campaign_for_revoked_ca(unit, envelope)          # ARI: its certificates renew at once
                continue
            if envelope.event_type not in ("certificate_issued.v1", "certificate_refused.v1"):
                continue
            p = envelope.payload
            kind, _, ssl_id = str(p.get("request_id", "")).partition(":")
            if not p.get("application_id"):
                continue                     # signed through the RPC
            if kind in certs_contract.CERT_TYPES:
                appended = self._cert_outcome(unit, envelope, ssl_id, versions)
                appends += [appended] if appended else []
                continue
            if kind != "ssl":
                continue                     # another kind of request
            stream = _ssl_stream(ssl_id)
            history = self.store.load(stream, unit.conn)
            state = self._fold(history)
            application = next((r.event_id for r in reversed(history) if r.event_type == "ssl_applied.v1"), None)
            if state.status is not domain.Status.APPLIED or application != p["application_id"] or stream in versions:
                log.error("ca_outcome_not_applicable", ssl_id=ssl_id, status=str(state.status),
                          application_id=p["application_id"], serial=p.get("serial"))
                continue
            if envelope.event_type == "certificate_issued.v1":
                collection_id = secrets.token_urlsafe(24)        # 192 bits: the link is the credential
                self.collection_ids.keep(ssl_id, {"collection_id": collection_id}, unit.conn)
                outcome = SslIssued(ssl_id, p["serial"], p["ca_id"], p["not_before"], p["not_after"],
                                    p["sha256_fingerprint"], p["certificate_pem"], list(p.get("chain_pem") or []),
                                    _sha256(collection_id), bool(state.request.requester_email
                                                                 or state.request.external_requester))
                unit.after_commit.append(lambda request=state.request: self._supersede(request))
            else:
                outcome = SslIssuanceFailed(ssl_id, p["reason"], list(p["findings"]), p["code"])
            versions[stream] = len(history)
            appends.append(StreamAppend(stream, len(history), (outcome.encode(),)))
            unit.after_commit.append(lambda ssl_id=ssl_id: self.waiting.done(ssl_id))
        if not appends:
            return
        crash_point("enrollment.outcome")
        last = envelopes[-1]
        unit.append_streams(appends, {"correlation_id": last.correlation_id, "actor": "system:enrollment",
                                      "causation_id": last.event_id})

    @rpc(expected_exceptions=EXPECTED)
    def decline_ssl(self, ssl_id: str, admin: str, payload: dict) -> dict:
        values = load_payload(contract.DeclineV1(), payload)
        ssl_id = parse_id(ssl_id, "ssl")
        result = self.store.execute(_ssl_stream(ssl_id),
                                    _ssl_decider(domain.decide_decline, ssl_id, admin, values["reason"]))
        return self.command_result(result, ssl=self.get_ssl(ssl_id))

    @rpc(expected_exceptions=EXPECTED)
    def revoke_ssl(self, ssl_id: str, admin: str, payload: dict | None = None) -> dict:
        values = load_payload(contract.RevokeV1(), payload or {})
        ssl_id = parse_id(ssl_id, "ssl")
        state = self._fold(self.store.load(_ssl_stream(ssl_id)))
        domain.decide_revoke(state, ssl_id, values["reason"], admin)      # refuse before asking the CA
        rpc_call(self.ca_rpc.revoke_certificate, state.serial, {"reason": values["reason"]},
                 timeout=self.context.settings.rpc_timeout)
        result = self.store.execute(_ssl_stream(ssl_id),
                                    _ssl_decider(domain.decide_revoke, ssl_id, values["reason"], admin))
        return self.command_result(result, ssl=self.get_ssl(ssl_id))

    @rpc(expected_exceptions=EXPECTED)
    def get_ssl(self, ssl_id: str) -> dict:
        ssl_id = parse_id(ssl_id, "ssl")
        row = self.store.read(lambda conn: self._view.ssl_record(conn, ssl_id))
        if row is None:
            raise NotFound.of("ssl", ssl_id)
        return ssl_view(row, self.store.clock())

    @rpc(expected_exceptions=EXPECTED)
    def list_ssl(self, scope: dict, filters: dict, offset: int = 0, limit: int = 50) -> dict:
        return self.store.read(lambda conn: self._view.ssl_page(conn, scope, filters, max(0, int(offset)),
                                                                min(500, int(limit)), self.store.clock()))

    @rpc(expected_exceptions=EXPECTED)
    def ssl_certificate(self, ssl_id: str) -> dict:
        """The certificate and its chain as PEM, for reading them (the console's certificate page): {status,
        certificate_pem (null before issuance), chain_pem: [issuing CA, …, root]}. Not a download: nothing is
        recorded."""
        ssl_id = parse_id(ssl_id, "ssl")
        row = self.store.read(lambda conn: self._view.ssl_record(conn, ssl_id))
        if row is None:
            raise NotFound.of("ssl", ssl_id)
        return {"status": row["status"], "certificate_pem": row["certificate_pem"],
                "chain_pem": list(row["chain_pem"] or [])}

    @rpc(expected_exceptions=EXPECTED)
    def download_ssl(self, ssl_id: str, fmt: str, by: str) -> dict:
        """The certificate in a format of contracts.enrollment.DOWNLOAD_FORMATS: {content_b64, mimetype,
        filename}. The first download moves `issued` to `downloaded`."""
        _check_format(fmt)
        ssl_id = parse_id(ssl_id, "ssl")
        row = self.store.read(lambda conn: self._view.ssl_record(conn, ssl_id))
        if row is None:
            raise NotFound.of("ssl", ssl_id)
        return self._download(row, fmt, by)

    @rpc(expected_exceptions=EXPECTED)
    def collection_mail(self, ssl_id: str) -> dict:
        """The collection mail of an issued certificate (for notify): to the requester and the external
        requester, with the collection link."""
        ssl_id = parse_id(ssl_id, "ssl")
        row = self.store.read(lambda conn: self._view.ssl_record(conn, ssl_id)) or {}
        kept = self.collection_ids.get(ssl_id)
        recipients = [a for a in (row.get("requester_email"), row.get("external_requester")) if a]
        if not row or kept is None or not recipients:
            raise NotFound.of("collection", ssl_id)
        link = f"{self.context.settings.base_url}/collect/{kept['collection_id']}"
        formats = "\n".join(f"  {link}?format={name}  ({what})"
                             for name, (_m, _e, what) in contract.DOWNLOAD_FORMATS.items())
        name = display_name(row)
        text = (f"The certificate for {name} (serial {row['serial']}) has been issued. Download it "
                f"here:\n\n{formats}\n\nThe link is yours alone: anyone who has it can download the certificate "
                f"(never a private key).\n")
        return {"to": ", ".join(dict.fromkeys(recipients)), "subject": f"Your certificate for {name}",
                "text": text}

    @rpc(expected_exceptions=EXPECTED)
    def collect(self, collection_id: str, fmt: str) -> dict:
        """Download through the collection link (no login: the link is the credential)."""
        row = self.store.read(lambda conn: self._view.ssl_by_collection(conn, _sha256(str(collection_id))))
        if row is None:
            raise NotFound.of("collection", "link")
        _check_format(fmt)
        return self._download(row, fmt, "collection-link")

    def _download(self, row: dict, fmt: str, by: str) -> dict:
        if row["status"] not in ("downloaded", "revoked"):    # only then is there nothing to record or refuse
            self.store.execute(_ssl_stream(row["ssl_id"]),
                               _ssl_decider(domain.decide_downloaded, row["ssl_id"], fmt, by))
        mimetype, extension, _ = contract.DOWNLOAD_FORMATS[fmt]
        content = render(fmt, row["certificate_pem"], row["chain_pem"] or [])
        return {"content_b64": base64.b64encode(content).decode(), "mimetype": mimetype,
                "filename": f"{display_name(row).replace('*', 'wildcard').replace(':', '-')}.{extension}"}

    # ---- helpers ------------------------------------------------------------------------------------------
    @property
    def _view(self) -> EnrollmentView:
        return self.store.projection(EnrollmentView)

    @staticmethod
    def _fold(history) -> domain.Ssl:
        return domain.fold(decode(r.event_type, r.payload) for r in history)

    def _call(self, method, *args):
        return rpc_call(method, *args, timeout=self.context.settings.rpc_timeout)

    def _coverage(self, organization_id: str, department_id: str | None, names, now) -> dict:
        """contracts.coverage's answer per name (allowed, reason, fresh_dcv, domain_id …) from enrollment's copy of
        domains' facts; a name refused is looked at again after one pull (read your writes)."""
        def answers() -> dict:
            facts = self._current(self.domain_facts, "domains")
            with facts.db.reader() as conn:
                return facts.projection.may_issue_names(conn, organization_id, department_id, "ssl", list(names),
                                                        now)

        found = answers()
        if any(not a["allowed"] for a in found.values()) and self.catch_up_domain_facts():
            found = answers()
        return found

    def _check_names(self, organization_id: str, department_id: str | None, names, profile: dict, now,
                     validated: frozenset = frozenset(), cert_type: str = "ssl") -> None:
        """Every name delegated (approved, active) to the organization/department for ssl — a DNS name through a
        delegated domain, an IP address through a delegated network; fresh DCV evidence for a public profile (which
        allows no IP address: certificate_rules refused one already). One refusal names every name that fails and
        why. Answered from enrollment's copy of domains' facts (contracts/coverage.py decides)."""
        public = profiles.trust_class(profile) == "public"

        def refusals() -> dict:
            facts = self._current(self.domain_facts, "domains")
            with facts.db.reader() as conn:
                answers = facts.projection.may_issue_names(conn, organization_id, department_id, cert_type,
                                                           list(names), now)
            refused = {}
            for name, answer in answers.items():
                if not answer["allowed"]:
                    refused[name] = answer["reason"]
                elif public and not answer["fresh_dcv"] and name not in validated:
                    refused[name] = f"no fresh DCV evidence (status {answer['dcv_status']})"
            return refused

        refused = refusals()
        if refused and self.catch_up_domain_facts():
            refused = refusals()        # read your writes: a delegation made a moment ago may not be here yet
        if refused:
            raise PolicyViolation("names not allowed for this organization or department: "
                                  + "; ".join(f"{n}: {r}" for n, r in refused.items()),
                                  {"names": refused}, code="names_not_allowed")

    def _subject(self, organization_id: str, department_id: str | None) -> dict:
        """O, C, ST, L from the organization and OU from the department (they override the CSR's subject), from
        enrollment's copy of orgs' facts."""
        def subject() -> dict:
            facts = self._current(self.org_facts, "orgs")
            with facts.db.reader() as conn:
                return facts.projection.subject(conn, organization_id, department_id)

        try:
            return subject()
        except NotFound:
            if not self.catch_up_org_facts():
                raise
            return subject()            # an organization or department made a moment ago may not be here yet

    def _current(self, follower, source: str):
        """The follower, if its copy was confirmed current (a complete pull) within facts_max_lag seconds."""
        confirmed = follower.last_caught_up
        lag = self.context.settings.facts_max_lag
        if confirmed is None or time.monotonic() - confirmed > lag:
            raise Unavailable(f"enrollment's copy of {source}' facts is not confirmed current (it could not reach "
                              f"{source} for over {lag:g} s, or it is starting); try again shortly",
                              {"source": source}, code="facts_not_current")
        return follower

    def _lint(self, requested: SslRequested, profile: dict) -> None:
        """Ask the CA to lint the certificate this request would get (nothing is signed or recorded): a request
        that waits for approval learns at once if its profile's certificates would fail."""
        self._call(self.ca_rpc.issue_certificate, {**_signing_request(requested, profile), "dry_run": True})

    # ---- the console's dashboard and certificate page (services/enrollment/reports.py) ----------------------
    @rpc(expected_exceptions=EXPECTED)
    def ssl_summary(self, scope: dict, admin_id: str | None = None) -> dict:
        """Counts over the SSL inventory in `scope` (as list_ssl's), at the store's clock: by status, the expiry
        timeline per organization, and the requests waiting for an approver other than `admin_id`."""
        now = self.store.clock()
        table = self._view.ssl
        return self.store.read(lambda conn: reports.ssl_summary(conn, table, scope, admin_id, now))

    @rpc(expected_exceptions=EXPECTED)
    def ssl_history(self, ssl_id: str) -> list[dict]:
        """The request's history from its event stream (reports.ssl_history), with the renewal or replacement
        that succeeded it."""
        ssl_id = parse_id(ssl_id, "ssl")
        records = self.store.load(_ssl_stream(ssl_id))
        if not records:
            raise NotFound.of("ssl", ssl_id)
        row = self.store.read(lambda conn: self._view.ssl_record(conn, ssl_id))
        successor = None
        if row and row["renewed_by"]:
            successor = next(iter(self.store.load(_ssl_stream(row["renewed_by"]))), None)
        return reports.ssl_history(records, successor)

    @periodic(setting="auto_renew_check_interval")
    def sweep_acme_nonces(self) -> bool:
        """Forget ACME nonces past their lifetime (never used)."""
        self.acme_nonces.sweep(self.store.clock())
        return True


def _signing_request(requested: SslRequested, profile: dict) -> dict:
    """What the CA is asked to sign for this request (contracts/ca.py IssueCertificateV2, without dry_run)."""
    key_usage, eku = profiles.leaf_extensions(profile, requested.key_type)
    return {"request_id": f"ssl:{requested.ssl_id}", "ca_id": profile.get("ca_id"), "cert_type": "ssl",
            "trust_class": requested.trust_class, "csr_pem": requested.csr_pem,
            "common_name": requested.common_name, "sans": list(requested.sans), "subject": requested.subject,
            "term_days": requested.term_days, "key_usage": sorted(key_usage), "extended_key_usage": list(eku)}


def _check_format(fmt: str) -> None:
    if fmt not in contract.DOWNLOAD_FORMATS:
        raise InvalidRequest(f"format must be one of {', '.join(contract.DOWNLOAD_FORMATS)}",
                             {"format": ["unknown"]}, code="unknown_format")


def _ssl_decider(decide, *args):
    return decider(domain.fold, decode, decide, *args)


def _profile_decider(decide, *args):
    return decider(domain.fold_profile, decode, decide, *args)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _json_ready(values: dict) -> dict:
    """Loaded schema values as JSON for an event (UUIDs as strings)."""
    return {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in values.items()}
