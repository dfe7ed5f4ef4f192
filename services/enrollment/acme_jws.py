"""JWS as ACME uses it (RFC 8555 §6.2, RFC 7515 flattened JSON serialization): parse a request body, check its
protected header's shape, verify its signature, and the External Account Binding's MAC (§7.3.4). Pure: no I/O.

RSA and EC keys are read and thumbprinted (RFC 7638) by josepy; josepy has no OKP keys, so Ed25519 (RFC 8037,
alg EdDSA) is read here from its one member `x`. Signatures are verified with `cryptography`.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

import josepy
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from services.enrollment.acme_problems import Problem

# alg → (key kind, hash, EC coordinate size): what a client may sign with (RFC 8555 §6.2: no "none", no MAC)
SIGNATURE_ALGORITHMS = {
    "RS256": ("RSA", hashes.SHA256, None),
    "ES256": ("EC", hashes.SHA256, 32),
    "ES384": ("EC", hashes.SHA384, 48),
    "EdDSA": ("OKP", None, None),
}
EAB_ALGORITHMS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
MIN_RSA_BITS = 2048
_CURVE_OF_ALG = {"ES256": "P-256", "ES384": "P-384"}


def b64url_decode(text: str, what: str) -> bytes:
    if not isinstance(text, str) or "=" in text or any(c in text for c in "+/ \n"):
        raise Problem.malformed(f"{what} is not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise Problem.malformed(f"{what} is not unpadded base64url") from None


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class Jws:
    protected: dict          # the decoded protected header
    payload: bytes           # b"" for POST-as-GET
    signing_input: bytes     # protected "." payload, as sent
    signature: bytes

    @property
    def alg(self) -> str:
        return self.protected.get("alg")

    def payload_json(self) -> dict:
        """The payload as the JSON object it must be (an empty payload is POST-as-GET: refused here)."""
        if not self.payload:
            raise Problem.malformed("this resource needs a JSON payload (not POST-as-GET)")
        try:
            value = json.loads(self.payload)
        except (ValueError, UnicodeDecodeError):
            raise Problem.malformed("the JWS payload is not JSON") from None
        if not isinstance(value, dict):
            raise Problem.malformed("the JWS payload must be a JSON object")
        return value


def parse(body: bytes) -> Jws:
    """A flattened JWS (the only serialization ACME allows: §6.2), or malformed."""
    try:
        outer = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Problem.malformed("the request body is not JSON (a flattened JWS is expected)") from None
    if not isinstance(outer, dict) or set(outer) - {"protected", "payload", "signature"} \
            or not all(isinstance(outer.get(k), str) for k in ("protected", "payload", "signature")):
        raise Problem.malformed("the body must be a flattened JWS: exactly protected, payload and signature")
    header_bytes = b64url_decode(outer["protected"], "protected")
    try:
        protected = json.loads(header_bytes)
    except (ValueError, UnicodeDecodeError):
        raise Problem.malformed("the protected header is not JSON") from None
    if not isinstance(protected, dict):
        raise Problem.malformed("the protected header must be a JSON object")
    return Jws(protected, b64url_decode(outer["payload"], "payload"),
               f"{outer['protected']}.{outer['payload']}".encode(), b64url_decode(outer["signature"], "signature"))


def check_header(jws: Jws, url: str, key_by: str) -> None:
    """§6.2–6.4: a signature algorithm we allow, the request's own URL, and exactly one of jwk / kid — `key_by`
    says which this resource wants ("jwk": newAccount and revokeCert by certificate key; "kid": the others;
    "either": revokeCert)."""
    h = jws.protected
    if h.get("alg") not in SIGNATURE_ALGORITHMS:
        raise Problem("badSignatureAlgorithm", f"alg {h.get('alg')!r} is not allowed; use one of "
                      + ", ".join(SIGNATURE_ALGORITHMS), algorithms=list(SIGNATURE_ALGORITHMS))
    if h.get("url") != url:
        raise Problem("unauthorized", f"the protected header's url must be this request's URL, {url}")
    if "jwk" in h and "kid" in h:
        raise Problem.malformed("the protected header has both jwk and kid; exactly one is allowed")
    if key_by == "jwk" and "jwk" not in h:
        raise Problem.malformed("this resource is signed with the key itself: a jwk header, not a kid")
    if key_by == "kid" and "kid" not in h:
        raise Problem.malformed("this resource is signed by an account: a kid header (the account URL), not a jwk")
    if key_by == "either" and not ("jwk" in h or "kid" in h):
        raise Problem.malformed("the protected header needs a jwk or a kid")
    if "nonce" not in h or not isinstance(h["nonce"], str):
        raise Problem("badNonce", "the protected header has no nonce")


def load_jwk(jwk: dict):
    """The public key of a JWK (RSA ≥ 2048, EC P-256/P-384, Ed25519), or badPublicKey / malformed."""
    if not isinstance(jwk, dict):
        raise Problem.malformed("jwk must be a JSON object")
    if any(k in jwk for k in ("d", "p", "q", "dp", "dq", "qi", "k")):
        raise Problem.malformed("the jwk holds private key material; send only the public key")
    kty = jwk.get("kty")
    if kty == "OKP":
        if jwk.get("crv") != "Ed25519":
            raise Problem("badPublicKey", "of OKP keys only Ed25519 is supported")
        raw = b64url_decode(jwk.get("x", ""), "jwk x")
        if len(raw) != 32:
            raise Problem("badPublicKey", "an Ed25519 key is 32 bytes")
        return ed25519.Ed25519PublicKey.from_public_bytes(raw)
    if kty not in ("RSA", "EC"):
        raise Problem("badPublicKey", f"key type {kty!r} is not supported (RSA, EC, OKP)")
    try:
        key = josepy.JWK.from_json(jwk).key
    except (josepy.errors.DeserializationError, ValueError, TypeError, KeyError) as exc:
        raise Problem("badPublicKey", f"the jwk is not a valid {kty} public key: {exc}") from None
    key = getattr(key, "_wrapped", key)     # josepy wraps cryptography keys
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise Problem("badPublicKey", f"RSA keys must have at least {MIN_RSA_BITS} bits")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ("secp256r1", "secp384r1"):
            raise Problem("badPublicKey", "EC keys must be on P-256 or P-384")
    else:
        raise Problem("badPublicKey", "the jwk is a private key or of an unknown kind")
    return key


def thumbprint(jwk: dict) -> str:
    """RFC 7638 SHA-256 thumbprint, base64url: what key authorizations and CAA's accounturi bind to."""
    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}
    members = required.get(jwk.get("kty"))
    if members is None or any(not isinstance(jwk.get(m), str) for m in members):
        raise Problem("badPublicKey", "the jwk lacks the members of its key type")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def public_jwk(jwk: dict) -> dict:
    """Only the public members, as stored (a client may send alg, use, kid…)."""
    members = {"RSA": ("kty", "n", "e"), "EC": ("kty", "crv", "x", "y"), "OKP": ("kty", "crv", "x")}
    return {m: jwk[m] for m in members.get(jwk.get("kty"), ()) if m in jwk}


def verify(jws: Jws, key) -> None:
    """The signature over the signing input with `key`, for the header's alg (checked by check_header); a key of
    another kind than the alg needs is malformed."""
    kind, hash_cls, size = SIGNATURE_ALGORITHMS[jws.alg]
    try:
        if kind == "RSA":
            if not isinstance(key, rsa.RSAPublicKey):
                raise Problem.malformed(f"alg {jws.alg} needs an RSA key")
            key.verify(jws.signature, jws.signing_input, padding.PKCS1v15(), hash_cls())
        elif kind == "EC":
            if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != \
                    {"P-256": "secp256r1", "P-384": "secp384r1"}[_CURVE_OF_ALG[jws.alg]]:
                raise Problem.malformed(f"alg {jws.alg} needs an EC key on {_CURVE_OF_ALG[jws.alg]}")
            if len(jws.signature) != 2 * size:
                raise Problem.malformed(f"an {jws.alg} signature is {2 * size} bytes (r || s)")
            r = int.from_bytes(jws.signature[:size], "big")
            s = int.from_bytes(jws.signature[size:], "big")
            key.verify(encode_dss_signature(r, s), jws.signing_input, ec.ECDSA(hash_cls()))
        else:
            if not isinstance(key, ed25519.Ed25519PublicKey):
                raise Problem.malformed("alg EdDSA needs an Ed25519 key")
            key.verify(jws.signature, jws.signing_input)
    except InvalidSignature:
        raise Problem.malformed("the JWS signature does not verify") from None


def verify_eab(eab: dict, outer_jwk: dict, url: str, hmac_key_of) -> str:
    """The externalAccountBinding of a newAccount (§7.3.4): a JWS whose payload is the account's jwk, protected
    {alg: HS256/384/512, kid: the EAB key id, url: the newAccount URL} (no nonce), MACed with the EAB's HMAC key.
    `hmac_key_of(kid)` gives the key (bytes) or None. Answers the key id."""
    if not isinstance(eab, dict):
        raise Problem.malformed("externalAccountBinding must be a flattened JWS object")
    inner = parse(json.dumps(eab).encode())
    h = inner.protected
    if h.get("alg") not in EAB_ALGORITHMS:
        raise Problem("badSignatureAlgorithm", "the externalAccountBinding is MACed with one of "
                      + ", ".join(EAB_ALGORITHMS), algorithms=list(EAB_ALGORITHMS))
    if "nonce" in h:
        raise Problem.malformed("the externalAccountBinding's protected header must not have a nonce")
    if h.get("url") != url:
        raise Problem.malformed("the externalAccountBinding's url must be the newAccount URL")
    kid = h.get("kid")
    key = hmac_key_of(kid) if isinstance(kid, str) else None
    if key is None:
        raise Problem("unauthorized", "the externalAccountBinding's key id is not known (or its ACME account is "
                                      "deactivated)")
    mac = hmac.new(key, inner.signing_input, EAB_ALGORITHMS[h["alg"]]).digest()
    if not hmac.compare_digest(mac, inner.signature):
        raise Problem("unauthorized", "the externalAccountBinding's MAC does not verify with that key id")
    try:
        bound = json.loads(inner.payload)
    except (ValueError, UnicodeDecodeError):
        raise Problem.malformed("the externalAccountBinding's payload is not a JWK") from None
    if not isinstance(bound, dict) or thumbprint(bound) != thumbprint(outer_jwk):
        raise Problem("unauthorized", "the externalAccountBinding binds another key than this request's jwk")
    return kid
