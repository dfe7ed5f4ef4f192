"""Client (S/MIME), code-signing and device certificates (issue 15): entrypoints mixed into EnrollmentService.

One aggregate for the three types (certs_domain.py, stream `cert-<id>`), issued through the same pipeline as SSL
requests (DESIGN §3.6): a request is recorded, approved and applied (`cert_applied`, carrying the signing
request) — in one append when the profile needs no approval — the ca's processor signs or refuses it, and
record_outcomes (service.py) turns the answer into `cert_issued` / `cert_issuance_failed` (`_cert_outcome`).

How each type is asked for:
- client (and code signing): an administrator invites a person (`invite_person`): the invitation mail carries a single-use link (its
  token kept only until the mail is rendered and the invitation answered; the event holds its sha256). The person
  answers it (`answer_invitation`) with a CSR made in the browser, or with a password for a key the server makes
  (keys.py: P-256, sealed with the link's token and the password); then the request is an ordinary one. The
  certificate's emails are the person's (email and alternative emails), each in a domain delegated to the
  organization (or department) for `client`; the subject is the mailbox (mailbox-validated S/MIME: the link proved
  it).
- device: a CSR (`request_with_csr`); its DNS names and IP addresses delegated for `ssl` (SCM's delegation grid
  has no device column: a device's hosts are TLS names); the subject's O/OU/L/ST/C are the
  organization's, whatever the CSR says.
- code signing: a CSR; the subscriber is the organization (CN its name) or a person of it (CN the person's name).
"""
from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from datetime import timedelta

import sqlalchemy as sa
import structlog
from nameko.rpc import rpc

from contracts import certificate_rules as rules
from contracts import certificates as contract
from contracts.enrollment import RenewV1
from contracts.errors import EXPECTED, Conflict, InvalidRequest, NotFound, PolicyViolation
from services.enrollment import certs_domain as domain
from services.enrollment import escrow, invitation_csv, keys, profiles
from services.enrollment.certs_events import (CertInvited, CertIssuanceFailed, CertIssued, CertRequested,
                                              EscrowInitialized, decode)
from services.enrollment.certs_projections import CertsView, display_name, view
from services.enrollment.csr import csr_pem, parse_csr
from services.enrollment.downloads import render
from services.runtime.entrypoint_helpers import decider, load_payload, parse_id
from services.runtime.kept_secrets import KeptSecretsProvider
from services.runtime.store import StreamAppend

log = structlog.get_logger(__name__)

PERSON_IDENTITY_CHANGED = "person_identity_changed.v1"
# the revocation reason when a person's email or name changed (their certificates no longer name them)
PERSON_CHANGE_REASON = "superseded"
# a recovered key is no longer its holder's alone: the certificate is revoked so (SCM: recovery revokes)
RECOVERY_REASON = "key_compromise"


def cert_stream(cert_id: str) -> str:
    return f"cert-{cert_id}"


def escrow_stream(organization_id: str) -> str:
    return f"escrow-{organization_id}"


class CertEntrypoints:
    """Mixed into EnrollmentService: uses its store, context, waiting, get_profile, _check_names, _subject …"""

    # the invitation links' tokens, until the mail is rendered and the invitation answered (events: their sha256)
    invitation_tokens = KeptSecretsProvider("cert_invitation_tokens")
    # server-made keys, sealed (keys.py): never in clear, never in an event
    sealed_keys = KeptSecretsProvider("cert_sealed_keys")
    # key escrow: client keys encrypted to their organization's master public key (escrow.py)
    escrowed_keys = KeptSecretsProvider("cert_escrowed_keys")
    # the collection ids of issued certificates, for the collection mail (events: their sha256)
    cert_collection_ids = KeptSecretsProvider("cert_collection_ids")

    # ---- asking for a certificate ---------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def invite_person(self, cert_type: str, payload: dict, person: dict, invited_by: str, cert_id: str | None = None,
                      requested_via: str = "api", allow_empty_password: bool = False,
                      auto_approve: bool = False) -> dict:
        """An invitation for `person` (identity's PersonV1, read by the gateway, which checked the caller's scope)
        to a client or code-signing certificate under the profile (contracts.certificates.ClientRequestV1); its
        mail goes out through notify. The person's emails must be in domains delegated to the organization (or
        department) for the type. From an enrollment form account: its `allow_empty_password` (client) and
        `auto_approve` (the answer is approved at once) come with it."""
        if cert_type not in contract.INVITED_TYPES:
            raise InvalidRequest("invitations are for client and code-signing certificates",
                                 {"cert_type": [str(cert_type)]}, code="unknown_cert_type")
        values = load_payload(contract.ClientRequestV1(), payload)
        cert_id = parse_id(cert_id or uuid.uuid4(), "certificate")
        profile = self._profile_of_type(values["profile_id"], cert_type)
        now = self.store.clock()
        rules.check_term(cert_type, None, values["term_days"], now)
        profiles.check_term_of(profile, values["term_days"])
        organization_id, department_id = str(person["organization_id"]), person.get("department_id")
        subject = self._subject(organization_id, department_id)  # the organization (and department) exist
        emails = _person_emails(person)
        if cert_type == "client":
            emails = list(rules.certificate_names("client", None, None, [], emails=emails).emails)
            self._escrow_key_for(organization_id)         # an escrow organization needs its master key first
        else:
            emails = emails[:1]                                  # the collection mail's address
            rules.subject_for("code_signing", None, subject)      # an organization without L/ST: 422 at once
        self._check_emails(organization_id, department_id, emails, now, cert_type)
        if self.store.load(cert_stream(cert_id)):               # a retried call: its token stays the mailed one
            raise Conflict("a request with this id exists", code="cert_exists")
        token = secrets.token_urlsafe(24)                       # 192 bits: the link is the credential
        invited = CertInvited(cert_id, cert_type, organization_id, department_id, str(values["profile_id"]),
                              values["term_days"], str(person["person_id"]), emails[0], emails, _person_name(person),
                              invited_by, _sha256(token),
                              (now + timedelta(days=contract.INVITATION_DAYS)).isoformat(),
                              bool(allow_empty_password) and cert_type == "client", requested_via,
                              values["comments"], bool(auto_approve))
        self.invitation_tokens.keep(cert_id, {"token": token})
        result = self.store.execute(cert_stream(cert_id), _decider(domain.decide_invite, invited))
        return self.command_result(result, False, certificate=self.get_cert(cert_id))

    @rpc(expected_exceptions=EXPECTED)
    def request_with_csr(self, cert_type: str, payload: dict, requested_by: str, auto_approve: bool,
                         cert_id: str | None = None, requester_email: str | None = None, person: dict | None = None,
                         requested_via: str = "api", endpoint_id: str | None = None,
                         protocol_ref: str | None = None) -> dict:
        """A device or code-signing request with a CSR made elsewhere (contracts.certificates.CsrRequestV1);
        `person` (code signing, read by the gateway): the subscriber is that person, else the organization.
        `endpoint_id` (device): the enrollment endpoint it came through; `protocol_ref`: SCEP's transactionID."""
        if cert_type not in ("device", "code_signing"):
            raise InvalidRequest("a CSR request is for device or code-signing certificates",
                                 {"cert_type": [str(cert_type)]}, code="unknown_cert_type")
        values = load_payload(contract.CsrRequestV1(), payload)
        cert_id = parse_id(cert_id or uuid.uuid4(), "certificate")
        profile = self._profile_of_type(values["profile_id"], cert_type)
        parsed = parse_csr(values["csr"])
        now = self.store.clock()
        organization_id = str(values["organization_id"])
        department_id = str(values["department_id"]) if values["department_id"] else None
        subject = self._subject(organization_id, department_id)
        if cert_type == "device":
            if values["person_id"]:
                raise InvalidRequest("a device certificate has no person", {"person_id": ["device"]})
            checked = profiles.check_request(profile, parsed, values["common_name"], values["sans"],
                                             values["term_days"], now)
            if checked.sans:      # SCM's delegation grid has no device column: a device's hosts are TLS names
                self._check_names(organization_id, department_id, checked.sans, profile, now, cert_type="ssl")
            common_name, sans, name, email = checked.common_name, list(checked.sans), None, requester_email
        else:
            name = _person_name(person) if person else None
            if person and str(person["organization_id"]) != organization_id:
                raise PolicyViolation("the person is not of this organization",
                                      {"person_id": ["another organization's person"]}, code="person_not_in_organization")
            common_name = values["common_name"] or name or subject["organization"]
            profiles.check_request(profile, parsed, common_name, values["sans"], values["term_days"], now)
            subject = rules.subject_for("code_signing", None, subject)      # refuses one without O, C, L or ST
            sans, email = [], person["email"] if person else requester_email
        requested = CertRequested(cert_id, cert_type, organization_id, department_id, profile["profile_id"],
                                  values["term_days"], common_name, sans, [], parsed.key_type, "client",
                                  csr_pem(parsed.der), subject, str(person["person_id"]) if person else None, name,
                                  email, requested_by, requested_via, dict(values["custom_fields"]),
                                  values["comments"], endpoint_id=str(endpoint_id) if endpoint_id else None,
                                  protocol_ref=protocol_ref)
        return self._record_request(requested, profile, auto_approve)

    @rpc(expected_exceptions=EXPECTED)
    def renew_cert(self, cert_id: str, requested_by: str, payload: dict | None = None, new_cert_id: str | None = None,
                   requester_email: str | None = None, requested_via: str = "api",
                   protocol_ref: str | None = None, endpoint_id: str | None = None) -> dict:
        """A new request with the details of an issued (or revoked, or expired) certificate: device and code
        signing with a new CSR (contracts.enrollment.RenewV1) or the stored one, which keeps the key; client a new
        invitation to the same person and emails (the person makes or gets a new key). It goes through the
        profile's approval like any request."""
        values = load_payload(RenewV1(), payload or {})
        cert_id = parse_id(cert_id, "certificate")
        state = self._cert_state(cert_id)
        if not state.exists:
            raise NotFound.of("certificate", cert_id)
        if state.status not in domain.IN_USE + (domain.Status.REVOKED,) or state.request is None:
            raise Conflict(f"the request is {state.status}; only an issued certificate can be renewed",
                           {"status": str(state.status)}, code=f"cert_{state.status}")
        old = state.request
        if old.cert_type == "client":
            if values["csr"]:
                raise InvalidRequest("a client certificate is renewed by a new invitation: the person makes the key",
                                     {"csr": ["not for client certificates"]}, code="csr_not_allowed")
            person = {"person_id": old.person_id, "organization_id": old.organization_id,
                      "department_id": old.department_id, "email": old.emails[0] if old.emails else old.email,
                      "alternative_emails": list(old.emails[1:]), "first_name": old.name}
            return self.invite_person("client", {"person_id": old.person_id, "profile_id": old.profile_id,
                                                 "term_days": old.term_days, "comments": old.comments},
                                      person, requested_by, new_cert_id, requested_via)
        again = {"organization_id": old.organization_id, "department_id": old.department_id,
                 "profile_id": old.profile_id, "term_days": old.term_days, "csr": values["csr"] or old.csr_pem,
                 "common_name": old.common_name, "sans": list(old.sans), "custom_fields": dict(old.custom_fields),
                 "comments": old.comments, "person_id": old.person_id}
        person = ({"person_id": old.person_id, "organization_id": old.organization_id, "email": old.email,
                   "first_name": old.name} if old.person_id else None)
        return self.request_with_csr(old.cert_type, again, requested_by, False, new_cert_id,
                                     requester_email or old.email, person, requested_via,
                                     endpoint_id or old.endpoint_id, protocol_ref)

    @rpc(expected_exceptions=EXPECTED)
    def check_invitation_csv(self, cert_type: str, organization_id: str, profile_id: str, content: str) -> dict:
        """The rows of a CSV of persons to invite (invitation_csv.py), checked against the profile's terms, the
        organization's departments and its domains delegated for `cert_type`: {"rows": [...]} ready to invite
        (the gateway finds or creates each person, then calls invite_person), or 400 `csv_rows_invalid` naming
        every wrong row. Nothing is recorded here."""
        if cert_type not in contract.INVITED_TYPES:
            raise InvalidRequest("invitations are for client and code-signing certificates",
                                 {"cert_type": [str(cert_type)]}, code="unknown_cert_type")
        organization_id = parse_id(organization_id, "organization")
        profile = self._profile_of_type(profile_id, cert_type)
        self._subject(organization_id, None)
        now = self.store.clock()
        facts = self._current(self.org_facts, "orgs")

        def department_named(name: str) -> str | None:
            d = facts.projection.departments
            with facts.db.reader() as conn:
                return conn.execute(sa.select(d.c.department_id).where(
                    d.c.organization_id == organization_id, sa.func.lower(d.c.name) == name.lower())).scalar()

        def refused_emails(emails: list[str]) -> dict[str, str]:
            try:
                self._check_emails(organization_id, None, emails, now, cert_type)
            except PolicyViolation as refused:
                return {e: f"outside the domains delegated for {cert_type}: {why}"
                        for e, why in (refused.details or {}).get("emails", {}).items()}
            return {}

        rows, errors = invitation_csv.parse(content, list(profile["terms"]), department_named, refused_emails)
        if errors:
            raise InvalidRequest(f"{len(errors)} wrong row(s): nothing was invited; fix them and upload the file "
                                 "again", {"rows": errors}, code="csv_rows_invalid")
        return {"rows": rows}

    # ---- invitations (public: the link is the credential) ----------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def invitation(self, token: str) -> dict:
        """What the invitation page shows: {certificate (CertificateV1), profile_name, allow_empty_password,
        key_generation: ["browser", "server"], open (may still be answered)}."""
        row = self._by_token(token)
        state = self._cert_state(row["cert_id"])
        try:
            domain.check_invitation_open(state, self.store.clock())
            still_open = True
        except Exception:             # noqa: BLE001 — answered or expired: the page says which by the status
            still_open = False
        profile = self.get_profile(row["profile_id"])
        return {"certificate": view(row, self.store.clock()), "profile_name": profile["name"],
                "allow_empty_password": bool(state.invitation and state.invitation.allow_empty_password),
                "key_generation": ["browser", "server"] if row["cert_type"] == "client" else ["browser", "provided"],
                "open": still_open,
                "server_key_ready": row["key_origin"] == "server"}

    @rpc(expected_exceptions=EXPECTED)
    def answer_invitation(self, token: str, payload: dict) -> dict:
        """The person answers: `csr` (made in the browser) or `password` (the server makes the key; the PKCS#12
        download opens with it). Refused: a used or expired link (409), both or neither (400), a password
        shorter than 8 characters, or an empty one where not allowed (400 `password_too_short` /
        `empty_password_not_allowed`)."""
        values = load_payload(contract.AnswerInvitationV1(), payload)
        row = self._by_token(token)
        cert_id = row["cert_id"]
        state = self._cert_state(cert_id)
        now = self.store.clock()
        invitation = domain.check_invitation_open(state, now)
        if (values["csr"] is None) == (values["password"] is None):
            raise InvalidRequest("send either a CSR (a key made in your browser) or a password (the server makes "
                                 "the key)", {"csr": ["one of csr or password"]}, code="csr_or_password")
        profile = self._profile_of_type(invitation.profile_id, invitation.cert_type)
        master = None
        if values["password"] is not None:
            if invitation.cert_type != "client":
                raise InvalidRequest("a code-signing key is made by its holder (on a token or in the browser): send "
                                     "a CSR", {"password": ["only for client certificates"]}, code="csr_required")
            _check_password(values["password"], invitation.allow_empty_password)
            master = self._escrow_key_for(invitation.organization_id)
            key = keys.make_key()
            csr_text, origin = keys.csr_for(key, invitation.email), "server"
            # kept under the key's own reference: of two answers racing, the loser's key never replaces the winner's
            ref = keys.key_ref(cert_id, key.public_key())
            self.sealed_keys.keep(ref, keys.seal(key, token, values["password"], cert_id))
            if master is not None:               # encrypted to the master key before anything is recorded
                self.escrowed_keys.keep(ref, escrow.escrow(key, master.public_key_pem, cert_id))
        else:
            if invitation.cert_type == "client" and self._escrow_key_for(invitation.organization_id) is not None:
                raise PolicyViolation("this organization escrows client keys: let the server make the key (a key "
                                      "made in the browser cannot be escrowed)", {"csr": ["key escrow"]},
                                      code="escrow_needs_server_key")
            csr_text, origin = values["csr"], "client"
        parsed = parse_csr(csr_text)
        if invitation.cert_type == "client":
            names = profiles.check_request(profile, parsed, None, [], invitation.term_days, now,
                                           emails=list(invitation.emails))
            common_name, emails, subject = names.common_name, list(names.emails), {}
        else:
            common_name, emails = invitation.name, []
            profiles.check_request(profile, parsed, common_name, [], invitation.term_days, now)
            subject = rules.subject_for("code_signing", None,
                                        self._subject(invitation.organization_id, invitation.department_id))
        requested = CertRequested(cert_id, invitation.cert_type, invitation.organization_id, invitation.department_id,
                                  invitation.profile_id, invitation.term_days, common_name, [], emails,
                                  parsed.key_type, origin, csr_pem(parsed.der), subject, invitation.person_id,
                                  invitation.name, invitation.email, invitation.invited_by, "invitation", {},
                                  invitation.comments, origin == "server" and master is not None)
        answer = self._record_request(requested, profile, invitation.auto_approve)
        self.invitation_tokens.forget(cert_id)       # answered: the link now only downloads (with the password)
        return answer

    @rpc(expected_exceptions=EXPECTED)
    def download_invitation(self, token: str, password: str) -> dict:
        """The PKCS#12 of a server-made key, through the invitation link and with the person's password: the
        first download moves `issued` to `downloaded`."""
        row = self._by_token(token)
        if row["status"] not in ("issued", "downloaded"):
            raise InvalidRequest(f"the certificate is {row['status']}, not issued yet", {"status": [row["status"]]},
                                 code=f"cert_{row['status']}")
        kept = self.sealed_keys.get(keys.key_ref_of_certificate(row["cert_id"], row["certificate_pem"]))
        if kept is None:
            raise NotFound.of("key", row["cert_id"])
        key = keys.unseal(kept, token, password or "", row["cert_id"])
        content = keys.pkcs12_of(key, row["certificate_pem"], list(row["chain_pem"] or []), password or "",
                                 display_name(row))
        self._cert_downloaded(row, "p12", "invitation-link")
        return _file(content, "p12", row)

    # ---- deciding ---------------------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def approve_cert(self, cert_id: str, approver: str, payload: dict | None = None) -> dict:
        values = load_payload(contract.ApproveV1(), payload or {})
        cert_id = parse_id(cert_id, "certificate")

        def decide(history):
            state = domain.fold(decode(r.event_type, r.payload) for r in history)
            signing = None
            if state.request is not None:
                signing = _signing_request(state.request, self.get_profile(state.request.profile_id))
            return [e.encode() for e in domain.decide_approve(state, cert_id, approver, values["message"], signing)]

        result = self.store.execute(cert_stream(cert_id), decide)
        return self.command_result(result, False, certificate=self._cert_outcome_wait(cert_id))

    @rpc(expected_exceptions=EXPECTED)
    def decline_cert(self, cert_id: str, admin: str, payload: dict) -> dict:
        values = load_payload(contract.DeclineV1(), payload)
        cert_id = parse_id(cert_id, "certificate")
        result = self.store.execute(cert_stream(cert_id),
                                    _decider(domain.decide_decline, cert_id, admin, values["reason"]))
        self.invitation_tokens.forget(cert_id)
        return self.command_result(result, False, certificate=self.get_cert(cert_id))

    @rpc(expected_exceptions=EXPECTED)
    def revoke_cert(self, cert_id: str, admin: str, payload: dict | None = None) -> dict:
        values = load_payload(contract.RevokeV1(), payload or {})
        cert_id = parse_id(cert_id, "certificate")
        state = self._cert_state(cert_id)
        domain.decide_revoke(state, cert_id, values["reason"], admin)          # refuse before asking the CA
        self._call(self.ca_rpc.revoke_certificate, state.serial, {"reason": values["reason"]})
        result = self.store.execute(cert_stream(cert_id),
                                    _decider(domain.decide_revoke, cert_id, values["reason"], admin))
        return self.command_result(result, False, certificate=self.get_cert(cert_id))

    # ---- key escrow (dual control for recovery) ---------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def get_escrow(self, organization_id: str) -> dict:
        """The organization's key-escrow options and master public key (contracts.certificates.EscrowV1)."""
        organization_id = parse_id(organization_id, "organization")
        options = self._escrow_options(organization_id)
        row = self.store.read(lambda conn: self._certs.escrow_key(conn, organization_id)) or {}
        return {"organization_id": organization_id, "options": options, "initialized": bool(row),
                "public_key_pem": row.get("public_key_pem"), "public_key_sha256": row.get("public_key_sha256"),
                "key_origin": row.get("key_origin"), "initialized_by": row.get("initialized_by"),
                "initialized_at": row["initialized_at"].isoformat() if row.get("initialized_at") else None}

    @rpc(expected_exceptions=EXPECTED)
    def initialize_escrow(self, organization_id: str, payload: dict, initialized_by: str) -> dict:
        """"Initialize encryption" (contracts.certificates.InitializeEscrowV1): the master public key is recorded;
        a server-made private key is answered this once (`private_key_pem`, encrypted with the passphrase)."""
        values = load_payload(contract.InitializeEscrowV1(), payload)
        organization_id = parse_id(organization_id, "organization")
        if (values["public_key_pem"] is None) == (values["passphrase"] is None):
            raise InvalidRequest("send either public_key_pem (a master key pair you made) or passphrase (the server "
                                 "makes the pair and answers its private key once, encrypted with it)",
                                 {"public_key_pem": ["one of public_key_pem or passphrase"]},
                                 code="public_key_or_passphrase")
        options = self._escrow_options(organization_id)
        private_pem = None
        if values["passphrase"] is not None:
            master = escrow.new_master_key()
            private_pem = escrow.private_pem(master, values["passphrase"])
            public_pem, fingerprint = escrow.checked_public_key(escrow.public_pem(master))
            origin = "server"
        else:
            public_pem, fingerprint = escrow.checked_public_key(values["public_key_pem"])
            origin = "administrator"
        initialized = EscrowInitialized(organization_id, public_pem, fingerprint, origin, initialized_by)
        result = self.store.execute(escrow_stream(organization_id), decider(
            domain.fold_escrow, decode, domain.decide_initialize_escrow, initialized, options))
        log.info("escrow_initialized", organization_id=organization_id, public_key_sha256=fingerprint, origin=origin)
        return self.command_result(result, False, escrow=self.get_escrow(organization_id), private_key_pem=private_pem)

    @rpc(expected_exceptions=EXPECTED)
    def request_recovery(self, cert_id: str, requested_by: str, payload: dict) -> dict:
        values = load_payload(contract.RecoveryRequestV1(), payload)
        cert_id = parse_id(cert_id, "certificate")
        result = self.store.execute(cert_stream(cert_id), _decider(domain.decide_request_recovery, cert_id,
                                                                   requested_by, values["reason"]))
        return self.command_result(result, False, certificate=self.get_cert(cert_id))

    @rpc(expected_exceptions=EXPECTED)
    def approve_recovery(self, cert_id: str, approved_by: str) -> dict:
        cert_id = parse_id(cert_id, "certificate")
        result = self.store.execute(cert_stream(cert_id), _decider(domain.decide_approve_recovery, cert_id,
                                                                   approved_by))
        return self.command_result(result, False, certificate=self.get_cert(cert_id))

    @rpc(expected_exceptions=EXPECTED)
    def recover_key(self, cert_id: str, recovered_by: str, payload: dict) -> dict:
        """The escrowed key as PKCS#12 (contracts.certificates.RecoverKeyV1), to the administrator who asked,
        after another approved; the certificate is revoked (key_compromise) at the CA and here. The master private
        key is used for this one decryption and kept nowhere."""
        values = load_payload(contract.RecoverKeyV1(), payload)
        cert_id = parse_id(cert_id, "certificate")
        state = self._cert_state(cert_id)
        domain.decide_recover(state, cert_id, recovered_by, RECOVERY_REASON)        # refuse before any work
        row = self._cert_record(cert_id)
        kept = self.escrowed_keys.get(keys.key_ref_of_certificate(cert_id, row["certificate_pem"] or ""))
        if kept is None:
            raise Conflict("the escrowed key is missing from this installation's database", {"cert_id": ["lost"]},
                           code="escrowed_key_missing")
        master = escrow.load_master_key(values["master_private_key_pem"], values["passphrase"])
        key = escrow.recover(kept, master, cert_id)
        content = keys.pkcs12_of(key, row["certificate_pem"], list(row["chain_pem"] or []),
                                 values["pkcs12_password"], display_name(row))
        if state.status in domain.IN_USE:
            try:
                self._call(self.ca_rpc.revoke_certificate, state.serial, {"reason": RECOVERY_REASON})
            except Conflict:
                pass                                  # revoked at the CA already
        self.store.execute(cert_stream(cert_id), _decider(domain.decide_recover, cert_id, recovered_by,
                                                          RECOVERY_REASON))
        log.info("escrowed_key_recovered", cert_id=cert_id, recovered_by=recovered_by)
        return _file(content, "p12", row)

    # ---- reading ----------------------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def get_cert(self, cert_id: str) -> dict:
        cert_id = parse_id(cert_id, "certificate")
        row = self.store.read(lambda conn: self._certs.record(conn, cert_id))
        if row is None:
            raise NotFound.of("certificate", cert_id)
        return view(row, self.store.clock())

    @rpc(expected_exceptions=EXPECTED)
    def list_certs(self, cert_type: str, scope: dict, filters: dict, offset: int = 0, limit: int = 50,
                   count_only: bool = False) -> dict:
        if cert_type not in contract.CERT_TYPES:
            raise InvalidRequest(f"unknown certificate type {cert_type!r}", {"cert_type": [str(cert_type)]})
        return self.store.read(lambda conn: self._certs.page(conn, cert_type, scope, filters, max(0, int(offset)),
                                                             min(500, int(limit)), self.store.clock(), count_only))

    @rpc(expected_exceptions=EXPECTED)
    def cert_pem(self, cert_id: str) -> dict:
        """{status, certificate_pem (null before issuance), chain_pem}: for reading, not a download."""
        row = self._cert_record(cert_id)
        return {"status": row["status"], "certificate_pem": row["certificate_pem"],
                "chain_pem": list(row["chain_pem"] or [])}

    @rpc(expected_exceptions=EXPECTED)
    def download_cert(self, cert_id: str, fmt: str, by: str) -> dict:
        """The certificate (never a key) in a format of DOWNLOAD_FORMATS but p12, which needs the person's
        password and the invitation link (download_invitation)."""
        row = self._cert_record(cert_id)
        return self._cert_file(row, fmt, by)

    @rpc(expected_exceptions=EXPECTED)
    def collect_cert(self, collection_id: str, fmt: str) -> dict:
        row = self.store.read(lambda conn: self._certs.by_collection(conn, _sha256(str(collection_id))))
        if row is None:
            raise NotFound.of("collection", "link")
        return self._cert_file(row, fmt, "collection-link")

    # ---- mail (rendered for notify, which sends it) ---------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def invitation_mail(self, cert_id: str) -> dict:
        row = self.store.read(lambda conn: self._certs.record(conn, str(cert_id))) or {}
        kept = self.invitation_tokens.get(str(cert_id))
        if not row or kept is None or row["status"] != "invited":
            raise NotFound.of("invitation", cert_id)
        link = f"{self.context.settings.base_url}/forms/invitations/{kept['token']}"
        if row["cert_type"] == "client":
            what = f"a client (S/MIME) certificate for {', '.join(row['emails'])}"
            how = ("make your key (in your browser, or let the server make it and protect it with a password you "
                   "choose)")
        else:
            what = f"a code-signing certificate for {row['name']}"
            how = "send the CSR of your signing key (made on your token or in your browser)"
        text = (f"Hello {row['name'] or row['email']},\n\nyou are invited to collect {what}. Open this link to prove "
                f"your mailbox and {how}:\n\n  {link}\n\nThe link works once and until "
                f"{row['invitation_expires_at'].isoformat()[:16]} UTC. Keep it: after answering, the same link "
                "shows your request and downloads what is yours.\n")
        kind = "client" if row["cert_type"] == "client" else "code-signing"
        return {"to": row["email"], "subject": f"Your {kind} certificate invitation", "text": text}

    @rpc(expected_exceptions=EXPECTED)
    def cert_collection_mail(self, cert_id: str) -> dict:
        row = self.store.read(lambda conn: self._certs.record(conn, str(cert_id))) or {}
        kept = self.cert_collection_ids.get(str(cert_id))
        if not row or kept is None or not row["collection_to"]:
            raise NotFound.of("collection", cert_id)
        link = f"{self.context.settings.base_url}/collect/cert/{kept['collection_id']}"
        formats = "\n".join(f"  {link}?format={name}  ({what})"
                             for name, (_m, _e, what) in contract.DOWNLOAD_FORMATS.items() if name != "p12")
        text = (f"The {row['cert_type'].replace('_', '-')} certificate for {display_name(row)} (serial "
                f"{row['serial']}) has been issued. Download it here:\n\n{formats}\n")
        if row["key_origin"] == "server":
            text += ("\nYour key and certificate as PKCS#12: open the link of your invitation mail again and "
                     "enter the password you chose.\n")
        return {"to": row["collection_to"], "subject": f"Your certificate for {display_name(row)}", "text": text}

    # ---- a person's identity changed: their client certificates no longer name them (SCM's rule) -------------
    def prepare_person_revocations(self, envelopes) -> list[tuple[str, str, str]]:
        """Before the transaction (follower.PreparedPolicy): for each `person_identity_changed` (email or name —
        not a secret ID change, which identity records as another event), revoke the person's client
        certificates in use at the CA; [(cert_id, serial, actor)] for the policy to record. A CA that does not
        answer fails the batch, which is tried again (a certificate the CA revoked already counts as revoked)."""
        revoked = []
        for envelope in envelopes:
            if envelope.event_type != PERSON_IDENTITY_CHANGED:
                continue
            person_id = str(envelope.payload["person_id"])
            in_use = self.store.read(lambda conn: self._certs.in_use_of_person(conn, person_id))
            for cert_id in in_use:
                row = self._cert_record(cert_id)
                try:
                    self._call(self.ca_rpc.revoke_certificate, row["serial"], {"reason": PERSON_CHANGE_REASON})
                except Conflict:
                    pass                         # revoked at the CA already (a retried batch)
                revoked.append((cert_id, row["serial"], envelope.actor or "system:identity"))
        return revoked

    def revoke_for_person_changes(self, unit, envelopes, prepared) -> None:
        """Record the revocations prepare_person_revocations made, with the tracking row."""
        appends = []
        for cert_id, _serial, actor in prepared:
            history = self.store.load(cert_stream(cert_id), unit.conn)
            state = domain.fold(decode(r.event_type, r.payload) for r in history)
            if state.status not in domain.IN_USE:
                continue
            events = domain.decide_revoke(state, cert_id, PERSON_CHANGE_REASON, actor)
            appends.append(StreamAppend(cert_stream(cert_id), len(history), tuple(e.encode() for e in events)))
            log.info("client_certificate_revoked_for_person_change", cert_id=cert_id)
        if appends:
            last = envelopes[-1]
            unit.append_streams(appends, {"correlation_id": last.correlation_id, "actor": "system:enrollment",
                                          "causation_id": last.event_id})

    # ---- the pipeline's last step (called by record_outcomes) ------------------------------------------------
    def _cert_outcome(self, unit, envelope, cert_id: str, versions: dict) -> StreamAppend | None:
        p = envelope.payload
        stream = cert_stream(cert_id)
        history = self.store.load(stream, unit.conn)
        state = domain.fold(decode(r.event_type, r.payload) for r in history)
        application = next((r.event_id for r in reversed(history) if r.event_type == contract.APPLIED_EVENT), None)
        if envelope.event_type == "certificate_issued.v1":
            collection_id = secrets.token_urlsafe(24)
            to = state.request.email if state.request else None
            outcome = CertIssued(cert_id, state.cert_type, p["serial"], p["ca_id"], p["not_before"], p["not_after"],
                                 p["sha256_fingerprint"], p["certificate_pem"], list(p.get("chain_pem") or []),
                                 _sha256(collection_id), to)
        else:
            outcome = CertIssuanceFailed(cert_id, state.cert_type, p["reason"], list(p["findings"]), p["code"])
        events = domain.decide_outcome(state, application == p["application_id"] and stream not in versions,
                                       outcome)
        if not events:
            log.error("ca_outcome_not_applicable", cert_id=cert_id, status=str(state.status),
                      application_id=p["application_id"], serial=p.get("serial"))
            return None
        if isinstance(outcome, CertIssued):
            self.cert_collection_ids.keep(cert_id, {"collection_id": collection_id}, unit.conn)
        versions[stream] = len(history)
        unit.after_commit.append(lambda: self.waiting.done(cert_id))
        return StreamAppend(stream, len(history), tuple(e.encode() for e in events))

    # ---- helpers ----------------------------------------------------------------------------------------------
    @property
    def _certs(self) -> CertsView:
        return self.store.projection(CertsView)

    def _cert_state(self, cert_id: str) -> domain.Cert:
        return domain.fold(decode(r.event_type, r.payload) for r in self.store.load(cert_stream(cert_id)))

    def _cert_record(self, cert_id: str) -> dict:
        cert_id = parse_id(cert_id, "certificate")
        row = self.store.read(lambda conn: self._certs.record(conn, cert_id))
        if row is None:
            raise NotFound.of("certificate", cert_id)
        return row

    def _by_token(self, token: str) -> dict:
        if not isinstance(token, str) or not 16 <= len(token) <= 64:
            raise NotFound.of("invitation", "link")
        row = self.store.read(lambda conn: self._certs.by_invitation(conn, _sha256(token)))
        if row is None:
            raise NotFound.of("invitation", "link")
        return row

    def _profile_of_type(self, profile_id, cert_type: str) -> dict:
        profile = self.get_profile(str(profile_id))
        if profile["cert_type"] != cert_type:
            raise InvalidRequest(f"the profile is a {profile['cert_type']} profile, not {cert_type}",
                                 {"profile_id": [profile["cert_type"]]}, code=f"profile_not_{cert_type}")
        return profile

    def _escrow_options(self, organization_id: str) -> dict:
        def options() -> dict:
            facts = self._current(self.org_facts, "orgs")
            with facts.db.reader() as conn:
                return facts.projection.key_escrow(conn, organization_id)

        try:
            return options()
        except NotFound:
            if not self.catch_up_org_facts():
                raise
            return options()

    def _escrow_key_for(self, organization_id: str):
        """The master key an organization's client keys are escrowed to (None without key escrow); 409
        `escrow_not_initialized` for an escrow organization whose encryption is not initialized."""
        history = self.store.load(escrow_stream(organization_id))
        return domain.check_escrow_ready(self._escrow_options(organization_id),
                                         domain.fold_escrow(decode(r.event_type, r.payload) for r in history))

    def _check_emails(self, organization_id: str, department_id: str | None, emails: list[str], now,
                      cert_type: str = "client") -> None:
        """Each email's domain delegated (approved, active) to the organization or department for `cert_type`."""
        domains = list(dict.fromkeys(e.rsplit("@", 1)[1] for e in emails))
        try:
            self._check_names(organization_id, department_id, domains, {"trust_class": "private"}, now,
                              cert_type=cert_type)
        except PolicyViolation as refused:
            refused_domains = (refused.details or {}).get("names", {})
            bad = {e: refused_domains[e.rsplit("@", 1)[1]] for e in emails if e.rsplit("@", 1)[1] in refused_domains}
            raise PolicyViolation(f"emails outside the domains delegated to this organization for {cert_type} "
                                  "certificates: " + ", ".join(bad), {"emails": bad},
                                  code="email_not_delegated") from None

    def _record_request(self, requested: CertRequested, profile: dict, auto_approve: bool) -> dict:
        """Append the request (approved and applied with it when the profile needs no approval or the caller
        auto-approves), then wait for the CA's answer as an SSL request does."""
        automatic = auto_approve or not profile["requires_approval"]
        signing = _signing_request(requested, profile)
        if not automatic:
            self._call(self.ca_rpc.issue_certificate, {**signing, "dry_run": True})      # refuse at once
        now = self.store.clock()
        result = self.store.execute(cert_stream(requested.cert_id), _decider(
            domain.decide_request, requested, requested.requested_by if automatic else None, signing, now))
        certificate = self._cert_outcome_wait(requested.cert_id) if automatic else self.get_cert(requested.cert_id)
        return self.command_result(result, False, certificate=certificate)

    def _cert_outcome_wait(self, cert_id: str) -> dict:
        seconds = min(self.context.settings.issuance_wait, 0.6 * self.context.settings.rpc_timeout)
        self.waiting.wait(cert_id, seconds, lambda: self.get_cert(cert_id)["status"] != "applied")
        return self.get_cert(cert_id)

    def _cert_file(self, row: dict, fmt: str, by: str) -> dict:
        if fmt == "p12":
            raise InvalidRequest("PKCS#12 holds the key: it is downloaded through the invitation link with the "
                                 "password chosen then", {"format": ["p12: through the invitation link"]},
                                 code="pkcs12_needs_password")
        if fmt not in contract.DOWNLOAD_FORMATS:
            raise InvalidRequest(f"format must be one of {', '.join(contract.DOWNLOAD_FORMATS)}",
                                 {"format": ["unknown"]}, code="unknown_format")
        if row["status"] not in ("issued", "downloaded", "revoked"):
            raise InvalidRequest(f"the certificate is {row['status']}: there is nothing to download yet",
                                 {"status": [row["status"]]}, code=f"cert_{row['status']}")
        content = render(fmt, row["certificate_pem"], list(row["chain_pem"] or []))
        self._cert_downloaded(row, fmt, by)
        return _file(content, fmt, row)

    def _cert_downloaded(self, row: dict, fmt: str, by: str) -> None:
        if row["status"] == "issued":
            self.store.execute(cert_stream(row["cert_id"]),
                               _decider(domain.decide_downloaded, row["cert_id"], fmt, by))



def _signing_request(requested: CertRequested, profile: dict) -> dict:
    """What the CA is asked to sign (contracts/ca.py IssueCertificateV2, without dry_run)."""
    key_usage, eku = profiles.leaf_extensions(profile, requested.key_type)
    return {"request_id": f"{requested.cert_type}:{requested.cert_id}", "ca_id": profile.get("ca_id"),
            "cert_type": requested.cert_type, "trust_class": "private", "csr_pem": requested.csr_pem,
            "common_name": requested.common_name, "sans": list(requested.sans), "emails": list(requested.emails),
            "subject": {} if requested.cert_type == "client" else dict(requested.subject),
            "term_days": requested.term_days, "key_usage": sorted(key_usage), "extended_key_usage": list(eku)}


def _person_emails(person: dict) -> list[str]:
    """The person's email and alternative emails, normalised, without repeats (the first is their email)."""
    emails = [person["email"], *(person.get("alternative_emails") or [])]
    return list(dict.fromkeys(rules.normalised_email("emails", e) for e in emails if e and e.strip()))


def _person_name(person: dict) -> str:
    parts = (person.get("first_name"), person.get("middle_name"), person.get("last_name"))
    return " ".join(p for p in parts if p) or person["email"]


def _check_password(password: str, allow_empty: bool) -> None:
    if password == "":
        if not allow_empty:
            raise InvalidRequest("an empty PKCS#12 password is not allowed here: choose one of at least "
                                 f"{contract.MIN_PASSWORD} characters", {"password": ["empty"]},
                                 code="empty_password_not_allowed")
        return
    if len(password) < contract.MIN_PASSWORD:
        raise InvalidRequest(f"the password needs at least {contract.MIN_PASSWORD} characters",
                             {"password": [f"at least {contract.MIN_PASSWORD} characters"]}, code="password_too_short")


def _file(content: bytes, fmt: str, row: dict) -> dict:
    mimetype, extension, _ = contract.DOWNLOAD_FORMATS[fmt]
    name = display_name(row).replace("@", "_at_").replace(" ", "_").replace("/", "_")
    return {"content_b64": base64.b64encode(content).decode(), "mimetype": mimetype, "filename": f"{name}.{extension}"}


def _decider(decide, *args):
    return decider(domain.fold, decode, decide, *args)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()

