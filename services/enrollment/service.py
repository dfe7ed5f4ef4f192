"""The enrollment service (SSL part): certificate profiles, and SSL requests from CSR to collected certificate.
Entrypoints load payloads with contract schemas; the checks that need other services are RPCs here — names to
`domains.may_issue`, organization data to `orgs`, signing to `ca` — and their answers enter the pure decisions.

Issuance without approval (a profile that does not require it, or a requester with "SSL auto approve") asks the
CA first and records the request, its approval and the certificate in one append afterwards: a lint refusal then
leaves nothing behind. If this process died between the CA's signature and that append, the CA still holds the
certificate (its events carry request_id `ssl:<id>`, so it can be found and revoked) but the inventory would not
show it — the known gap of this order, preferred over recording requests that never got a certificate.
With approval, `approved` and `applied` are recorded before the CA is asked, so two racing approvals sign once.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from datetime import timedelta

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from nameko.extensions import DependencyProvider
from nameko.rpc import RpcProxy, rpc

from contracts import certificate_rules as rules
from contracts import enrollment as contract
from contracts.errors import EXPECTED, Conflict, DomainError, InvalidRequest, NotFound, PolicyViolation
from services.enrollment import domain, profiles, reports
from services.enrollment.csr import parse_csr
from services.enrollment.events import SslIssued, SslRequested, decode
from services.enrollment.projections import EnrollmentView, display_name, ssl_view
from services.runtime.entrypoint_helpers import decider, load_payload, parse_id
from services.runtime.kept_secrets import KeptSecrets
from services.runtime.nameko_glue import (Context, EventSourced, EventStoreProvider, catch_up_timer, open_database,
                                          rpc_call, settings_of)

log = structlog.get_logger(__name__)


def _ssl_stream(ssl_id: str) -> str:
    return f"ssl-{ssl_id}"


def _profile_stream(profile_id: str) -> str:
    return f"profile-{profile_id}"


def _default_profile_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"certplane:profile:{name}"))


class CollectionIds(DependencyProvider):
    """The collection ids of issued certificates, kept so the collection mail can carry them (events hold only
    their sha256; see KeptSecrets)."""

    def setup(self):
        self.secrets = KeptSecrets(open_database(settings_of(self.container), self.container.service_name),
                                   "ssl_collection_ids")

    def get_dependency(self, worker_ctx):
        return self.secrets


class EnrollmentService(EventSourced):
    name = contract.SOURCE

    store = EventStoreProvider(projections=[EnrollmentView])
    context = Context()
    collection_ids = CollectionIds()
    orgs_rpc = RpcProxy("orgs")
    domains_rpc = RpcProxy("domains")
    ca_rpc = RpcProxy("ca")

    # ---- default profiles at first start ------------------------------------------------------------------
    @catch_up_timer()
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
                  replace: bool = False, new_ssl_id: str | None = None, requester_email: str | None = None) -> dict:
        """A new request with the details of `ssl_id` and a new CSR (or its stored one, which keeps the key).
        `replace`: the old certificate is revoked (superseded) once the new one is issued."""
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
                             replaces=replace)

    @catch_up_timer(setting="auto_renew_check_interval")
    def auto_renew(self) -> bool:
        """Certificates marked auto-renew get a renewal request (same CSR, so the same key) `auto_renew_days`
        before they expire; it goes through the profile's approval like any request."""
        now = self.store.clock()
        due = self.store.read(lambda conn: self._view.due_for_renewal(
            conn, now + timedelta(days=self.context.settings.auto_renew_days), now))
        for ssl_id in due:
            try:
                renewed = self.renew_ssl(ssl_id, "system:auto-renew", False)
                log.info("auto_renew_requested", ssl_id=ssl_id, renewal=renewed["ssl"]["ssl_id"])
            except Exception as exc:   # noqa: BLE001 — one failure must not stop the others; retried next tick
                log.warning("auto_renew_failed", ssl_id=ssl_id, reason=f"{type(exc).__name__}: {exc}")
        return True

    def _request(self, values: dict, requested_by: str, auto_approve: bool, ssl_id: str | None,
                 requester_email: str | None = None, renewal_of: str | None = None, replaces: bool = False) -> dict:
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
        self._check_names(organization_id, department_id, checked.sans, profile)
        trust_class = profiles.trust_class(profile)
        subject = rules.subject_for("ssl", trust_class, self._subject(organization_id, department_id))
        requested = SslRequested(ssl_id, organization_id, department_id, profile["profile_id"], values["term_days"],
                                 checked.common_name, list(checked.sans), parsed.key_type, _pem(parsed.der),
                                 subject, values["comments"], values["external_requester"], values["auto_renew"],
                                 requested_by, requester_email, renewal_of, replaces, trust_class)
        automatic = auto_approve or not profile["requires_approval"]
        if not automatic:
            self._sign(requested, profile, dry_run=True)             # lint now: a bad profile refuses at once
            events = domain.decide_request(domain.Ssl(), requested, None)
        else:
            issued, collection_id = self._sign(requested, profile)
            events = domain.decide_request(domain.Ssl(), requested, requested_by) + [issued]
        result = self.store.append(_ssl_stream(ssl_id), 0, [e.encode() for e in events], self.context.metadata())
        if automatic:
            self.collection_ids.keep(ssl_id, {"collection_id": collection_id})
            self._supersede(requested)
        return self.command_result(result, ssl=self.get_ssl(ssl_id))

    def _supersede(self, requested: SslRequested) -> None:
        """Replace: the old certificate is revoked as superseded once its successor is issued."""
        if not (requested.replaces and requested.renewal_of):
            return
        try:
            self.revoke_ssl(requested.renewal_of, requested.requested_by, {"reason": "superseded"})
        except Conflict:
            pass                     # revoked meanwhile by someone else: nothing more to do

    @rpc(expected_exceptions=EXPECTED)
    def approve_ssl(self, ssl_id: str, approver: str, payload: dict | None = None) -> dict:
        values = load_payload(contract.ApproveV1(), payload or {})
        ssl_id = parse_id(ssl_id, "ssl")
        self.store.execute(_ssl_stream(ssl_id),
                           _ssl_decider(domain.decide_approve, ssl_id, approver, values["message"]))
        state = self._fold(self.store.load(_ssl_stream(ssl_id)))
        profile = self.get_profile(state.request.profile_id)
        try:
            issued, collection_id = self._sign(state.request, profile)
        except Exception as failed:
            # refused (lint, CA rules) or no answer: the request rests in `approved` with the reason, and can be
            # approved again (a retry) or declined. After a timeout the CA may still have signed; its events name
            # the request (request_id ssl:<id>), so such a certificate can be found and revoked.
            refused = isinstance(failed, DomainError)
            reason = failed.message if refused else f"the CA did not answer ({type(failed).__name__})"
            findings = failed.details.get("findings", []) if refused and isinstance(failed.details, dict) else []
            self.store.execute(_ssl_stream(ssl_id),
                               _ssl_decider(domain.decide_issuance_failed, ssl_id, reason, findings))
            raise
        result = self.store.execute(_ssl_stream(ssl_id), _ssl_decider(domain.decide_issued, issued))
        self.collection_ids.keep(ssl_id, {"collection_id": collection_id})
        self._supersede(state.request)
        return self.command_result(result, ssl=self.get_ssl(ssl_id))

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
        content = _render(fmt, row["certificate_pem"], row["chain_pem"] or [])
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

    def _check_names(self, organization_id: str, department_id: str | None, names, profile: dict) -> None:
        """Every name delegated (approved, active) to the organization/department for ssl — a DNS name through a
        delegated domain, an IP address through a delegated network; fresh DCV evidence for a public profile (which
        allows no IP address: certificate_rules refused one already). One refusal names every name that fails and
        why."""
        refused = {}
        answers = self._call(self.domains_rpc.may_issue_names, organization_id, department_id, "ssl", list(names))
        for name, answer in answers.items():
            if not answer["allowed"]:
                refused[name] = answer["reason"]
            elif profiles.trust_class(profile) == "public" and not answer["fresh_dcv"]:
                refused[name] = f"no fresh DCV evidence (status {answer['dcv_status']})"
        if refused:
            raise PolicyViolation("names not allowed for this organization or department: "
                                  + "; ".join(f"{n}: {r}" for n, r in refused.items()),
                                  {"names": refused}, code="names_not_allowed")

    def _subject(self, organization_id: str, department_id: str | None) -> dict:
        """O, C, ST, L from the organization and OU from the department (they override the CSR's subject)."""
        organization = self._call(self.orgs_rpc.get_organization, organization_id)
        department = None
        if department_id is not None:
            department = next((d for d in organization["departments"] if d["department_id"] == department_id), None)
            if department is None:
                raise NotFound.of("department", department_id)
        return {"organization": organization["name"], "organizational_unit": department["name"] if department else None,
                "country": organization["country"], "state": organization["state"],
                "locality": organization["city"]}

    def _sign(self, requested: SslRequested, profile: dict, dry_run: bool = False):
        """Ask the CA to sign (or only lint, `dry_run`); (SslIssued, the new collection id) or None."""
        key_usage, eku = profiles.leaf_extensions(profile, requested.key_type)
        answer = self._call(self.ca_rpc.issue_certificate, {
            "request_id": f"ssl:{requested.ssl_id}", "ca_id": profile.get("ca_id"), "cert_type": "ssl",
            "trust_class": requested.trust_class, "csr_pem": requested.csr_pem,
            "common_name": requested.common_name, "sans": requested.sans, "subject": requested.subject,
            "term_days": requested.term_days, "key_usage": sorted(key_usage), "extended_key_usage": list(eku),
            "dry_run": dry_run})
        if dry_run:
            return None
        collection_id = secrets.token_urlsafe(24)                   # 192 bits: the link is the credential
        return SslIssued(requested.ssl_id, answer["serial"], answer["ca_id"], answer["not_before"],
                         answer["not_after"], answer["sha256_fingerprint"], answer["certificate_pem"],
                         answer["chain_pem"], _sha256(collection_id)), collection_id

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


def _pem(der: bytes) -> str:
    return x509.load_der_x509_csr(der).public_bytes(serialization.Encoding.PEM).decode()


def _render(fmt: str, certificate_pem: str, chain_pem: list[str]) -> bytes:
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    if fmt == "pem":
        return certificate_pem.encode()
    if fmt == "der":
        return certificate.public_bytes(serialization.Encoding.DER)
    if fmt == "chain":
        return (certificate_pem + (chain_pem[0] if chain_pem else "")).encode()
    if fmt == "fullchain":
        return (certificate_pem + "".join(chain_pem)).encode()
    chain = [certificate] + [x509.load_pem_x509_certificate(p.encode()) for p in chain_pem]
    return pkcs7.serialize_certificates(chain, serialization.Encoding.DER)


def _json_ready(values: dict) -> dict:
    """Loaded schema values as JSON for an event (UUIDs as strings)."""
    return {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in values.items()}
