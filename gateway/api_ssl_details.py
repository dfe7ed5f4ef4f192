"""A certificate decoded for reading: GET /api/v1/ssl/{ssl_id}/details, what the console's certificate page shows
(subject, names, validity, key, extensions, fingerprints, the issuer and the chain). Decoded here with
`cryptography` from the PEM the enrollment service keeps (its read-only `ssl_certificate` RPC: viewing is not a
download, nothing is recorded), so no client needs an ASN.1 parser. Visible exactly as GET /api/v1/ssl/{ssl_id}
(`_visible_ssl` of api_ssl.py: MRAO, or an RAO/DRAO role of type ssl over its organization or department)."""
from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtensionOID
from marshmallow import Schema, fields
from werkzeug.wrappers import Request

from contracts.errors import NotFound
from gateway import schemas
from gateway.base import json_response
from gateway.http import api
from gateway.openapi import Operation

KEY_USAGE_NAMES = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                   "key_agreement", "key_cert_sign", "crl_sign")


# ---- the answer ----------------------------------------------------------------------------------------------
class SslNameAttribute(Schema):
    oid = fields.String(required=True)
    name = fields.String(required=True, metadata={"description": "short name (CN, O, OU, C, …) or the OID"})
    value = fields.String(required=True)


class SslPublicKey(Schema):
    type = fields.String(required=True, metadata={"description": "RSA, EC, Ed25519, Ed448, DSA or unknown"})
    size = fields.Integer(required=True, allow_none=True, metadata={"description": "bits"})
    curve = fields.String(required=True, allow_none=True, metadata={"description": "EC: secp256r1, secp384r1, …"})


class SslGeneralName(Schema):
    type = fields.String(required=True, metadata={"description": "dns, ip, email, uri, directory or other"})
    value = fields.String(required=True)


class SslAccessDescription(Schema):
    method = fields.String(required=True, metadata={"description": "ocsp, ca_issuers or the OID"})
    location = fields.String(required=True)


class SslBasicConstraints(Schema):
    ca = fields.Boolean(required=True)
    path_length = fields.Integer(required=True, allow_none=True)


class SslExtensionSummary(Schema):
    oid = fields.String(required=True)
    name = fields.String(required=True)
    critical = fields.Boolean(required=True)


class SslDecodedCertificate(Schema):
    subject = fields.String(required=True, metadata={"description": "RFC 4514"})
    subject_attributes = fields.List(fields.Nested(SslNameAttribute), required=True)
    issuer = fields.String(required=True, metadata={"description": "RFC 4514"})
    issuer_attributes = fields.List(fields.Nested(SslNameAttribute), required=True)
    serial = fields.String(required=True, metadata={"description": "lower-case hex"})
    version = fields.String(required=True)
    not_before = fields.String(required=True)
    not_after = fields.String(required=True)
    signature_algorithm = fields.String(required=True, allow_none=True)
    public_key = fields.Nested(SslPublicKey, required=True)
    subject_alternative_names = fields.List(fields.Nested(SslGeneralName), required=True)
    key_usage = fields.List(fields.String(), required=True, allow_none=True)
    extended_key_usage = fields.List(fields.String(), required=True, allow_none=True, metadata={
        "description": "names (server_auth, client_auth, …) or OIDs"})
    basic_constraints = fields.Nested(SslBasicConstraints, required=True, allow_none=True)
    authority_information_access = fields.List(fields.Nested(SslAccessDescription), required=True)
    crl_distribution_points = fields.List(fields.String(), required=True)
    subject_key_identifier = fields.String(required=True, allow_none=True, metadata={"description": "hex"})
    authority_key_identifier = fields.String(required=True, allow_none=True, metadata={"description": "hex"})
    certificate_policies = fields.List(fields.String(), required=True, metadata={"description": "OIDs"})
    extensions = fields.List(fields.Nested(SslExtensionSummary), required=True, metadata={
        "description": "every extension of the certificate, in its order"})
    self_signed = fields.Boolean(required=True, metadata={"description": "issuer equals subject"})
    sha256_fingerprint = fields.String(required=True, metadata={"description": "lower-case hex of the DER"})
    sha1_fingerprint = fields.String(required=True, metadata={"description": "lower-case hex of the DER"})
    pem = fields.String(required=True)


class SslDetails(Schema):
    ssl_id = fields.UUID(required=True)
    status = fields.String(required=True)
    certificate = fields.Nested(SslDecodedCertificate, required=True)
    chain = fields.List(fields.Nested(SslDecodedCertificate), required=True, metadata={
        "description": "the issuing CA first, up to the root"})


# ---- decoding -------------------------------------------------------------------------------------------------
EKU_NAMES = {"1.3.6.1.5.5.7.3.1": "server_auth", "1.3.6.1.5.5.7.3.2": "client_auth",
             "1.3.6.1.5.5.7.3.3": "code_signing", "1.3.6.1.5.5.7.3.4": "email_protection",
             "1.3.6.1.5.5.7.3.8": "time_stamping", "1.3.6.1.5.5.7.3.9": "ocsp_signing",
             "2.5.29.37.0": "any_extended_key_usage"}
ACCESS_METHODS = {"1.3.6.1.5.5.7.48.1": "ocsp", "1.3.6.1.5.5.7.48.2": "ca_issuers"}


def _attributes(name: x509.Name) -> list[dict]:
    out = []
    for attribute in name:
        short = getattr(attribute.oid, "_name", None) or attribute.oid.dotted_string
        value = attribute.value if isinstance(attribute.value, str) else attribute.value.hex()
        out.append({"oid": attribute.oid.dotted_string, "name": _short_name(attribute, short), "value": value})
    return out


def _short_name(attribute, fallback: str) -> str:
    try:
        text = attribute.rfc4514_string()
        key = text.split("=", 1)[0]
        return key if not key.startswith(("1.", "2.", "0.")) else fallback
    except Exception:   # noqa: BLE001 — a name cryptography cannot spell: its OID name
        return fallback


def _public_key(certificate: x509.Certificate) -> dict:
    try:
        key = certificate.public_key()
    except Exception:   # noqa: BLE001 — an algorithm cryptography does not load
        return {"type": "unknown", "size": None, "curve": None}
    if isinstance(key, rsa.RSAPublicKey):
        return {"type": "RSA", "size": key.key_size, "curve": None}
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"type": "EC", "size": key.curve.key_size, "curve": key.curve.name}
    if isinstance(key, ed25519.Ed25519PublicKey):
        return {"type": "Ed25519", "size": 256, "curve": None}
    if isinstance(key, ed448.Ed448PublicKey):
        return {"type": "Ed448", "size": 456, "curve": None}
    if isinstance(key, dsa.DSAPublicKey):
        return {"type": "DSA", "size": key.key_size, "curve": None}
    return {"type": "unknown", "size": None, "curve": None}


def _general_name(name) -> dict:
    if isinstance(name, x509.DNSName):
        return {"type": "dns", "value": name.value}
    if isinstance(name, x509.IPAddress):
        return {"type": "ip", "value": str(name.value)}
    if isinstance(name, x509.RFC822Name):
        return {"type": "email", "value": name.value}
    if isinstance(name, x509.UniformResourceIdentifier):
        return {"type": "uri", "value": name.value}
    if isinstance(name, x509.DirectoryName):
        return {"type": "directory", "value": name.value.rfc4514_string()}
    return {"type": "other", "value": str(getattr(name, "value", name))}


def _extension(certificate: x509.Certificate, oid):
    try:
        return certificate.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None


def _key_usage(value: x509.KeyUsage | None) -> list[str] | None:
    if value is None:
        return None
    used = [name for name in KEY_USAGE_NAMES if getattr(value, name)]
    if value.key_agreement:
        used += [name for name in ("encipher_only", "decipher_only") if getattr(value, name)]
    return used


def decode_certificate(pem: str) -> dict:
    """The fields of one certificate (PEM) as the SslDecodedCertificate schema has them."""
    certificate = x509.load_pem_x509_certificate(pem.encode())
    try:
        extensions = list(certificate.extensions)
    except Exception:   # noqa: BLE001 — an extension cryptography refuses to parse: list none rather than fail
        extensions = []
    san = _extension(certificate, ExtensionOID.SUBJECT_ALTERNATIVE_NAME) if extensions else None
    eku = _extension(certificate, ExtensionOID.EXTENDED_KEY_USAGE) if extensions else None
    basic = _extension(certificate, ExtensionOID.BASIC_CONSTRAINTS) if extensions else None
    aia = _extension(certificate, ExtensionOID.AUTHORITY_INFORMATION_ACCESS) if extensions else None
    crl = _extension(certificate, ExtensionOID.CRL_DISTRIBUTION_POINTS) if extensions else None
    ski = _extension(certificate, ExtensionOID.SUBJECT_KEY_IDENTIFIER) if extensions else None
    aki = _extension(certificate, ExtensionOID.AUTHORITY_KEY_IDENTIFIER) if extensions else None
    policies = _extension(certificate, ExtensionOID.CERTIFICATE_POLICIES) if extensions else None
    ku = _extension(certificate, ExtensionOID.KEY_USAGE) if extensions else None
    signature = certificate.signature_algorithm_oid
    return {
        "subject": certificate.subject.rfc4514_string(),
        "subject_attributes": _attributes(certificate.subject),
        "issuer": certificate.issuer.rfc4514_string(),
        "issuer_attributes": _attributes(certificate.issuer),
        "serial": format(certificate.serial_number, "x"),
        "version": certificate.version.name,
        "not_before": certificate.not_valid_before_utc.isoformat(),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "signature_algorithm": getattr(signature, "_name", None) or signature.dotted_string,
        "public_key": _public_key(certificate),
        "subject_alternative_names": [_general_name(n) for n in san] if san is not None else [],
        "key_usage": _key_usage(ku),
        "extended_key_usage": ([EKU_NAMES.get(o.dotted_string, o.dotted_string) for o in eku]
                               if eku is not None else None),
        "basic_constraints": {"ca": basic.ca, "path_length": basic.path_length} if basic is not None else None,
        "authority_information_access": [
            {"method": ACCESS_METHODS.get(d.access_method.dotted_string, d.access_method.dotted_string),
             "location": _general_name(d.access_location)["value"]} for d in aia] if aia is not None else [],
        "crl_distribution_points": [_general_name(n)["value"] for point in crl for n in (point.full_name or [])]
                                   if crl is not None else [],
        "subject_key_identifier": ski.digest.hex() if ski is not None else None,
        "authority_key_identifier": (aki.key_identifier.hex() if aki is not None and aki.key_identifier
                                     else None),
        "certificate_policies": [p.policy_identifier.dotted_string for p in policies] if policies is not None else [],
        "extensions": [{"oid": e.oid.dotted_string, "name": getattr(e.oid, "_name", None) or e.oid.dotted_string,
                        "critical": e.critical} for e in extensions],
        "self_signed": certificate.issuer == certificate.subject,
        "sha256_fingerprint": certificate.fingerprint(hashes.SHA256()).hex(),
        "sha1_fingerprint": certificate.fingerprint(hashes.SHA1()).hex(),   # noqa: S303 — shown, as SCM does
        "pem": pem if pem.endswith("\n") else pem + "\n",
    }


class SslDetailsRoutes:
    @api("GET", "/api/v1/ssl/<ssl_id>/details", doc=Operation(
        "The certificate decoded, with its chain: subject and issuer (RFC 4514 and by attribute), serial, "
        "validity, signature algorithm, public key (type, size, curve), subject alternative names, key usage, "
        "extended key usage, basic constraints, authority information access (OCSP, caIssuers), CRL distribution "
        "points, subject and authority key identifiers, certificate policies, every extension with its "
        "criticality, SHA-256 and SHA-1 fingerprints and the PEM; `chain` the same for each CA certificate, "
        "issuing CA first. Reading it is not a download (nothing is recorded). Visible as GET "
        "/api/v1/ssl/{ssl_id}; before issuance (requested, approved, applied, declined) 404 with code "
        "not_issued", "ssl",
        responses={200: (SslDetails, "the decoded certificate and chain"),
                   404: (schemas.Error, "no such request in your scope, or no certificate yet (not_issued)")}))
    def ssl_details(self, request: Request, ssl_id: str):
        scope = self._begin(request)
        found = self._visible_ssl(scope, ssl_id)
        material = self._call(self.enrollment_rpc, "ssl_certificate", ssl_id)
        if not material.get("certificate_pem"):
            raise NotFound(f"ssl {ssl_id} has no certificate yet (status {found['status']})",
                           {"kind": "certificate", "id": str(ssl_id), "status": found["status"]},
                           code="not_issued")
        return json_response(200, {
            "ssl_id": found["ssl_id"], "status": found["status"],
            "certificate": decode_certificate(material["certificate_pem"]),
            "chain": [decode_certificate(pem) for pem in material["chain_pem"]]})
