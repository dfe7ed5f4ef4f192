"""The default CA hierarchy — a root and an issuing CA — made by the ca service's first start or by
`certplane ca init`, through the same function (`ensure_default_hierarchy`).

Both CAs have fixed ids (uuid5 of a fixed name), so their first events go to fixed streams at version 0: replicas
starting together, or `ca init` racing a starting service, record one hierarchy; the loser's append conflicts and
it keeps the winner's. Private keys go to the key store (adapters/keystore.py) before the events are appended;
events carry only the key_ref and the public key's fingerprint.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization

from contracts.ca import KEY_ALGORITHMS
from contracts.errors import ConcurrencyConflict
from services.ca import x509build
from services.ca.events import CaCreated
from services.ca.projections import CaView
from services.runtime.store import StreamAppend

ROOT_DAYS, ISSUING_DAYS = 20 * 365, 10 * 365
DEFAULT_ROOT = str(uuid.uuid5(uuid.NAMESPACE_URL, "certplane:ca:default-root"))
DEFAULT_ISSUING = str(uuid.uuid5(uuid.NAMESPACE_URL, "certplane:ca:default-issuing"))
ROOT_NAME, ISSUING_NAME = "Certplane Root CA", "Certplane Issuing CA"


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
    `settings.base_url` (CERTPLANE_PUBLIC_BASE_URL)."""
    existing = default_cas(store)
    if existing is not None:
        return Hierarchy(False, *existing)
    algorithm = algorithm or settings.ca_key_algorithm
    if algorithm not in KEY_ALGORITHMS:
        raise ValueError(f"CA key algorithm {algorithm!r}: use one of {', '.join(KEY_ALGORITHMS)}")
    now = store.clock()
    root_key, issuing_key = x509build.generate_key(algorithm), x509build.generate_key(algorithm)
    subject = {"organization": settings.ca_organization, "country": settings.ca_country}
    root = x509build.build_root(root_key, ROOT_NAME, now, ROOT_DAYS, **subject)
    issuing = x509build.build_issuing(issuing_key, root_key, root, ISSUING_NAME, now, ISSUING_DAYS,
                                      x509build.CaUrls.of(settings.base_url, DEFAULT_ROOT), **subject)
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
    return Hierarchy(created, root_row, issuing_row)
