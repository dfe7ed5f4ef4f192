"""The default CA hierarchy — a root and an issuing CA — made by the ca service's first start or by
`certplane ca init`, through the same function (`ensure_default_hierarchy`); and a CA's new certificate for the
same key (`reissue`), made by `POST /api/v1/cas/{id}/reissue` or `certplane ca reissue`, with the links
(`links_differing`) the start log checks against CERTPLANE_PUBLIC_BASE_URL.

Both CAs have fixed ids (uuid5 of a fixed name), so their first events go to fixed streams at version 0: replicas
starting together, or `ca init` racing a starting service, record one hierarchy; the loser's append conflicts and
it keeps the winner's. Private keys go to the key store (adapters/keystore.py) before the events are appended;
events carry only the key_ref and the public key's fingerprint.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from contracts.ca import KEY_ALGORITHMS
from contracts.errors import ConcurrencyConflict, NotFound, PolicyViolation
from services.ca import domain, lint, x509build
from services.ca.events import CaCertificateReissued, CaCreated, decode
from services.ca.projections import CaView
from services.runtime.entrypoint_helpers import decider
from services.runtime.store import AppendResult, StreamAppend

ROOT_DAYS, ISSUING_DAYS = 20 * 365, 10 * 365
DEFAULT_ROOT = str(uuid.uuid5(uuid.NAMESPACE_URL, "certplane:ca:default-root"))
DEFAULT_ISSUING = str(uuid.uuid5(uuid.NAMESPACE_URL, "certplane:ca:default-issuing"))
ROOT_NAME, ISSUING_NAME = "Certplane Root CA", "Certplane Issuing CA"
# An issuing CA's EKU bounds what its leaves may be used for (OpenSSL, browsers and mail clients check it): the
# TLS issuing CA has serverAuth/clientAuth (BR 7.1.2.2), so S/MIME and code-signing certificates have an issuing
# CA of their own each, used when their profile names no CA. Device certificates are TLS/client-auth ones.
TYPE_ISSUING = {
    "client": (str(uuid.uuid5(uuid.NAMESPACE_URL, "certplane:ca:default-issuing:client")), "Certplane S/MIME CA",
               ("email_protection", "client_auth")),
    "code_signing": (str(uuid.uuid5(uuid.NAMESPACE_URL, "certplane:ca:default-issuing:code_signing")),
                     "Certplane Code Signing CA", ("code_signing",)),
}


def default_issuing_for(cert_type: str) -> str:
    """The issuing CA a certificate of `cert_type` gets when its profile names none."""
    return TYPE_ISSUING[cert_type][0] if cert_type in TYPE_ISSUING else DEFAULT_ISSUING


@dataclass(frozen=True)
class Hierarchy:
    created: bool           # False: it existed (or a replica recorded it a moment earlier)
    root: dict              # the CaView rows of the two CAs
    issuing: dict


def ca_created(keys, ca_id: str, name: str, kind: str, parent_ca_id: str | None, key, cert,
               algorithm: str) -> CaCreated:
    """The `ca_created` event of a new CA; its private key is stored (wrapped) in `keys` first."""
    return CaCreated(ca_id, name, kind, parent_ca_id, keys.put(key), algorithm, keys.public_fingerprint(key),
                     cert.public_bytes(serialization.Encoding.PEM).decode(), format(cert.serial_number, "x"),
                     cert.subject.rfc4514_string(), cert.not_valid_before_utc.isoformat(),
                     cert.not_valid_after_utc.isoformat(), cert.fingerprint(hashes.SHA256()).hex())


def default_cas(store) -> tuple[dict, dict] | None:
    """The (root, issuing) rows of the default hierarchy, or None when it has not been made."""
    rows = {row["ca_id"]: row for row in store.read(store.projection(CaView).all_cas)}
    if DEFAULT_ROOT not in rows or DEFAULT_ISSUING not in rows:
        return None
    return rows[DEFAULT_ROOT], rows[DEFAULT_ISSUING]


def ensure_default_hierarchy(store, keys, settings, algorithm: str | None = None,
                             actor: str = "system:ca-init") -> Hierarchy:
    """Make the root and issuing CA unless they exist. `algorithm` (default: the ca_key_algorithm setting) is one
    of contracts.ca.KEY_ALGORITHMS (ValueError otherwise); the issuing CA's CRL/OCSP/caIssuers links name
    `settings.pki_base_url` (CERTPLANE_PKI_URL, else CERTPLANE_PUBLIC_BASE_URL)."""
    existing = default_cas(store)
    if existing is not None:
        ensure_type_cas(store, keys, settings, existing[0])
        return Hierarchy(False, *existing)
    algorithm = algorithm or settings.ca_key_algorithm
    if algorithm not in KEY_ALGORITHMS:
        raise ValueError(f"CA key algorithm {algorithm!r}: use one of {', '.join(KEY_ALGORITHMS)}")
    now = store.clock()
    root_key, issuing_key = x509build.generate_key(algorithm), x509build.generate_key(algorithm)
    subject = {"organization": settings.ca_organization, "country": settings.ca_country}
    root = x509build.build_root(root_key, ROOT_NAME, now, ROOT_DAYS, **subject)
    issuing = x509build.build_issuing(issuing_key, root_key, root, ISSUING_NAME, now, ISSUING_DAYS,
                                      x509build.CaUrls.of(settings.pki_base_url, DEFAULT_ROOT), **subject)
    events = [(DEFAULT_ROOT, ca_created(keys, DEFAULT_ROOT, ROOT_NAME, "root", None, root_key, root, algorithm)),
              (DEFAULT_ISSUING, ca_created(keys, DEFAULT_ISSUING, ISSUING_NAME, "issuing", DEFAULT_ROOT,
                                           issuing_key, issuing, algorithm))]
    created = True
    try:
        store.append_streams([StreamAppend(f"ca-{ca_id}", 0, (event.encode(),)) for ca_id, event in events],
                             {"correlation_id": str(uuid.uuid4()), "actor": actor, "causation_id": None})
    except ConcurrencyConflict:
        created = False              # a replica (or `ca init`) recorded it a moment earlier: keep theirs
    root_row, issuing_row = default_cas(store)
    ensure_type_cas(store, keys, settings, root_row)
    return Hierarchy(created, root_row, issuing_row)


def ensure_type_cas(store, keys, settings, root: dict) -> list[str]:
    """Make the S/MIME and code-signing issuing CAs (TYPE_ISSUING) under the default root unless they exist —
    also on an installation made before they were: its first start after the upgrade makes them. Their key
    algorithm is the root's. The ids made."""
    rows = {row["ca_id"] for row in store.read(store.projection(CaView).all_cas)}
    missing = [(cert_type, spec) for cert_type, spec in TYPE_ISSUING.items() if spec[0] not in rows]
    if not missing:
        return []
    root_key = keys.get(root["key_ref"])
    root_cert = x509.load_pem_x509_certificate(root["certificate_pem"].encode())
    now, made = store.clock(), []
    subject = {"organization": settings.ca_organization, "country": settings.ca_country}
    for _cert_type, (ca_id, name, eku) in missing:
        key = x509build.generate_key(root["key_algorithm"])
        cert = x509build.build_issuing(key, root_key, root_cert, name, now, ISSUING_DAYS,
                                       x509build.CaUrls.of(settings.pki_base_url, root["ca_id"]),
                                       extended_key_usage=eku, **subject)
        event = ca_created(keys, ca_id, name, "issuing", root["ca_id"], key, cert, root["key_algorithm"])
        try:
            store.append_streams([StreamAppend(f"ca-{ca_id}", 0, (event.encode(),))],
                                 {"correlation_id": str(uuid.uuid4()), "actor": "system:ca-init",
                                  "causation_id": None})
            made.append(ca_id)
        except ConcurrencyConflict:
            pass                     # a replica made it a moment earlier
    return made


# ---- a new certificate for a CA's key -------------------------------------------------------------------------
@dataclass(frozen=True)
class Reissued:
    result: AppendResult        # the store's answer (the `ca_certificate_reissued` event)
    ca: dict                    # the CA's row afterwards (CaView.all_cas)
    previous_serial: str


def find_ca(store, ca: str) -> dict:
    """The CA row named by its id or its name (NotFound otherwise)."""
    rows = store.read(store.projection(CaView).all_cas)
    found = next((r for r in rows if r["ca_id"] == str(ca)), None) or \
        next((r for r in rows if r["name"] == str(ca)), None)
    if found is None:
        raise NotFound.of("ca", ca)
    return found


def reissue(store, keys, settings, ca_id: str) -> Reissued:
    """A new certificate for the CA's key, which becomes its current one: the same subject and key, a new serial
    and validity (a root: ROOT_DAYS; an issuing CA: ISSUING_DAYS, at most to its root's notAfter), and for an
    issuing CA the links of `settings.pki_base_url` (CERTPLANE_PKI_URL). A root is self-signed again, an
    issuing CA signed by its root. The new certificate is linted (RFC 5280, a copy signed with a throwaway key)
    before the CA key signs it. A revoked CA is refused (409 `ca_revoked`) before anything is signed. `store`
    is a worker's StoreHandle (its `execute` records who asked)."""
    rows = store.read(store.projection(CaView).all_cas)
    ca = next((r for r in rows if r["ca_id"] == str(ca_id)), None)
    if ca is None:
        raise NotFound.of("ca", ca_id)
    stream = f"ca-{ca['ca_id']}"
    domain.check_can_reissue(domain.fold_authority(decode(r.event_type, r.payload) for r in store.load(stream)),
                             ca["ca_id"])
    now = store.clock()
    current = x509.load_pem_x509_certificate(ca["certificate_pem"].encode())
    subject = {"organization": _attribute(current, NameOID.ORGANIZATION_NAME) or settings.ca_organization,
               "country": _attribute(current, NameOID.COUNTRY_NAME)}
    key = keys.get(ca["key_ref"])
    if ca["parent_ca_id"] is None:
        def build(signing_key):
            return x509build.build_root(key if signing_key is None else signing_key, ca["name"], now, ROOT_DAYS,
                                        **subject)
    else:
        parent = next(r for r in rows if r["ca_id"] == ca["parent_ca_id"])
        parent_cert = x509.load_pem_x509_certificate(parent["certificate_pem"].encode())
        parent_key = keys.get(parent["key_ref"])
        days = min(ISSUING_DAYS, (parent_cert.not_valid_after_utc - now).days)
        urls = x509build.CaUrls.of(settings.pki_base_url, parent["ca_id"])

        def build(signing_key):
            return x509build.build_issuing(key, parent_key if signing_key is None else signing_key, parent_cert,
                                           ca["name"], now, days, urls, **subject)
    rehearsal = build(x509build.throwaway_key_for(key.public_key()))
    errors = lint.errors(lint.lint_certificate(rehearsal.public_bytes(serialization.Encoding.DER), "rfc5280"))
    if errors:
        raise PolicyViolation("the new CA certificate would break RFC 5280; nothing was signed",
                              {"findings": [str(f) for f in errors]}, code="lint_failed")
    cert = build(None)
    if cert.subject != current.subject:        # leaves name the CA by its subject: it must not change
        raise PolicyViolation("the new certificate's subject would differ from the CA's; nothing was recorded",
                              {"subject": cert.subject.rfc4514_string()}, code="subject_changed")
    event = CaCertificateReissued(ca["ca_id"], ca["parent_ca_id"],
                                  cert.public_bytes(serialization.Encoding.PEM).decode(),
                                  format(cert.serial_number, "x"), cert.subject.rfc4514_string(),
                                  cert.not_valid_before_utc.isoformat(), cert.not_valid_after_utc.isoformat(),
                                  cert.fingerprint(hashes.SHA256()).hex(), ca["serial"])
    result = store.execute(stream, decider(domain.fold_authority, decode, domain.decide_reissue_ca, ca["ca_id"],
                                           event))
    return Reissued(result, find_ca(store, ca["ca_id"]), ca["serial"])


def _attribute(cert: x509.Certificate, oid) -> str | None:
    found = cert.subject.get_attributes_for_oid(oid)
    return found[0].value if found else None


# ---- links against the configured base URL --------------------------------------------------------------------
def certificate_links(cert: x509.Certificate) -> x509build.CaUrls:
    """The CRL, OCSP and caIssuers URLs a certificate names (None for each it does not)."""
    crl = ocsp = ca_issuers = None
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        crl = next((n.value for p in points for n in (p.full_name or ())
                    if isinstance(n, x509.UniformResourceIdentifier)), None)
    except x509.ExtensionNotFound:
        pass
    try:
        for access in cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value:
            if access.access_method == AuthorityInformationAccessOID.OCSP:
                ocsp = ocsp or access.access_location.value
            elif access.access_method == AuthorityInformationAccessOID.CA_ISSUERS:
                ca_issuers = ca_issuers or access.access_location.value
    except x509.ExtensionNotFound:
        pass
    return x509build.CaUrls(crl, ocsp, ca_issuers)


def links_differing(cas: list[dict], base_url: str) -> list[dict]:
    """The CAs whose current certificate names CRL/OCSP/caIssuers links of another base URL than `base_url`
    (CERTPLANE_PUBLIC_BASE_URL): {ca_id, name, certificate_base_url, configured_base_url, remedy}. A root (no
    links) and a revoked CA (it gets no new certificate) are never listed."""
    differing = []
    configured = base_url.rstrip("/")
    for ca in cas:
        if ca["parent_ca_id"] is None or ca.get("revocation_status") == domain.CaRevocationStatus.REVOKED:
            continue
        named = certificate_links(x509.load_pem_x509_certificate(ca["certificate_pem"].encode()))
        if named == x509build.CaUrls():
            continue
        if named != x509build.CaUrls.of(configured, ca["parent_ca_id"]):
            suffix = "/ocsp"
            url = named.ocsp_url or named.crl_url or named.ca_issuers_url
            in_certificate = url[:-len(suffix)] if named.ocsp_url and url.endswith(suffix) else url
            differing.append({"ca_id": ca["ca_id"], "name": ca["name"], "certificate_base_url": in_certificate,
                              "configured_base_url": configured, "remedy": f"certplane ca reissue {ca['ca_id']}"})
    return differing
