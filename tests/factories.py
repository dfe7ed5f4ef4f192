"""Request bodies and events built at test time."""
from __future__ import annotations

import itertools

_counter = itertools.count(1)


def organization(**overrides) -> dict:
    n = next(_counter)
    body = {"name": f"Example Corp {n}", "address1": f"{n} Main Street", "city": "Springfield",
            "state": "Illinois", "postal_code": "62701", "country": "US"}
    body.update(overrides)
    return body


def department(**overrides) -> dict:
    body = {"name": f"Department {next(_counter)}"}
    body.update(overrides)
    return body


class WorkerInfo:
    """Stands in for runtime.nameko_glue.WorkerInfo outside a running container: fixed request metadata."""

    def metadata(self) -> dict:
        return {"correlation_id": "test-correlation", "actor": "admin:test", "causation_id": None}


# ---- keys and CSRs (generated at test time; a key per type is made once per test process) -------------------
_KEY_TYPES = {"ec-p192": "SECP192R1", "ec-p256": "SECP256R1", "ec-p384": "SECP384R1", "ec-p521": "SECP521R1",
              "ec-secp256k1": "SECP256K1", "rsa-1024": 1024, "rsa-2048": 2048, "rsa-3072": 3072, "rsa-4096": 4096}
_keys: dict = {}


def private_key(key_type: str = "ec-p256"):
    """A private key of `key_type` (see _KEY_TYPES), the same object for the same type within a test run.
    cryptography 50 still generates P-192 and 1024-bit RSA keys: CSRs with weak keys are built normally."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if key_type not in _keys:
        spec = _KEY_TYPES[key_type]
        if isinstance(spec, int):
            _keys[key_type] = rsa.generate_private_key(public_exponent=65537, key_size=spec)
        else:
            _keys[key_type] = ec.generate_private_key(getattr(ec, spec)())
    return _keys[key_type]


def csr(key_type: str = "ec-p256", cn: str | None = "www.example.com", sans=("www.example.com",), ips=(),
        **extra) -> bytes:
    """A PEM CSR signed by `private_key(key_type)`, asking for the DNS names `sans` and IP addresses `ips` (no
    subjectAltName when both are empty). `extra`: organization, organizational_unit, country, state, locality
    (subject attributes), `key` (another private key), `hash` (a cryptography hash instance)."""
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    fields = [("country", NameOID.COUNTRY_NAME), ("state", NameOID.STATE_OR_PROVINCE_NAME),
              ("locality", NameOID.LOCALITY_NAME), ("organization", NameOID.ORGANIZATION_NAME),
              ("organizational_unit", NameOID.ORGANIZATIONAL_UNIT_NAME)]
    attributes = [x509.NameAttribute(oid, extra.pop(name)) for name, oid in fields if name in extra]
    if cn:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    key = extra.pop("key", None) or private_key(key_type)
    algorithm = extra.pop("hash", hashes.SHA256())
    if extra:
        raise TypeError(f"unknown csr() arguments: {sorted(extra)}")
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    if sans or ips:
        names = [x509.DNSName(n) for n in sans] + [x509.IPAddress(ipaddress.ip_address(a)) for a in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM)


def ca_chain(key_type: str = "ec-p256", base_url: str = "http://pki.example.com", country: str = "US"):
    """A root and an issuing CA of `key_type` (a services.ca KeyAlgorithm) built now, as the CA service would:
    fields root_key, root, issuing_key, issuing, leaf_urls (the issuing CA's CRL/OCSP/caIssuers URLs), now."""
    import datetime as dt
    from types import SimpleNamespace

    from services.ca import x509build

    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(minutes=5)
    root_key, issuing_key = x509build.generate_key(key_type), x509build.generate_key(key_type)
    root = x509build.build_root(root_key, "Certplane Test Root", now, 3650, country=country)
    issuing = x509build.build_issuing(issuing_key, root_key, root, "Certplane Test Issuing CA", now, 1825,
                                      x509build.CaUrls.of(base_url, "root-1"), country=country)
    return SimpleNamespace(root_key=root_key, root=root, issuing_key=issuing_key, issuing=issuing,
                           leaf_urls=x509build.CaUrls.of(base_url, "issuing-1"), now=now)


def leaf_spec(public_key, now, dns_names=("www.example.com",), days: int = 90, **overrides):
    """A serverAuth LeafSpec for `dns_names` (the first is the CN), valid `days` from `now`."""
    from services.ca import x509build

    fields = dict(public_key=public_key, serial=x509build.new_serial(), not_before=now,
                  not_after=x509build.validity_end(now, days), sans=tuple(x509build.San(n) for n in dns_names),
                  common_name=dns_names[0] if dns_names else None,
                  urls=x509build.CaUrls.of("http://pki.example.com", "issuing-1"))
    fields.update(overrides)
    return x509build.LeafSpec(**fields)


def pem_key(key) -> bytes:
    """A private key as unencrypted PKCS#8 PEM (for openssl's -inkey)."""
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
