"""What SCEP (scep_service.py) and EST (est_service.py) share, mixed into EnrollmentService: the endpoint a path
names, the credential a device sends (the endpoint's, or a one-time challenge, used up once), and device requests
and renewals through an endpoint — on the same request path as REST and the web forms (request_with_csr,
renew_cert: the profile's approval, the names' delegation, the CA's lint).

Idempotence: the protocols resend. A message's certificate id is derived from the message (uuid5), so a resend
finds the request made by the first one and is answered from it, without its credential being checked again (a
one-time challenge is used up by the first message) and without a second certificate.
"""
from __future__ import annotations

import hmac
import uuid
from datetime import datetime

import structlog

from contracts.errors import ConcurrencyConflict, Conflict, DomainError, Forbidden, NotFound, Unauthenticated
from services.enrollment.csr import parse_csr
from services.enrollment.forms_events import DeviceChallengeUsed
from services.enrollment.forms_service import challenge_stream, credential_digest

log = structlog.get_logger(__name__)

DEVICE_CERT_NAMESPACE = uuid.UUID("6b1f0c8e-5c3a-4f57-9a51-2f1e3c7d9b20")   # cert ids derived from messages
MAX_SECRET = 256
IN_USE = ("issued", "downloaded")


def message_cert_id(*parts: str) -> str:
    """The certificate id of a protocol message: the same parts (endpoint, transaction, request digest …) give the
    same id, so a resend is the same request."""
    return str(uuid.uuid5(DEVICE_CERT_NAMESPACE, "\x1f".join(parts)))


def wrong_credentials(reason: str) -> Unauthenticated:
    return Unauthenticated(f"the endpoint's credential or a one-time challenge is needed: {reason}",
                           {"credential": [reason]}, code="wrong_credentials")


class DeviceProtocols:
    """Mixed into EnrollmentService: uses its store, endpoint_credentials, device_challenges, get_profile,
    get_cert, request_with_csr, renew_cert, device_endpoint_by_uri, ca_rpc, _call."""

    def _protocol_endpoint(self, uri_extension: str, protocol: str) -> dict:
        """The active endpoint of type `protocol` that `uri_extension` names (404 none or another type, 403
        `device_endpoint_disabled`)."""
        return self.device_endpoint_by_uri(uri_extension, protocol)["device_endpoint"]

    def _check_device_secret(self, endpoint: dict, secret, protocol: str, cert_id: str | None = None) -> dict:
        """Whether `secret` is the endpoint's credential or one of its one-time challenges (then used up, here:
        two devices racing with one challenge — one wins). {"via": "endpoint" | "challenge", "challenge_id"}, or
        401 `wrong_credentials`."""
        if not isinstance(secret, str) or not secret:
            raise wrong_credentials("none was sent")
        if len(secret) > MAX_SECRET:
            raise wrong_credentials("it is not one (too long)")
        endpoint_id = endpoint["endpoint_id"]
        digest = credential_digest(secret)
        stored = self.endpoint_credentials.get(endpoint_id)
        if stored and hmac.compare_digest(stored["sha256"], digest):
            return {"via": "endpoint", "challenge_id": None}
        kept = self.device_challenges.get(digest)
        if not kept or kept.get("endpoint_id") != endpoint_id:
            raise wrong_credentials("it is not this endpoint's credential, nor one of its challenges")
        expires_at = kept.get("expires_at")
        if expires_at and datetime.fromisoformat(expires_at) <= self.store.clock():
            raise wrong_credentials("the one-time challenge has expired")
        if not self._use_challenge(digest, kept["challenge_id"], endpoint_id, protocol, cert_id):
            raise wrong_credentials("the one-time challenge was used already")
        return {"via": "challenge", "challenge_id": kept["challenge_id"]}

    def _use_challenge(self, digest: str, challenge_id: str, endpoint_id: str, protocol: str,
                       cert_id: str | None) -> bool:
        """Forget the challenge and record its use in one transaction; False when another use came first."""
        table = self.device_challenges.table
        used = DeviceChallengeUsed(challenge_id, endpoint_id, protocol, cert_id)
        try:
            with self.store.transaction() as unit:
                if unit.conn.execute(table.delete().where(table.c.key == digest)).rowcount != 1:
                    return False
                unit.append(challenge_stream(challenge_id), 1, [used.encode()], self.context.metadata())
        except ConcurrencyConflict:
            return False
        log.info("device_challenge_used", challenge_id=challenge_id, endpoint_id=endpoint_id, via=protocol)
        return True

    def _existing_cert(self, cert_id: str) -> dict | None:
        try:
            return self.get_cert(cert_id)
        except NotFound:
            return None

    def _device_enroll(self, endpoint: dict, csr_pem: str, cert_id: str, protocol: str, protocol_ref: str | None,
                       requested_by: str) -> dict:
        """A device request through `endpoint` (its organization, department, first profile at its longest term;
        the CSR's names), waited for as REST waits; the certificate answer (CertificateV1). A `cert_id` that
        exists is answered as it is."""
        existing = self._existing_cert(cert_id)
        if existing is not None:
            return existing
        profile = self.get_profile(endpoint["profile_ids"][0])
        payload = {"organization_id": endpoint["organization_id"], "department_id": endpoint["department_id"],
                   "profile_id": profile["profile_id"], "term_days": max(profile["terms"]), "csr": csr_pem,
                   "common_name": parse_csr(csr_pem).subject_common_name}
        try:
            return self.request_with_csr("device", payload, requested_by, False, cert_id, None, None, protocol,
                                         endpoint["endpoint_id"], protocol_ref)["certificate"]
        except (Conflict, ConcurrencyConflict):
            return self._raced(cert_id)

    def _device_renew(self, endpoint: dict, current_sha256: str, csr_pem: str, cert_id: str, protocol: str,
                      protocol_ref: str | None, requested_by: str) -> dict:
        """The renewal, with a new CSR, of the device certificate whose SHA-256 fingerprint is `current_sha256`:
        issued by Certplane to the endpoint's organization (and department), in use (not expired, not revoked),
        else 403 `unknown_certificate`. A `cert_id` that exists is answered as it is."""
        existing = self._existing_cert(cert_id)
        if existing is not None:
            return existing
        current = self._renewable(endpoint, current_sha256)
        try:
            return self.renew_cert(current["cert_id"], requested_by, {"csr": csr_pem}, cert_id, None, protocol,
                                   protocol_ref, endpoint["endpoint_id"])["certificate"]
        except (Conflict, ConcurrencyConflict) as exc:
            if self._existing_cert(cert_id) is None:
                raise exc
            return self._raced(cert_id)

    def _renewable(self, endpoint: dict, current_sha256: str) -> dict:
        fingerprint = str(current_sha256 or "").lower()
        row = self.store.read(lambda conn: self._certs.by_fingerprint(conn, fingerprint)) if fingerprint else None
        current = self.get_cert(row["cert_id"]) if row else None
        refusal = None
        if current is None or current["cert_type"] != "device":
            refusal = "not a device certificate Certplane issued"
        elif current["organization_id"] != endpoint["organization_id"] or (
                endpoint["department_id"] and current["department_id"] != endpoint["department_id"]):
            refusal = "a certificate of another organization or department than the endpoint's"
        elif current["status"] not in IN_USE:
            refusal = f"the certificate is {current['status']}"
        if refusal:
            raise Forbidden(f"the current certificate cannot be renewed here: {refusal}",
                            {"certificate": [refusal]}, code="unknown_certificate")
        return current

    def _raced(self, cert_id: str) -> dict:
        """Another replica or a resend made the same request a moment earlier: its answer."""
        existing = self._existing_cert(cert_id)
        if existing is None:
            raise Conflict("the request was being made at the same time; send it again", {"cert_id": cert_id},
                           code="concurrent_update")
        if existing["status"] == "applied":
            self._cert_outcome_wait(cert_id)
            existing = self.get_cert(cert_id)
        return existing

    def _device_cert_by_ref(self, endpoint_id: str, protocol_ref: str) -> dict | None:
        """The newest certificate (request) of the endpoint with that protocol reference (SCEP: transactionID)."""
        row = self.store.read(lambda conn: self._certs.by_protocol_ref(conn, endpoint_id, protocol_ref))
        return self.get_cert(row["cert_id"]) if row else None

    def _endpoint_chain(self, endpoint: dict) -> list[str]:
        """PEMs: the issuing CA of the endpoint's (first) profile, then its parents up to the root."""
        profile = self.get_profile(endpoint["profile_ids"][0])
        return self._call(self.ca_rpc.chain, profile.get("ca_id"))


def protocol_failure(exc: DomainError) -> str:
    """One line for a device: what was refused and why."""
    return f"{exc.code}: {exc.message}"

