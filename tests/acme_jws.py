"""A hand-built ACME client for the protocol tests: it signs what a test tells it to, also what no real client
would send (alg none, a wrong url, jwk and kid together, a reused nonce). The real clients' tests use certbot, lego
and the `acme` library; this one exists for the negative cases."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(n: int, size: int | None = None) -> str:
    size = size or (n.bit_length() + 7) // 8
    return b64(n.to_bytes(size, "big"))


class Key:
    def __init__(self, kind: str = "ec-p256"):
        self.kind = kind
        if kind == "ec-p256":
            self.private, self.alg = ec.generate_private_key(ec.SECP256R1()), "ES256"
        elif kind == "ec-p384":
            self.private, self.alg = ec.generate_private_key(ec.SECP384R1()), "ES384"
        elif kind == "rsa-2048":
            self.private, self.alg = rsa.generate_private_key(65537, 2048), "RS256"
        elif kind == "ed25519":
            self.private, self.alg = ed25519.Ed25519PrivateKey.generate(), "EdDSA"
        else:
            raise ValueError(kind)

    @property
    def jwk(self) -> dict:
        public = self.private.public_key()
        if self.kind.startswith("ec"):
            numbers, size = public.public_numbers(), (public.curve.key_size + 7) // 8
            return {"kty": "EC", "crv": "P-256" if size == 32 else "P-384", "x": _int(numbers.x, size),
                    "y": _int(numbers.y, size)}
        if self.kind.startswith("rsa"):
            numbers = public.public_numbers()
            return {"kty": "RSA", "n": _int(numbers.n), "e": _int(numbers.e)}
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}

    @property
    def thumbprint(self) -> str:
        members = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}
        jwk = self.jwk
        canonical = json.dumps({m: jwk[m] for m in members[jwk["kty"]]}, separators=(",", ":"), sort_keys=True)
        return b64(hashlib.sha256(canonical.encode()).digest())

    def sign(self, data: bytes) -> bytes:
        if self.kind.startswith("ec"):
            size = 32 if self.kind == "ec-p256" else 48
            digest = hashes.SHA256() if size == 32 else hashes.SHA384()
            r, s = decode_dss_signature(self.private.sign(data, ec.ECDSA(digest)))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        if self.kind.startswith("rsa"):
            return self.private.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return self.private.sign(data)


def jws(key: Key | None, protected: dict, payload, sign_with: Key | None = None) -> dict:
    """A flattened JWS; `payload` None is POST-as-GET (empty payload); `sign_with` signs with another key than
    the header says."""
    protected_b64 = b64(json.dumps(protected).encode())
    payload_b64 = "" if payload is None else b64(payload if isinstance(payload, bytes) else
                                                 json.dumps(payload).encode())
    signer = sign_with or key
    signature = signer.sign(f"{protected_b64}.{payload_b64}".encode()) if signer else b""
    return {"protected": protected_b64, "payload": payload_b64, "signature": b64(signature)}


def eab(kid: str, hmac_key_b64: str, jwk: dict, url: str, alg: str = "HS256") -> dict:
    key = base64.urlsafe_b64decode(hmac_key_b64 + "=" * (-len(hmac_key_b64) % 4))
    protected = b64(json.dumps({"alg": alg, "kid": kid, "url": url}).encode())
    payload = b64(json.dumps(jwk).encode())
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    mac = hmac.new(key, f"{protected}.{payload}".encode(), digest).digest()
    return {"protected": protected, "payload": payload, "signature": b64(mac)}


class Client:
    def __init__(self, directory_url: str, key: Key | None = None, verify=True):
        self.http = requests.Session()
        self.http.verify = verify
        self.directory = self.http.get(directory_url, timeout=30).json()
        self.key = key or Key()
        self.kid: str | None = None
        self._nonce: str | None = None

    def nonce(self) -> str:
        if self._nonce:
            nonce, self._nonce = self._nonce, None
            return nonce
        return self.http.head(self.directory["newNonce"], timeout=30).headers["Replay-Nonce"]

    def post(self, url: str, payload, *, use_jwk: bool | None = None, header: dict | None = None,
             nonce: str | None = None, key: Key | None = None, sign_with: Key | None = None,
             raw_body: dict | None = None) -> requests.Response:
        key = key or self.key
        protected = {"alg": key.alg, "nonce": nonce or self.nonce(), "url": url}
        if use_jwk or (use_jwk is None and self.kid is None):
            protected["jwk"] = key.jwk
        else:
            protected["kid"] = self.kid
        protected.update(header or {})
        protected = {k: v for k, v in protected.items() if v is not None}
        body = raw_body if raw_body is not None else jws(key, protected, payload, sign_with)
        response = self.http.post(url, data=json.dumps(body), headers={"Content-Type": "application/jose+json"},
                                  timeout=60)
        self._nonce = response.headers.get("Replay-Nonce")
        return response

    def register(self, kid: str, hmac_key: str, **payload) -> requests.Response:
        url = self.directory["newAccount"]
        body = {"termsOfServiceAgreed": True, "contact": ["mailto:ops@example.com"],
                "externalAccountBinding": eab(kid, hmac_key, self.key.jwk, url), **payload}
        response = self.post(url, body, use_jwk=True)
        if response.status_code in (200, 201):
            self.kid = response.headers["Location"]
        return response
