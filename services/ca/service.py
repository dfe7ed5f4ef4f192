"""The ca service: nameko entrypoints, and the signing path they share. The certificate rules are DESIGN §6:
159-bit random serials, notBefore now (backdated by at most BACKDATE for clock skew, documented here), SAN
always present with the CN taken from it, and lint before sign — the to-be-signed certificate is linted with
pkilint and any ERROR refuses issuance (422 with the findings) before a serial is recorded or a signature made.
Then the certificate is signed, and `certificate_signing` and `certificate_issued` are recorded in one append (for
the pipeline, in one transaction with the processor's tracking row: sign_applications): a certificate is never
out of this process before its record is committed, so no certificate exists that the CA does not know of.

Private keys live in the key store (adapters/keystore.py: AES-256-GCM under the key-encryption key), never in
events or logs. The first start creates the default hierarchy (a root and an issuing CA; hierarchy.py, shared with
`certplane ca init`) with fixed ids, so replicas starting together create it once.

Every CA publishes a CRL (`maintain`): an issuing CA of its leaves, a root its ARL of the issuing CAs' certificates
(domain.crl_policy picks the lint profile and the validity by the CA's kind), and OCSP answers for both. Revoking
an issuing CA takes two MRAOs (domain.decide_*_ca_revocation); then every certificate of its key is in the root's
ARL, and `domain.check_can_issue` refuses to sign with it. `reissue_ca` gives a CA's key a new certificate
(hierarchy.reissue).
"""
from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog
from eventlet import greenthread, tpool
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from contracts import ca as contract
from contracts import enrollment as enrollment_contract
from contracts.errors import (EXPECTED, ConcurrencyConflict, Conflict, DomainError, InvalidRequest, NotFound,
                             PolicyViolation)
from services.ca import domain, hierarchy, issuance, lint, x509build
from services.ca.adapters.keystore import KeyStore, load_kek
from services.ca.events import CertificateIssued, CertificateRefused, CertificateSigning, decode
from services.ca.hierarchy import DEFAULT_ISSUING, DEFAULT_ROOT, ISSUING_DAYS, default_issuing_for
from services.ca.projections import CaView
from services.runtime.entrypoint_helpers import decider, load_payload, parse_id
from services.runtime.events import utc as _utc
from services.runtime.faults import crash_point
from services.runtime.nameko_glue import (Context, EventSourced, EventStoreProvider, open_database, periodic,
                                          processes, settings_of)
from services.runtime.store import StreamAppend
from services.runtime.position_cache import PositionCache

log = structlog.get_logger(__name__)

BACKDATE = timedelta(seconds=60)        # notBefore = now - 60 s: a client whose clock is a minute behind accepts it
OCSP_VALIDITY = timedelta(hours=12)
SERIAL_ATTEMPTS = 3
_SHA256 = hashes.SHA256()


def _cert_stream(serial: str) -> str:
    return f"certificate-{serial}"


def _hex(serial: int) -> str:
    return format(serial, "x")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class CrlFiles:
    """The latest CRL of each CA as DER. Not event-sourced: a CRL is derived data (from the revocations, which are
    events) and can be rebuilt at any time; its publication is an event (`crl_published`, with its sha256)."""

    def __init__(self, db):
        self.db = db
        metadata = sa.MetaData(schema=db.schema)
        self.table = sa.Table("crl_files", metadata,
                              sa.Column("ca_id", sa.String(36), primary_key=True),
                              sa.Column("crl_number", sa.Integer, nullable=False),
                              sa.Column("der", sa.LargeBinary, nullable=False))
        db.create_tables(metadata)
        if db.is_postgres:
            self._store_uncompressed()

    def _store_uncompressed(self) -> None:
        """PostgreSQL compresses a large bytea (pglz) as it stores it: 2 of the 3 s that storing a CRL of a million
        entries (49 MB; a third smaller compressed) took. STORAGE EXTERNAL keeps it apart, uncompressed: 0.8 s.
        Set once, here, so a table made before this line gets it too."""
        table = self.db.engine.dialect.identifier_preparer.format_table(self.table)
        with self.db.writer() as conn, conn.begin():
            storage = conn.execute(sa.text("SELECT attstorage FROM pg_attribute WHERE attrelid = CAST(:table AS "
                                           "regclass) AND attname = 'der'"), {"table": table}).scalar()
            if storage != "e":
                conn.execute(sa.text(f"ALTER TABLE {table} ALTER COLUMN der SET STORAGE EXTERNAL"))

    def put(self, ca_id: str, number: int, der: bytes) -> None:
        with self.db.writer() as conn, conn.begin():
            conn.execute(self.table.delete().where(self.table.c.ca_id == ca_id))
            conn.execute(self.table.insert().values(ca_id=ca_id, crl_number=number, der=der))

    def get(self, ca_id: str) -> bytes | None:
        with self.db.engine.connect() as conn:
            return conn.execute(sa.select(self.table.c.der).where(self.table.c.ca_id == ca_id)).scalar()


class CaTools(DependencyProvider):
    """The key store and CRL files, built once per process; CA certificates and keys cached after first use."""

    def setup(self):
        settings = settings_of(self.container)
        self.prepare(settings, open_database(settings, self.container.service_name))

    def prepare(self, settings, db) -> None:
        """What `setup` builds, from the settings and the ca's database (tests build it so too)."""
        self.settings = settings
        self.keys = KeyStore(db, load_kek(settings.ca_kek, settings.var_dir, settings.embedded))
        self.keys.check_kek()       # a KEK that does not open the stored CA keys stops the start, not a signature
        self.crl_files = CrlFiles(db)
        self._certs: dict[str, x509.Certificate] = {}      # by sha256 fingerprint: a reissue brings a new one
        self.cas = PositionCache()      # the CA rows, read again only when a CA changed
        self.started = False            # maintain() has done what it does once per process
        lint.warm_up()        # pkilint's validators take ~0.3 s each to build: at start, not on the first request

    def certificate(self, ca: dict) -> x509.Certificate:
        """The CA's current certificate (`ca` a CA row, or one of its `certificates`)."""
        fingerprint = ca["sha256_fingerprint"]
        if fingerprint not in self._certs:
            self._certs[fingerprint] = x509.load_pem_x509_certificate(ca["certificate_pem"].encode())
        return self._certs[fingerprint]

    def get_dependency(self, worker_ctx):
        return self


class CaService(EventSourced):
    name = contract.SOURCE

    store = EventStoreProvider(projections=[CaView])
    context = Context()
    tools = CaTools()

    # ---- the hierarchy, and CRLs on schedule ---------------------------------------------------------------
    @periodic(setting="crl_check_interval")
    def maintain(self) -> bool:
        """At start and every `crl_check_interval` s: create the default hierarchy if there is none; publish a CRL
        for each CA — revoked ones too, so theirs never lapses — that had a revocation since its last CRL, or whose
        CRL is due for refresh: an issuing CA's after `crl_refresh_hours`, a root's ARL after a week
        (domain.crl_policy). Once per process, first: the rows of CAs made before this version's tables, and a
        warning for each CA whose certificate names other links than CERTPLANE_PUBLIC_BASE_URL."""
        self._ensure_hierarchy()
        if not self.tools.started:
            self._start_checks()
            self.tools.started = True
        now = self.store.clock()
        for ca in self._cas():
            latest = self.store.read(lambda conn: self._view.latest_crl(conn, ca["ca_id"]))
            revoked_at = self.store.read(lambda conn: self._view.last_revocation(conn, ca["ca_id"]))
            if domain.crl_due(self._crl_policy(ca), _utc(latest["this_update"]) if latest else None, revoked_at, now):
                self._publish_crl(ca, now)
        return True

    def _start_checks(self) -> None:
        with self.store.db.writer() as conn, conn.begin():
            added = self._view.add_missing_ca_rows(conn)
        if added:
            log.info("ca_rows_added", cas=added)
        for found in hierarchy.links_differing(self._cas(), self.tools.settings.pki_base_url):
            log.warning("ca_links_differ_from_public_base_url", ca_id=found["ca_id"], name=found["name"],
                        certificate_base_url=found["certificate_base_url"],
                        configured_base_url=found["configured_base_url"], remedy=found["remedy"])

    # ---- authorities --------------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def list_cas(self) -> list[dict]:
        return [self._ca_view(ca) for ca in self._cas()]

    @rpc(expected_exceptions=EXPECTED)
    def create_issuing_ca(self, payload: dict, ca_id: str | None = None) -> dict:
        """Another issuing CA, signed by a root of ours; its key goes to the key store like the others."""
        values = load_payload(contract.CreateIssuingCaV1(), payload)
        root = self._ca(str(values["parent_ca_id"]) if values["parent_ca_id"] else DEFAULT_ROOT)
        if root["kind"] != "root":
            raise InvalidRequest("an issuing CA is signed by a root CA", {"parent_ca_id": ["not a root"]})
        if any(ca["name"] == values["name"] for ca in self._cas()):
            raise Conflict(f"a CA named {values['name']!r} exists", {"name": ["exists"]}, code="duplicate_name")
        ca_id = parse_id(ca_id or uuid.uuid4(), "ca")
        settings, now = self.tools.settings, self.store.clock()
        key = x509build.generate_key(values["key_algorithm"])
        cert = x509build.build_issuing(key, self.tools.keys.get(root["key_ref"]), self.tools.certificate(root),
                                       values["name"], now, ISSUING_DAYS, x509build.CaUrls.of(settings.pki_base_url,
                                                                                             root["ca_id"]),
                                       organization=settings.ca_organization, country=settings.ca_country)
        created = hierarchy.ca_created(self.tools.keys, ca_id, values["name"], "issuing", root["ca_id"], key, cert,
                                       values["key_algorithm"])
        result = self.store.append(f"ca-{ca_id}", 0, [created.encode()], self.context.metadata())
        log.info("ca_created", ca_id=ca_id, parent=root["ca_id"], algorithm=values["key_algorithm"])
        return self.command_result(result, ca=self.get_ca(ca_id))

    @rpc(expected_exceptions=EXPECTED)
    def get_ca(self, ca_id: str) -> dict:
        return self._ca_view(self._ca(ca_id))

    @rpc(expected_exceptions=EXPECTED)
    def ca_certificate(self, ca_id: str, serial: str | None = None) -> str:
        """PEM of one of the CA's certificates: the current one, or the one with `serial` (an earlier one, after
        a reissue); NotFound for a serial the CA's key never had."""
        ca = self._ca(ca_id)
        if serial is None:
            return ca["certificate_pem"]
        wanted = _normal_serial(serial)
        found = next((c for c in ca["certificates"] if c["serial"] == wanted), None)
        if found is None:
            raise NotFound.of("ca certificate", serial)
        return found["certificate_pem"]

    @rpc(expected_exceptions=EXPECTED)
    def reissue_ca(self, ca_id: str) -> dict:
        """A new certificate for the CA's key, with the links of the current CERTPLANE_PUBLIC_BASE_URL
        (hierarchy.reissue); chains name it from now on, the earlier ones stay listed and downloadable."""
        ca = self._ca(parse_id(ca_id, "ca"))
        made = hierarchy.reissue(self.store, self.tools.keys, self.tools.settings, ca["ca_id"])
        log.info("ca_reissued", ca_id=ca["ca_id"], serial=made.ca["serial"], previous_serial=made.previous_serial,
                 sha256_fingerprint=made.ca["sha256_fingerprint"])
        return self.command_result(made.result, ca=self.get_ca(ca["ca_id"]))

    # ---- revoking an issuing CA: two MRAOs (DESIGN §6); the gateway checks the role, the aggregate the rest --
    @rpc(expected_exceptions=EXPECTED)
    def request_ca_revocation(self, ca_id: str, requested_by: str, payload: dict) -> dict:
        values = load_payload(contract.CaRevocationRequestV1(), payload)
        return self._ca_command(ca_id, domain.decide_request_ca_revocation, requested_by, values["reason"])

    @rpc(expected_exceptions=EXPECTED)
    def approve_ca_revocation(self, ca_id: str, approved_by: str, payload: dict | None = None) -> dict:
        """The second MRAO's approval: the CA is revoked, and its root's ARL published at once."""
        values = load_payload(contract.CaRevocationDecisionV1(), payload or {})
        answer = self._ca_command(ca_id, domain.decide_approve_ca_revocation, approved_by, values["message"])
        self._publish_crl(self._ca(answer["ca"]["parent_ca_id"]), self.store.clock())
        return answer

    @rpc(expected_exceptions=EXPECTED)
    def reject_ca_revocation(self, ca_id: str, rejected_by: str, payload: dict | None = None) -> dict:
        values = load_payload(contract.CaRevocationDecisionV1(), payload or {})
        return self._ca_command(ca_id, domain.decide_reject_ca_revocation, rejected_by, values["message"])

    def _ca_command(self, ca_id: str, decide, actor: str, *args) -> dict:
        ca_id = parse_id(ca_id, "ca")
        result = self.store.execute(f"ca-{ca_id}", decider(domain.fold_authority, decode, decide, ca_id, actor,
                                                           *args, self.store.clock()))
        for record in result.events:
            log.info(record.event_type.rsplit(".", 1)[0], ca_id=ca_id, actor=actor)
        return self.command_result(result, ca=self.get_ca(ca_id))

    @rpc(expected_exceptions=EXPECTED)
    def chain(self, ca_id: str | None = None) -> list[str]:
        """PEM of the CA and each parent up to the root (from one read of the CA rows)."""
        return self._chain(ca_id, self._cas())

    def _chain(self, ca_id: str | None, cas: list[dict]) -> list[str]:
        chain = [self._ca(ca_id or DEFAULT_ISSUING, cas)]
        while chain[-1]["parent_ca_id"]:
            chain.append(self._ca(chain[-1]["parent_ca_id"], cas))
        return [c["certificate_pem"] for c in chain]

    # ---- signing ------------------------------------------------------------------------------------------
    applications = processes("enrollment", policy="sign_applications", types=enrollment_contract.APPLICATION_EVENTS)

    def sign_applications(self, unit, envelopes) -> None:
        """The issuance pipeline's CA step (DESIGN §3.6), a batch of enrollment's events in one transaction: each
        application (an event with a signing_request; its event id is the application id) is judged, linted and
        signed, or refused; then every outcome is appended at once — `certificate_signing` + `certificate_issued`
        per certificate, `certificate_refused` otherwise — together with the tracking row. A crash before the
        commit (the signatures made, their record not) leaves nothing: the certificates never left this process,
        and the batch is signed afresh after the restart. Applications answered already (the `applications`
        table; its primary key also stops a racing replica) are skipped."""
        applications = [e for e in envelopes if e.payload.get(contract.SIGNING_REQUEST_FIELD)]
        if not applications:
            return
        answered = self._view.answered(unit.conn, [e.event_id for e in applications])
        now, cas = self.store.clock(), self._cas()
        appends = []
        for envelope in applications:
            if envelope.event_id in answered:
                continue
            request = envelope.payload[contract.SIGNING_REQUEST_FIELD]
            try:
                values = load_payload(contract.IssueCertificateV2(), {**request, "dry_run": False})
                signed = self._signature(values, now, application_id=envelope.event_id, cas=cas)
                appends.append(StreamAppend(_cert_stream(signed.serial), 0, tuple(signed.events)))
            except DomainError as refused:
                findings = refused.details.get("findings", []) if isinstance(refused.details, dict) else []
                event = CertificateRefused(request.get("ca_id"), str(request.get("request_id", "")),
                                           envelope.event_id, refused.code, refused.message, findings)
                appends.append(StreamAppend(f"application-{envelope.event_id}", 0, (event.encode(),)))
                log.info("certificate_refused", request_id=event.request_id, application_id=envelope.event_id,
                         code=refused.code)
        if not appends:
            return
        crash_point("ca.signed")
        unit.append_streams(appends, {"correlation_id": applications[-1].correlation_id, "actor": "system:ca",
                                      "causation_id": applications[-1].event_id})
        unit.after_commit.append(lambda: crash_point("ca.committed"))

    @rpc(expected_exceptions=EXPECTED)
    def issue_certificate(self, payload: dict) -> dict:
        """Sign one request directly (tests, and `dry_run`: the lint alone, nothing recorded). The enrollment
        paths apply through the pipeline instead (sign_applications)."""
        values = load_payload(contract.IssueCertificateV2(), payload)
        now = self.store.clock()
        if values["dry_run"]:
            return {"findings": self._signature(values, now, dry_run=True)}
        for _attempt in range(SERIAL_ATTEMPTS):
            signed = self._signature(values, now)
            try:
                self.store.append(_cert_stream(signed.serial), 0, signed.events, self.context.metadata())
            except ConcurrencyConflict:
                log.warning("serial_collision", serial=signed.serial)   # 159 random bits: practically never
                continue
            return signed.answer
        raise PolicyViolation("no free serial after several attempts", code="serial_unavailable")

    @rpc(expected_exceptions=EXPECTED)
    def issue_service_certificate(self, payload: dict) -> dict:
        """A certificate for one of Certplane's own servers (contracts.ca.IssueServiceCertificateV1: the SCEP RA,
        the EST listener), linted (RFC 5280) before the CA key signs, recorded as any issuance (request id
        `service:<purpose>`). {serial, certificate_pem, chain_pem, not_after}."""
        values = load_payload(contract.IssueServiceCertificateV1(), payload)
        cas = self._cas()
        ca = self._ca(str(values["ca_id"]) if values["ca_id"] else DEFAULT_ISSUING, cas)
        if ca["kind"] != "issuing":
            raise InvalidRequest("certificates are issued by an issuing CA", {"ca_id": ["not an issuing CA"]})
        domain.check_can_issue(ca)
        csr = self._csr(values["csr_pem"])
        public_key = csr.public_key()
        purpose = values["purpose"]
        if purpose == "scep_ra":
            if not isinstance(public_key, rsa.RSAPublicKey) or public_key.key_size < 2048:
                raise InvalidRequest("an SCEP RA key is RSA of 2048 bits or more (devices encrypt to it)",
                                     {"csr_pem": ["not an RSA key of 2048+ bits"]}, code="key_type_not_allowed")
            usage, eku = {"digital_signature", "key_encipherment"}, ()
        else:
            usage, eku = set(x509build.default_key_usage(public_key)), ("server_auth",)
        now = self.store.clock()
        issuer_cert = self.tools.certificate(ca)
        not_before = now - BACKDATE
        not_after = min(x509build.validity_end(not_before, values["days"]), issuer_cert.not_valid_after_utc)
        sans = [("dns", n) for n in values["dns_names"]] + [("ip", str(a)) for a in values["ip_addresses"]]
        spec = x509build.LeafSpec(
            public_key=public_key, serial=x509build.new_serial(), not_before=not_before, not_after=not_after,
            sans=sans, common_name=values["common_name"], organization=self.tools.settings.ca_organization,
            key_usage=usage, extended_key_usage=eku, urls=self._urls(ca["ca_id"]), certificate_policies=(),
            common_name_is_a_san=False)
        errors = lint.errors(lint.lint_certificate(x509build.tbs_for_lint(spec, issuer_cert), "rfc5280"))
        if errors:
            raise PolicyViolation("the certificate would break RFC 5280; nothing was signed",
                                  {"findings": [_finding(f) for f in errors]}, code="lint_failed")
        certificate = x509build.build_leaf(spec, issuer_cert, self.tools.keys.get(ca["key_ref"]))
        pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
        serial, chain = _hex(spec.serial), self._chain(ca["ca_id"], cas)
        request_id = f"service:{purpose}"
        tbs = x509build.tbs_for_lint(spec, issuer_cert)
        events = [CertificateSigning(ca["ca_id"], serial, request_id, _subject(spec), [s[1] for s in sans],
                                     not_before.isoformat(), not_after.isoformat(), _sha256(tbs)).encode(),
                  CertificateIssued(ca["ca_id"], serial, request_id, pem, certificate.fingerprint(_SHA256).hex(),
                                    not_before.isoformat(), not_after.isoformat(), None, chain).encode()]
        self.store.append(_cert_stream(serial), 0, events, self.context.metadata())
        log.info("service_certificate_issued", purpose=purpose, serial=serial, ca_id=ca["ca_id"])
        return {"serial": serial, "ca_id": ca["ca_id"], "certificate_pem": pem, "chain_pem": chain,
                "not_after": not_after.isoformat()}

    def _signature(self, values: dict, now: datetime, application_id: str | None = None, dry_run: bool = False,
                   cas: list[dict] | None = None):
        """Judge, lint and sign one request (IssueCertificateV2 as loaded): a `Signed` (its two events and the
        RPC answer), or with `dry_run` the lint's findings. Refuses (DomainError) before anything is signed: a CA
        that is not an issuing one or is revoked, the certificate rules (issuance.judge), any lint ERROR."""
        cas = self._cas() if cas is None else cas
        ca = self._ca(str(values["ca_id"]) if values["ca_id"] else default_issuing_for(values["cert_type"]), cas)
        if ca["kind"] != "issuing":
            raise InvalidRequest("certificates are issued by an issuing CA", {"ca_id": ["not an issuing CA"]})
        domain.check_can_issue(ca)                                     # a revoked CA signs nothing more
        csr = self._csr(values["csr_pem"])
        judged = issuance.judge(values, csr.public_key(), now)       # the CA's own rules, before any serial
        issuer_cert = self.tools.certificate(ca)
        not_before = now - BACKDATE
        not_after = min(x509build.validity_end(not_before, values["term_days"]), issuer_cert.not_valid_after_utc)
        spec = self._spec(judged, ca["ca_id"], csr, x509build.new_serial(), not_before, not_after)
        tbs = x509build.tbs_for_lint(spec, issuer_cert)
        findings = lint.lint_certificate(tbs, judged.lint_profile)
        errors = lint.errors(findings)
        if errors:
            hint = ""
            if judged.lint_profile == "serverauth" and any(
                    "authorityInfoAccess" in (f.path or "") or "cRLDistributionPoints" in (f.path or "")
                    for f in errors):
                hint = (" (the CRL and OCSP links come from CERTPLANE_PUBLIC_BASE_URL, which must be the "
                        "public DNS name clients reach Certplane at)")
            raise PolicyViolation("the certificate would break the rules it is linted against; nothing was "
                                  "signed" + hint, {"findings": [_finding(f) for f in errors]},
                                  code="lint_failed")
        if dry_run:
            return [_finding(f) for f in findings]
        serial = _hex(spec.serial)
        certificate = x509build.build_leaf(spec, issuer_cert, self.tools.keys.get(ca["key_ref"]))
        pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
        fingerprint = certificate.fingerprint(_SHA256).hex()
        chain = self._chain(ca["ca_id"], cas)
        signing = CertificateSigning(ca["ca_id"], serial, values["request_id"], _subject(spec),
                                     list(judged.names.sans) + list(judged.emails), not_before.isoformat(), not_after.isoformat(),
                                     _sha256(tbs))
        issued = CertificateIssued(ca["ca_id"], serial, values["request_id"], pem, fingerprint,
                                   not_before.isoformat(), not_after.isoformat(), application_id, chain)
        log.info("certificate_issued", serial=serial, ca_id=ca["ca_id"], request_id=values["request_id"],
                 sha256_fingerprint=fingerprint)
        return _Signed(serial, [signing.encode(), issued.encode()],
                       {"serial": serial, "ca_id": ca["ca_id"], "certificate_pem": pem, "chain_pem": chain,
                        "not_before": not_before.isoformat(), "not_after": not_after.isoformat(),
                        "sha256_fingerprint": fingerprint})

    # ---- revocation, CRL, OCSP ----------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def revoke_certificate(self, serial: str, payload: dict | None = None) -> dict:
        values = load_payload(contract.RevokeCertificateV1(), payload or {})
        serial = _normal_serial(serial)
        now = self.store.clock()
        result = self.store.execute(_cert_stream(serial), decider(domain.fold, decode, domain.decide_revoke, serial,
                                                                  values["reason"], now))
        log.info("certificate_revoked", serial=serial, reason=values["reason"])
        return self.command_result(result, serial=serial, reason=values["reason"], revoked_at=now.isoformat())

    @rpc(expected_exceptions=EXPECTED)
    def get_crl(self, ca_id: str) -> str:
        """The CA's latest CRL, DER in base64 (NotFound before the first one is published)."""
        ca = self._ca(ca_id)
        der = self.tools.crl_files.get(ca["ca_id"])
        if der is None:
            raise NotFound.of("crl", ca_id)
        return base64.b64encode(der).decode()

    @rpc(expected_exceptions=EXPECTED)
    def ocsp(self, request_b64: str) -> str:
        """An OCSP response (DER, base64) for a request (DER, base64), signed by the CA the request names: an
        issuing CA for its leaves, a root for the issuing CAs' certificates it signed (each certificate of a CA's
        key is a row under its root, revoked with the CA); `unknown` for a serial that CA never issued;
        `unauthorized` for a CA that is not ours."""
        try:
            query = x509build.parse_ocsp_request(base64.b64decode(request_b64, validate=True))
        except (ValueError, x509build.OcspMalformed):
            return base64.b64encode(x509build.ocsp_error("malformed")).decode()
        issuer = next((ca for ca in self._cas() if x509build.issuer_matches(query, self.tools.certificate(ca))),
                      None)
        if issuer is None:
            return base64.b64encode(x509build.ocsp_error("unauthorized")).decode()
        found = self.store.read(lambda conn: self._view.certificate(conn, _hex(query.serial)))
        if found is None or found["ca_id"] != issuer["ca_id"]:
            status, revoked_at, reason = "unknown", None, None
        elif found["status"] == "revoked":
            status, revoked_at, reason = "revoked", _utc(found["revoked_at"]), found["reason"]
        else:
            status, revoked_at, reason = "good", None, None
        now = self.store.clock()
        cert = self.tools.certificate(issuer)
        der = x509build.build_ocsp_response(query, cert, cert, self.tools.keys.get(issuer["key_ref"]), status,
                                            revoked_at, reason, now, now + OCSP_VALIDITY)
        return base64.b64encode(der).decode()

    # ---- helpers ------------------------------------------------------------------------------------------
    @property
    def _view(self) -> CaView:
        return self.store.projection(CaView)

    def _cas(self) -> list[dict]:
        """Every CA (a few rows, CaView.all_cas), from memory while no CA changed (PositionCache): every event on
        a ca-<id> stream raises the sum of the streams' versions, which is the position of these rows."""
        view = self._view
        return self.tools.cas.lookup("all", self.store.db.quick_scalar(view.version_query),
                                     lambda: self.store.read(view.all_cas) or None) or []

    def _ca(self, ca_id: str, cas: list[dict] | None = None) -> dict:
        found = next((ca for ca in (self._cas() if cas is None else cas) if ca["ca_id"] == str(ca_id)), None)
        if found is None:
            raise NotFound.of("ca", ca_id)
        return found

    def _ca_view(self, ca: dict) -> dict:
        return {"ca_id": ca["ca_id"], "name": ca["name"], "kind": ca["kind"], "parent_ca_id": ca["parent_ca_id"],
                "key_algorithm": ca["key_algorithm"], "subject": ca["subject"], "serial": ca["serial"],
                "not_before": _utc(ca["not_before"]).isoformat(), "not_after": _utc(ca["not_after"]).isoformat(),
                "sha256_fingerprint": ca["sha256_fingerprint"], "certificate_pem": ca["certificate_pem"],
                "default": ca["ca_id"] == DEFAULT_ISSUING,
                "status": "revoked" if ca["revocation_status"] == domain.CaRevocationStatus.REVOKED else "active",
                "revocation": _revocation_view(ca),
                "certificates": [{"serial": c["serial"], "not_before": _utc(c["not_before"]).isoformat(),
                                  "not_after": _utc(c["not_after"]).isoformat(),
                                  "sha256_fingerprint": c["sha256_fingerprint"], "current": c["serial"] == ca["serial"]}
                                 for c in ca["certificates"]]}

    @staticmethod
    def _csr(pem: str) -> x509.CertificateSigningRequest:
        try:
            csr = x509.load_pem_x509_csr(pem.encode())
        except ValueError:
            raise InvalidRequest("the CSR is not a PEM certificate request", {"csr_pem": ["malformed"]},
                                 code="csr_malformed") from None
        if not csr.is_signature_valid:
            raise InvalidRequest("the CSR's signature does not verify", {"csr_pem": ["bad signature"]},
                                 code="csr_signature_invalid")
        return csr

    def _spec(self, judged: issuance.Judged, ca_id: str, csr, serial: int, not_before,
              not_after) -> x509build.LeafSpec:
        subject = judged.subject
        return x509build.LeafSpec(
            common_name=judged.names.common_name, organization=subject.get("organization"),
            organizational_unit=subject.get("organizational_unit"), country=subject.get("country"),
            state=subject.get("state"), locality=subject.get("locality"), sans=judged.sans(),
            not_before=not_before, not_after=not_after, key_usage=set(judged.key_usage),
            extended_key_usage=list(judged.extended_key_usage), serial=serial, public_key=csr.public_key(),
            urls=self._urls(ca_id), certificate_policies=judged.certificate_policies(),
            common_name_is_a_san=judged.common_name_is_a_san())

    def _urls(self, ca_id: str) -> x509build.CaUrls:
        return x509build.CaUrls.of(self.tools.settings.pki_base_url, str(ca_id))

    def _ensure_hierarchy(self) -> None:
        if self._cas():
            return
        made = hierarchy.ensure_default_hierarchy(self.store, self.tools.keys, self.tools.settings)
        if made.created:
            log.info("ca_hierarchy_created", root=DEFAULT_ROOT, issuing=DEFAULT_ISSUING,
                     algorithm=made.root["key_algorithm"])
        else:
            log.info("ca_hierarchy_created_elsewhere")       # a replica starting at the same moment won

    def _publish_crl(self, ca: dict, now: datetime) -> None:
        """Sign and store a CRL of every revocation the CA made, then record `crl_published`. Each entry was
        encoded when its revocation was applied (table crl_entries, CaView): here they are read in batches, one
        of each shape is linted in a CRL signed with a throwaway key, and all of them go into the CRL unchanged
        (x509build.crl_tbs), which the CA key signs. About 3 s for a million entries, storing included
        (bench/README.md)."""
        ca_id, policy = ca["ca_id"], self._crl_policy(ca)
        history = self.store.load(f"crl-{ca_id}")
        published = [decode(r.event_type, r.payload) for r in history]
        next_update = now + policy.validity
        number = domain.next_crl_number(published)
        cert = self.tools.certificate(ca)
        entries = self._crl_entries(ca_id)
        sample = x509build.crl_for_lint(cert, entries.lint_sample(), number, now, next_update)
        errors = lint.errors(lint.lint_crl(sample, policy.lint_profile))
        if errors:
            log.error("crl_lint_failed", ca_id=ca_id, findings=[_finding(f) for f in errors])
            return
        # joining and signing ~50 MB for a million entries: on a real thread, so the hub serves meanwhile
        der = tpool.execute(_signed_crl, cert, self.tools.keys.get(ca["key_ref"]), entries, number, now, next_update)
        self.tools.crl_files.put(ca_id, number, der)
        published_now = domain.crl_published(ca_id, number, now, next_update, entries.count, _sha256(der))
        try:
            self.store.append(f"crl-{ca_id}", len(history), [published_now.encode()],
                              {"correlation_id": str(uuid.uuid4()), "actor": "system:crl", "causation_id": None})
        except ConcurrencyConflict:
            return                                          # a replica published the same moment
        log.info("crl_published", ca_id=ca_id, crl_number=number, entries=entries.count)

    def _crl_policy(self, ca: dict) -> domain.CrlPolicy:
        settings = self.tools.settings
        return domain.crl_policy(ca["kind"], settings.crl_validity_days, settings.crl_refresh_hours)

    def _crl_entries(self, ca_id: str) -> x509build.CrlEntries:
        """Every CRL entry of the CA, read in batches. Revocations recorded before the crl_entries table existed
        (or by a replica of an older version) have none: when fewer entries are read than certificates are
        revoked, the missing ones are encoded and stored, and the entries read again. `certplane projections
        rebuild ca` makes them all as well."""
        view, db = self._view, self.store.db
        entries = self._read_crl_entries(ca_id)
        if self.store.read(lambda conn: view.revoked_count(conn, ca_id)) == entries.count:
            return entries
        missing = self.store.read(lambda conn: view.revoked_without_crl_entry(conn, ca_id))
        if missing:
            with db.writer() as conn, conn.begin():
                view.add_crl_entries(conn, ca_id, missing)
            log.info("crl_entries_added", ca_id=ca_id, entries=len(missing))
        return self._read_crl_entries(ca_id)

    def _read_crl_entries(self, ca_id: str) -> x509build.CrlEntries:
        entries = x509build.CrlEntries()
        for batch in self._view.crl_entry_batches(self.store.db.engine, ca_id):
            entries.add(batch)
            greenthread.sleep(0)        # SQLite reads a batch without yielding (~50 ms): others run in between
        return entries


@dataclass(frozen=True)
class _Signed:
    serial: str
    events: list
    answer: dict


def _signed_crl(cert: x509.Certificate, key, entries: x509build.CrlEntries, number: int, this_update: datetime,
                next_update: datetime) -> bytes:
    return x509build.sign_crl(x509build.crl_tbs(cert, entries.chunks, number, this_update, next_update), key)


def _revocation_view(ca: dict) -> dict | None:
    if ca["revocation_status"] is None:
        return None
    return {"status": ca["revocation_status"], "reason": ca["revocation_reason"],
            "requested_by": ca["revocation_requested_by"],
            "requested_at": _utc(ca["revocation_requested_at"]).isoformat(),
            "approved_by": ca["revocation_approved_by"],
            "revoked_at": _utc(ca["revoked_at"]).isoformat() if ca["revoked_at"] else None}


def _normal_serial(serial: str) -> str:
    try:
        return _hex(int(str(serial).replace(":", ""), 16))
    except ValueError:
        raise NotFound.of("certificate", serial) from None


def _subject(spec) -> str:
    return f"CN={spec.common_name}" if spec.common_name else ""


def _finding(f) -> dict:
    return {"severity": str(f.severity), "code": f.code, "message": f.message, "path": f.path}
