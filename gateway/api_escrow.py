"""Key escrow (issue 15): "initialize encryption" for an organization created with key escrow, and the recovery of
an escrowed client key with dual control — one administrator asks, another approves, the one who asked receives
the key as PKCS#12 with the master private key, and the certificate is revoked.

Who (contracts/access.py missing_to_recover_keys, from the organization's options): MRAOs, and/or the
organization's RAOs of type client with the "download keys" privilege. enrollment owns the escrow and refuses the
asker's own approval again (403 own_request)."""
from __future__ import annotations

from werkzeug.wrappers import Request

from contracts import access
from contracts import certificates as contract
from contracts.errors import Forbidden
from gateway import schemas
from gateway.api_ssl import _file
from gateway.base import json_response, parse_body
from gateway.http import api
from gateway.openapi import Operation

TAG = "key-escrow"
_ESCROW = "/api/v1/organizations/<organization_id>/key-escrow"
_RECOVERY = "/api/v1/client/<cert_id>/recovery"
SHOWN_ONCE = ("The master private key is shown this once, encrypted with your passphrase: Certplane does not keep it. "
              "Store it offline; without it no escrowed key can be recovered.")


class EscrowRoutes:
    @api("GET", _ESCROW, doc=Operation(
        "The organization's key-escrow options and whether its encryption is initialized (the master PUBLIC key)",
        TAG, responses={200: (contract.EscrowV1, "the escrow")}))
    def get_escrow(self, request: Request, organization_id: str):
        scope = self._begin(request)
        scope.organization(organization_id)
        return json_response(200, self._call(self.enrollment_rpc, "get_escrow", organization_id))

    @api("POST", _ESCROW, doc=Operation(
        "Initialize encryption (once): a master key pair for the organization's escrowed client keys. With "
        "`passphrase` the server makes it and answers the private key this once, encrypted with the passphrase; "
        "with `public_key_pem` you made it. Until then the organization gets no client certificates (409 "
        "escrow_not_initialized).", TAG, body=contract.InitializeEscrowV1,
        responses={201: (contract.EscrowV1, "initialized; `private_key_pem` once when the server made the pair"),
                   409: (schemas.Error, "initialized already, or no key escrow (escrow_not_enabled)")}))
    def initialize_escrow(self, request: Request, organization_id: str):
        scope = self._begin(request)
        scope.organization(organization_id)
        _raw, payload = parse_body(request, contract.InitializeEscrowV1(), self.context.settings.max_body_bytes)
        self._may_recover(scope, organization_id)
        answer = self._call(self.enrollment_rpc, "initialize_escrow", organization_id, payload,
                            scope.principal.admin_id)
        body = dict(answer["escrow"])
        if answer.get("private_key_pem"):
            body.update(private_key_pem=answer["private_key_pem"], note=SHOWN_ONCE)
        return json_response(201, body)

    @api("POST", _RECOVERY, doc=Operation(
        "Ask to recover an escrowed client key (dual control: ANOTHER eligible administrator approves it, then you "
        "receive the key with …/recovery/key)", TAG, body=contract.RecoveryRequestV1,
        responses={202: (contract.CertificateV1, "asked; `recovery.status` requested")}))
    def request_recovery(self, request: Request, cert_id: str):
        scope = self._begin(request)
        _raw, payload = parse_body(request, contract.RecoveryRequestV1(), self.context.settings.max_body_bytes)
        self._escrowed_cert(scope, cert_id)
        answer = self._call(self.enrollment_rpc, "request_recovery", cert_id, scope.principal.admin_id, payload)
        return json_response(202, answer["certificate"])

    @api("POST", _RECOVERY + "/approve", doc=Operation(
        "Approve another administrator's key recovery (never your own: 403 own_request)", TAG,
        responses={200: (contract.CertificateV1, "approved; `recovery.status` approved")}))
    def approve_recovery(self, request: Request, cert_id: str):
        scope = self._begin(request)
        self._escrowed_cert(scope, cert_id)
        answer = self._call(self.enrollment_rpc, "approve_recovery", cert_id, scope.principal.admin_id)
        return json_response(200, answer["certificate"])

    @api("POST", _RECOVERY + "/key", doc=Operation(
        "Receive the recovered key as PKCS#12 (the administrator who asked, after the approval): send the master "
        "private key (PEM, and its passphrase) for this one decryption, and the PKCS#12 password. The certificate "
        "is revoked (key_compromise).", TAG, body=contract.RecoverKeyV1,
        responses={200: (("application/x-pkcs12",), "the key, certificate and chain"),
                   403: (None, "not the asker, or the master key does not open the escrow")}))
    def recover_key(self, request: Request, cert_id: str):
        scope = self._begin(request)
        _raw, payload = parse_body(request, contract.RecoverKeyV1(), self.context.settings.max_body_bytes)
        self._escrowed_cert(scope, cert_id)
        return _file(self._call(self.enrollment_rpc, "recover_key", cert_id, scope.principal.admin_id, payload))

    # ---- helpers ------------------------------------------------------------------------------------------------
    def _may_recover(self, scope, organization_id: str) -> None:
        escrow = self._call(self.enrollment_rpc, "get_escrow", organization_id)
        missing = access.missing_to_recover_keys(scope.principal, organization_id, escrow["options"])
        if missing is not None:
            raise Forbidden("key escrow here is for the administrators whose level recovers keys",
                            {"missing": missing}, code="not_a_key_recovery_admin")

    def _escrowed_cert(self, scope, cert_id: str) -> dict:
        found = self._visible_cert(scope, "client", cert_id)
        self._may_recover(scope, found["organization_id"])
        return found
