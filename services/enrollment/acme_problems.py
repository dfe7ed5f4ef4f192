"""ACME's errors (RFC 8555 §6.7): problem documents (RFC 7807, application/problem+json) with the RFC's types,
their HTTP status, and `subproblems` per identifier. Certplane's own error codes (contracts/errors.py, the REST
API's) are mapped onto them in one table, so finalize refuses a CSR for the same reasons and with the same codes
as POST /api/v1/ssl."""
from __future__ import annotations

from contracts.errors import DomainError

PREFIX = "urn:ietf:params:acme:error:"

STATUS = {
    "accountDoesNotExist": 400, "alreadyReplaced": 409, "alreadyRevoked": 400, "badCSR": 400, "badNonce": 400,
    "badPublicKey": 400, "badRevocationReason": 400, "badSignatureAlgorithm": 400, "caa": 403, "compound": 403,
    "connection": 400, "dns": 400, "externalAccountRequired": 401, "incorrectResponse": 403,
    "invalidContact": 400, "malformed": 400, "orderNotReady": 403, "rateLimited": 429, "rejectedIdentifier": 400,
    "serverInternal": 500, "tls": 400, "unauthorized": 403, "unsupportedContact": 400,
    "unsupportedIdentifier": 400, "userActionRequired": 403,
}

# Certplane error codes (the REST API's) → the ACME type a client understands
_CODE_TYPES = {
    "names_not_allowed": "rejectedIdentifier", "name_not_allowed": "rejectedIdentifier",
    "facts_not_current": "serverInternal", "profile_not_ssl": "unauthorized",
}


class Problem(Exception):
    def __init__(self, type_: str, detail: str, status: int | None = None, subproblems: list | None = None,
                 headers: dict | None = None, **extra):
        super().__init__(detail)
        self.type, self.detail = type_, detail
        self.status = status or STATUS.get(type_, 400)
        self.subproblems = subproblems or []
        self.headers = headers or {}
        self.extra = extra

    @classmethod
    def malformed(cls, detail: str) -> "Problem":
        return cls("malformed", detail)

    def document(self) -> dict:
        body = {"type": PREFIX + self.type, "detail": self.detail, "status": self.status, **self.extra}
        if self.subproblems:
            body["subproblems"] = self.subproblems
        return body


def subproblem(type_: str, detail: str, identifier: dict) -> dict:
    return {"type": PREFIX + type_, "detail": detail, "identifier": identifier}


def from_domain_error(exc: DomainError, csr: bool = False) -> Problem:
    """A refusal of the request checks (contracts.errors) as the ACME problem a client expects: a CSR that the REST
    API refuses is badCSR at finalize, with Certplane's own code kept in `certplane_code`."""
    code, http = exc.code or "", exc.http_status
    type_ = _CODE_TYPES.get(code) or ("badCSR" if csr and http in (400, 422) else
                                      "unauthorized" if http in (403, 404) else
                                      "serverInternal" if http >= 500 else "malformed")
    status = 503 if http == 503 else None
    headers = {"Retry-After": "5"} if http == 503 else None
    return Problem(type_, exc.message, status=status, headers=headers, certplane_code=code or None)
