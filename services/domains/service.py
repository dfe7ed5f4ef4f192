"""The domains service: nameko entrypoints only. Each loads its payload with a contract schema, normalises names
(and networks), does the outside I/O a DCV check needs through adapters (DNS, HTTP), and lets the store run
load -> decide -> append. Who may do what is the gateway's decision; this service enforces what the domain or
network itself says (pending state, single-use values, expiry, CAA, networks never overlap).

The lookups of one request share one deadline below the RPC timeout (adapters/deadline.py). A lookup that gets no
answer — a DNS server that fails or is silent, a web server that cannot be reached — is refused with 422
`<lookup>_lookup_failed` naming the lookup and the server, and records nothing: it says nothing about control of
the domain. An answer that does not prove control (no such record, wrong file content, HTTP 404) is a failed
check, recorded as such.

ACME challenges are a pipeline (DESIGN §3.6): enrollment appends `acme_challenge_submitted`; this service's
processor checks a batch of them at once before its transaction (`prepare_acme_checks`, adapters/acme_checks.py:
no lock is held meanwhile) and then appends each outcome (`check_acme_challenges`), `acme_challenge_checked`, on the covering domain's stream (and, for the domain's own name, its DCV
evidence) with the tracking row; enrollment's processor turns that into the authorization's status."""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import eventlet
import sqlalchemy as sa
import structlog
from marshmallow import ValidationError
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from contracts import acme as acme_contract
from contracts import coverage
from contracts import domains as contract
from contracts import names
from contracts.errors import EXPECTED, Conflict, InvalidRequest, NotFound, PolicyViolation
from services.domains import domain, network
from services.domains.adapters.acme_checks import AcmeChecks, CheckResult, caa_record, invalid
from services.domains.adapters.deadline import Deadline
from services.domains.adapters.dns import DnsClient, DnsLookupFailed
from services.domains.adapters.http_fetch import FetchFailed, HttpFetcher
from services.domains.caa import decide_caa
from services.domains.commands import (AddDelegation, Caa, CreateDomain, CreateNetwork, DecideDelegation,
                                       DeleteDomain, DeleteNetwork, NewDelegation, RecordAcmeCheck, RecordCheck,
                                       RemoveDelegation, StartDcv, UpdateDomain, UpdateNetwork)
from services.domains.events import decode
from services.domains.projections import DomainsView, NetworksView
from services.runtime.entrypoint_helpers import decider, load_payload, parse_id
from services.runtime.nameko_glue import (Context, EventSourced, EventStoreProvider, open_database, processes,
                                          settings_of)
from services.runtime.store import StreamAppend
from services.runtime.kept_secrets import KeptSecrets
from services.runtime.position_cache import PositionCache

log = structlog.get_logger(__name__)


def _stream(domain_id: str) -> str:
    return f"domain-{domain_id}"


def _network_stream(network_id: str) -> str:
    return f"network-{network_id}"


def _decider(decide, cmd):
    return decider(domain.fold, decode, decide, cmd)


def _network_decider(decide, cmd):
    return decider(network.fold, decode, decide, cmd)


# what a fetch raises when no web server answered: the lookup failed (422), it is not a failed check
UNANSWERED_FETCHES = frozenset({"http_timeout", "http_connect_failed", "http_tls_failed"})


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class DcvTools(DependencyProvider):
    """The outside world of DCV, built once per process from settings: DNS client, HTTP fetcher, mail codes."""

    def setup(self):
        settings = settings_of(self.container)
        self.settings = settings
        budget = self.lookup_deadline().seconds
        # a try of a DNS lookup gets at most half the budget, so the retry always gets its chance
        self.dns = DnsClient(settings.dns_resolver, min(settings.dns_timeout, budget / 2))
        self.http = HttpFetcher(self.dns.addresses, settings.dcv_http_allow_private,
                                min(settings.dcv_http_timeout, budget))
        # the email-DCV codes, kept until used: events hold only their sha256 (see KeptSecrets)
        self.mail_codes = KeptSecrets(open_database(settings, self.container.service_name), "dcv_mail_secrets")
        self.may_issue_cache = PositionCache()
        # ACME challenges: each check bounded by the DCV fetch timeout (they run in a processor, not an RPC)
        self.acme = AcmeChecks(self.dns, settings.dcv_http_allow_private, settings.acme_http_port,
                               settings.acme_tls_port, settings.dcv_http_timeout, settings.caa_identities)

    def lookup_deadline(self) -> Deadline:
        """The deadline of every lookup one request makes: a share of the RPC timeout its caller waits."""
        return Deadline.for_rpc(self.settings.rpc_timeout)

    def get_dependency(self, worker_ctx):
        return self


ACME_CHECKS_AT_ONCE = 20       # challenges of one batch checked concurrently (each bounded by its timeout)


@dataclass(frozen=True)
class AcmeTarget:
    """What covers a submitted challenge's identifier for its organization (department): a domain entry or a
    network, or nothing (`kind` None)."""
    kind: str | None              # "domain" | "network" | None
    target_id: str | None
    name: str | None              # the domain entry's name (a network's CIDR)


@dataclass(frozen=True)
class AcmeOutcome:
    result: CheckResult
    caa: dict | None              # public: the CAA the check found
    evidence_caa: Caa | None      # the domain's own name: CAA as REST DCV checks it, for its evidence


class DomainsService(EventSourced):
    name = contract.SOURCE

    store = EventStoreProvider(projections=[DomainsView, NetworksView])
    context = Context()
    tools = DcvTools()
    acme_checks = processes("enrollment", policy="check_acme_challenges", prepare="prepare_acme_checks",
                            types=acme_contract.SUBMITTED_EVENTS)

    # ---- domains ------------------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def create_domain(self, fields: dict, requested_by: str, approved: bool, domain_id: str | None = None) -> dict:
        values = load_payload(contract.CreateDomainV1(), fields)
        name = names.normalise(values["name"])
        if self.store.read(lambda conn: self._view.has_name(conn, name)):
            raise Conflict(f"the domain {name} exists already", {"name": ["exists"]}, code="domain_exists")
        delegations = tuple(self._new_delegation(d) for d in values["delegations"])
        cmd = CreateDomain(parse_id(domain_id or uuid.uuid4(), "domain"), name, values["description"],
                           values["active"], delegations, requested_by, bool(approved))
        result = self.store.execute(_stream(cmd.domain_id), _decider(domain.decide_create_domain, cmd))
        return self.command_result(result, domain=self.get_domain(cmd.domain_id))

    @rpc(expected_exceptions=EXPECTED)
    def update_domain(self, domain_id: str, changes: dict) -> dict:
        values = load_payload(contract.UpdateDomainV1(), changes)
        cmd = UpdateDomain(parse_id(domain_id, "domain"), values)
        result = self.store.execute(_stream(cmd.domain_id), _decider(domain.decide_update_domain, cmd))
        return self.command_result(result, domain=self.get_domain(cmd.domain_id))

    @rpc(expected_exceptions=EXPECTED)
    def delete_domain(self, domain_id: str) -> dict:
        cmd = DeleteDomain(parse_id(domain_id, "domain"))
        return self.command_result(self.store.execute(_stream(cmd.domain_id),
                                                      _decider(domain.decide_delete_domain, cmd)))

    @rpc(expected_exceptions=EXPECTED)
    def get_domain(self, domain_id: str) -> dict:
        domain_id = parse_id(domain_id, "domain")
        found = self.store.read(lambda conn: self._view.get(conn, domain_id, self.store.clock()))
        if found is None:
            raise NotFound.of("domain", domain_id)
        return found

    @rpc(expected_exceptions=EXPECTED)
    def list_domains(self, scope: dict, filters: dict, offset: int = 0, limit: int = 100) -> dict:
        return self.store.read(lambda conn: self._view.page(conn, scope, filters, max(0, int(offset)),
                                                            min(500, int(limit)), self.store.clock()))

    # ---- delegations ------------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def add_delegation(self, domain_id: str, fields: dict, requested_by: str, approved: bool) -> dict:
        values = load_payload(contract.DelegationFieldsV1(), fields)
        cmd = AddDelegation(parse_id(domain_id, "domain"), self._new_delegation(values), requested_by, bool(approved))
        result = self.store.execute(_stream(cmd.target_id), _decider(domain.decide_add_delegation, cmd))
        return self.command_result(result, domain=self.get_domain(cmd.target_id),
                                   delegation_id=cmd.delegation.delegation_id)

    @rpc(expected_exceptions=EXPECTED)
    def remove_delegation(self, domain_id: str, delegation_id: str) -> dict:
        cmd = RemoveDelegation(parse_id(domain_id, "domain"), parse_id(delegation_id, "delegation"))
        result = self.store.execute(_stream(cmd.target_id), _decider(domain.decide_remove_delegation, cmd))
        return self.command_result(result, domain=self.get_domain(cmd.target_id))

    @rpc(expected_exceptions=EXPECTED)
    def decide_delegation(self, domain_id: str, delegation_id: str, admin_id: str, approve: bool,
                          payload: dict | None = None) -> dict:
        values = load_payload(contract.RejectDelegationV1(), payload or {})
        cmd = DecideDelegation(parse_id(domain_id, "domain"), parse_id(delegation_id, "delegation"), admin_id,
                               bool(approve), values["reason"])
        result = self.store.execute(_stream(cmd.target_id), _decider(domain.decide_delegation, cmd))
        return self.command_result(result, domain=self.get_domain(cmd.target_id))

    # ---- IP networks (delegated like domains; no DCV) -----------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def create_network(self, fields: dict, requested_by: str, approved: bool, network_id: str | None = None) -> dict:
        """A network and its delegations. Bad CIDRs are 400 (network.parse_network); one that overlaps an existing
        network is 409 overlapping_network, decided in the append transaction (projections.NetworksView)."""
        values = load_payload(contract.CreateNetworkV1(), fields)
        cidr = str(network.parse_network(values["cidr"]))
        delegations = tuple(self._new_delegation(d) for d in values["delegations"])
        cmd = CreateNetwork(parse_id(network_id or uuid.uuid4(), "network"), cidr, values["description"],
                            values["active"], delegations, requested_by, bool(approved))
        result = self.store.execute(_network_stream(cmd.network_id),
                                    _network_decider(network.decide_create_network, cmd))
        return self.command_result(result, network=self.get_network(cmd.network_id))

    @rpc(expected_exceptions=EXPECTED)
    def update_network(self, network_id: str, changes: dict) -> dict:
        values = load_payload(contract.UpdateNetworkV1(), changes)
        cmd = UpdateNetwork(parse_id(network_id, "network"), values)
        result = self.store.execute(_network_stream(cmd.network_id),
                                    _network_decider(network.decide_update_network, cmd))
        return self.command_result(result, network=self.get_network(cmd.network_id))

    @rpc(expected_exceptions=EXPECTED)
    def delete_network(self, network_id: str) -> dict:
        cmd = DeleteNetwork(parse_id(network_id, "network"))
        return self.command_result(self.store.execute(_network_stream(cmd.network_id),
                                                      _network_decider(network.decide_delete_network, cmd)))

    @rpc(expected_exceptions=EXPECTED)
    def get_network(self, network_id: str) -> dict:
        network_id = parse_id(network_id, "network")
        found = self.store.read(lambda conn: self._networks.get(conn, network_id))
        if found is None:
            raise NotFound.of("network", network_id)
        return found

    @rpc(expected_exceptions=EXPECTED)
    def list_networks(self, scope: dict, filters: dict, offset: int = 0, limit: int = 100) -> dict:
        """`filters`: cidr (part of the CIDR), contains (an IP address), organization_id, delegation_status,
        active — as list_domains."""
        filters = dict(filters)
        if filters.get("contains"):
            filters["contains"] = ipaddress.ip_address(names.ip_address(filters["contains"]))
        return self.store.read(lambda conn: self._networks.page(conn, scope, filters, max(0, int(offset)),
                                                                min(500, int(limit))))

    @rpc(expected_exceptions=EXPECTED)
    def add_network_delegation(self, network_id: str, fields: dict, requested_by: str, approved: bool) -> dict:
        values = load_payload(contract.DelegationFieldsV1(), fields)
        cmd = AddDelegation(parse_id(network_id, "network"), self._new_delegation(values), requested_by,
                            bool(approved))
        result = self.store.execute(_network_stream(cmd.target_id),
                                    _network_decider(network.decide_add_delegation, cmd))
        return self.command_result(result, network=self.get_network(cmd.target_id),
                                   delegation_id=cmd.delegation.delegation_id)

    @rpc(expected_exceptions=EXPECTED)
    def remove_network_delegation(self, network_id: str, delegation_id: str) -> dict:
        cmd = RemoveDelegation(parse_id(network_id, "network"), parse_id(delegation_id, "delegation"))
        result = self.store.execute(_network_stream(cmd.target_id),
                                    _network_decider(network.decide_remove_delegation, cmd))
        return self.command_result(result, network=self.get_network(cmd.target_id))

    @rpc(expected_exceptions=EXPECTED)
    def decide_network_delegation(self, network_id: str, delegation_id: str, admin_id: str, approve: bool,
                                  payload: dict | None = None) -> dict:
        values = load_payload(contract.RejectDelegationV1(), payload or {})
        cmd = DecideDelegation(parse_id(network_id, "network"), parse_id(delegation_id, "delegation"), admin_id,
                               bool(approve), values["reason"])
        result = self.store.execute(_network_stream(cmd.target_id),
                                    _network_decider(network.decide_delegation, cmd))
        return self.command_result(result, network=self.get_network(cmd.target_id))

    # ---- domain control validation ----------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def start_dcv(self, domain_id: str, payload: dict, started_by: str) -> dict:
        values = load_payload(contract.StartDcvV1(), payload)
        settings = self.tools.settings
        code = secrets.token_urlsafe(18) if values["method"] == "email" else None     # 144 bits
        cmd = StartDcv(parse_id(domain_id, "domain"), str(uuid.uuid4()), values["method"], values["email_address"],
                       secrets.token_hex(20), secrets.token_hex(16), _sha256(code) if code else None,
                       started_by, self.store.clock(), settings.dcv_token_days,
                       (settings.dcv_http_port, settings.dcv_https_port), settings.dcv_cname_zone)
        result = self.store.execute(_stream(cmd.domain_id), _decider(domain.decide_start_dcv, cmd))
        if code is not None:
            self.tools.mail_codes.keep(cmd.dcv_id, {"domain_id": cmd.domain_id, "code": code})
        log.info("dcv_started", domain_id=cmd.domain_id, dcv_id=cmd.dcv_id, method=cmd.method)
        return self.command_result(result, domain=self.get_domain(cmd.domain_id), dcv_id=cmd.dcv_id)

    @rpc(expected_exceptions=EXPECTED)
    def check_dcv(self, domain_id: str) -> dict:
        """Check the open HTTP(S)/DNS attempt now; record evidence (after CAA) or the failure."""
        domain_id = parse_id(domain_id, "domain")
        state = domain.fold(decode(r.event_type, r.payload) for r in self.store.load(_stream(domain_id)))
        attempt = domain.open_attempt(state, domain_id, self.store.clock())
        if attempt.method == "email":
            raise InvalidRequest("an email DCV is completed with the code from the mail (submit it), not checked",
                                 {"method": ["email"]}, code="dcv_email_needs_code")
        deadline = self.tools.lookup_deadline()
        proven, reason, detail = self._check(attempt, deadline)
        return self._record(state, attempt, proven, reason, detail, deadline)

    @rpc(expected_exceptions=EXPECTED)
    def submit_dcv_code(self, dcv_id: str, payload: dict) -> dict:
        """Complete an email DCV with the code from the mail. A wrong code is refused (400) and records nothing."""
        values = load_payload(contract.SubmitDcvCodeV1(), payload)
        dcv_id = parse_id(dcv_id, "dcv")
        kept = self.tools.mail_codes.get(dcv_id)
        domain_id = kept["domain_id"] if kept else self._domain_of_dcv(dcv_id)
        state = domain.fold(decode(r.event_type, r.payload) for r in self.store.load(_stream(domain_id)))
        attempt = domain.open_attempt(state, domain_id, self.store.clock(), dcv_id)
        if attempt.method != "email":
            raise InvalidRequest("this DCV is not an email DCV", {"dcv_id": ["not email"]}, code="dcv_not_email")
        if not hmac.compare_digest(_sha256(values["code"].strip()), attempt.code_sha256 or ""):
            raise InvalidRequest("the code is not the one in the mail", {"code": ["wrong"]}, code="dcv_code_wrong")
        answer = self._record(state, attempt, True, None, f"code from the mail to {attempt.email_address} entered",
                              self.tools.lookup_deadline())
        self.tools.mail_codes.forget(dcv_id)
        return answer

    @rpc(expected_exceptions=EXPECTED)
    def dcv_mail(self, dcv_id: str) -> dict:
        """The mail an email DCV sends (for notify): to, subject, text with the link and the code."""
        dcv_id = parse_id(dcv_id, "dcv")
        kept = self.tools.mail_codes.get(dcv_id)
        if kept is None:
            raise NotFound.of("dcv", dcv_id)
        found = self.get_domain(kept["domain_id"])
        if found["dcv"]["dcv_id"] != dcv_id or found["dcv"]["status"] != "submitted":
            raise NotFound.of("dcv", dcv_id)
        link = f"{self.tools.settings.base_url}/dcv/{dcv_id}"
        base = names.base_name(found["name"])
        text = (f"Someone asked Certplane to confirm that you control {base}, so that certificates can be issued "
                f"for it.\n\nIf you agree, open this link and enter the code below:\n\n  {link}\n\n"
                f"  Code: {kept['code']}\n\nThe code can be used once and expires at "
                f"{found['dcv']['token_expires_at']}. If you did not expect this mail, ignore it: nothing happens "
                f"without the code.\n")
        return {"to": found["dcv"]["email_address"], "subject": f"Confirm control of {base} (domain validation)",
                "text": text}

    # ---- the question other services ask --------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def may_issue(self, organization_id: str, department_id: str | None, cert_type: str, name: str) -> dict:
        return self.answer_may_issue(organization_id, department_id, cert_type, name)

    @rpc(expected_exceptions=EXPECTED)
    def may_issue_names(self, organization_id: str, department_id: str | None, cert_type: str,
                        wanted: list[str]) -> dict:
        """`may_issue` for every name of one certificate in one call: {name as given: answer}; the store's head
        and the clock are read once for all of them. A name may be an IP address (answered from the networks:
        dcv_status not_applicable, fresh_dcv false, a sentence as the reason)."""
        head, now = self.store.head_now(), self.store.clock()
        return {name: self.answer_may_issue(organization_id, department_id, cert_type, name, head, now)
                for name in wanted}

    def answer_may_issue(self, organization_id: str, department_id: str | None, cert_type: str, name: str,
                         head: int | None = None, now=None) -> dict:
        """From the read model, through a PositionCache keyed by the normalised name or address (no stream replay;
        one cheap read of the store's head per call — or per `may_issue_names` — when the answer is kept)."""
        head = self.store.head_now() if head is None else head
        if names.is_ip_address(name):
            address = names.ip_address(name)
            networks = self._networks
            [containing] = self.tools.may_issue_cache.lookup(
                ("network", address), head,
                lambda: (self.store.read(lambda conn: networks.containing(conn, ipaddress.ip_address(address))),))
            return network.may_issue(address, containing, organization_id, department_id, cert_type)
        name = names.normalise(name)
        view = self._view
        covering = self.tools.may_issue_cache.lookup(
            name, head, lambda: self.store.read(lambda conn: view.covering(conn, name)))
        return domain.may_issue(name, covering or [], organization_id, department_id, cert_type,
                                now or self.store.clock())

    # ---- helpers ------------------------------------------------------------------------------------------
    @property
    def _view(self) -> DomainsView:
        return self.store.projection(DomainsView)

    @property
    def _networks(self) -> NetworksView:
        return self.store.projection(NetworksView)

    @staticmethod
    def _new_delegation(values: dict) -> NewDelegation:
        return NewDelegation(str(uuid.uuid4()), str(values["organization_id"]),
                             str(values["department_id"]) if values.get("department_id") else None,
                             tuple(sorted(set(values["cert_types"]))))

    def _domain_of_dcv(self, dcv_id: str) -> str:
        view = self._view
        row = self.store.read(lambda conn: conn.execute(sa.select(view.domains.c.domain_id)
                                                        .where(view.domains.c.dcv_id == dcv_id)).first())
        if row is None:
            raise NotFound.of("dcv", dcv_id)
        return row[0]

    def _check(self, attempt, deadline: Deadline | None = None) -> tuple[bool, str | None, str]:
        """Look for the random value where the attempt says, by the deadline; (proven, reason, detail). A lookup
        that got no answer is refused (PolicyViolation 422, see the module docstring)."""
        deadline = deadline or self.tools.lookup_deadline()
        expected = attempt.expected_value
        try:
            if attempt.method in ("http", "https"):
                body = self.tools.http.get(attempt.http_url, deadline)
                content = body.decode("utf-8", errors="replace").strip()
                if content == expected:
                    return True, None, f"{attempt.http_url} holds the value"
                return False, "http_wrong_content", f"{attempt.http_url} does not hold the expected value"
            if attempt.method == "txt":
                values = [v.strip() for v in self.tools.dns.txt(attempt.dns_name, deadline)]
                if expected in values:
                    return True, None, f"TXT {attempt.dns_name} holds the value"
                return False, "dns_value_missing", f"no TXT record at {attempt.dns_name} holds the value"
            target = self.tools.dns.cname(attempt.dns_name, deadline)
            if target is not None and target == expected.lower():
                return True, None, f"CNAME {attempt.dns_name} points to {expected}"
            return False, "dns_value_missing", (f"{attempt.dns_name} has no CNAME" if target is None else
                                                f"{attempt.dns_name} points to {target}, not {expected}")
        except FetchFailed as exc:
            if exc.reason in UNANSWERED_FETCHES:
                raise _fetch_failed(attempt.method, attempt.http_url, exc) from None
            return False, exc.reason, exc.detail
        except DnsLookupFailed as exc:
            raise _lookup_failed(exc) from None

    def _caa(self, name: str, deadline: Deadline | None = None) -> Caa:
        """CAA for the domain (RFC 8659), by the deadline. A lookup that fails (after the client's retry) is
        refused with 422 caa_lookup_failed: issuance fails closed, and nothing is recorded."""
        try:
            relevant, records = self.tools.dns.caa(name, deadline or self.tools.lookup_deadline())
        except DnsLookupFailed as exc:
            raise _lookup_failed(exc) from None
        decision = decide_caa(relevant, records, self.tools.settings.caa_identities, names.is_wildcard(name))
        return Caa(decision.permitted, decision.result, decision.reason, decision.detail, name,
                   decision.relevant_name, tuple(decision.records))

    def _record(self, state, attempt, proven: bool, reason: str | None, detail: str,
                deadline: Deadline | None = None) -> dict:
        caa = self._caa(state.name, deadline) if proven else None
        now: datetime = self.store.clock()
        cmd = RecordCheck(state.domain_id, attempt.dcv_id, proven, reason, detail, caa, now,
                          self.tools.settings.dcv_reuse_days)
        result = self.store.execute(_stream(cmd.domain_id), _decider(domain.decide_record_check, cmd))
        validated = any(e.event_type == "dcv_validated.v1" for e in result.events)
        failure = None if validated else next((e.payload for e in result.events
                                               if e.event_type == "dcv_failed.v1"), None)
        log.info("dcv_checked", domain_id=cmd.domain_id, dcv_id=cmd.dcv_id, validated=validated,
                 reason=failure and failure["reason"])
        return self.command_result(result, domain=self.get_domain(cmd.domain_id),
                                   outcome={"validated": validated,
                                            "reason": failure and failure["reason"],
                                            "detail": failure["detail"] if failure else detail})

    # ---- ACME challenges: the pipeline's domains step ---------------------------------------------------
    def prepare_acme_checks(self, envelopes) -> list:
        """Before the transaction (follower.PreparedPolicy): for each `acme_challenge_submitted` of the batch, the
        identifier's covering domain (or network) for the challenge's organization, found in the read models, and
        the checks' outcome — the challenges checked concurrently (and CAA for public profiles). No lock is held
        while a client's server takes its time."""
        submitted = []
        for envelope in envelopes:
            if envelope.event_type not in acme_contract.SUBMITTED_EVENTS:
                continue
            try:
                submitted.append(acme_contract.AcmeChallengeSubmittedV1().load(envelope.payload))
            except ValidationError as exc:
                log.error("acme_challenge_unreadable", event_id=envelope.event_id, errors=exc.messages_dict)
        if not submitted:
            return []
        now = self.store.clock()
        targets = self.store.read(lambda conn: [self._acme_target(conn, s, now) for s in submitted])
        pool = eventlet.GreenPool(ACME_CHECKS_AT_ONCE)
        return list(zip(submitted, targets, pool.imap(self._acme_outcome, submitted, targets)))

    def check_acme_challenges(self, unit, envelopes, prepared) -> None:
        """The batch's checked challenges (prepare_acme_checks), appended in one transaction with the tracking
        row: `acme_challenge_checked` on `domain-<id>` (`network-<id>`), or on `acme-check-<challenge_id>` when
        nothing covers the name (not valid, unauthorized), with the domain's DCV evidence where the check proves
        its own name (domain.decide_record_acme_check). A crash before the commit leaves nothing; the batch is
        checked again after the restart."""
        if not prepared:
            return
        now = self.store.clock()
        pending: dict[str, list] = {}         # stream -> [version, state, new events]: one append per stream
        for values, target, outcome in prepared:
            cmd = RecordAcmeCheck(
                str(values["authorization_id"]), values["challenge_id"], values["method"], values["identifier"],
                values["wildcard"], target.target_id if target.kind == "domain" else None, outcome.result.valid,
                outcome.result.problem_type, outcome.result.detail, outcome.caa, outcome.evidence_caa, now,
                self.tools.settings.dcv_reuse_days)
            if target.kind == "network":
                stream, fold, evolve, decide = (_network_stream(target.target_id), network.fold, network.evolve,
                                                network.decide_record_acme_check)
            else:
                stream = _stream(target.target_id) if target.kind == "domain" else \
                    f"acme-check-{values['challenge_id']}"
                fold, evolve, decide = domain.fold, domain.evolve, domain.decide_record_acme_check
            entry = pending.get(stream)
            if entry is None:
                history = self.store.load(stream, unit.conn)
                entry = pending[stream] = [len(history), fold(decode(r.event_type, r.payload) for r in history), []]
            checked, *evidence = decide(entry[1], cmd)
            for event in (checked, *evidence):
                entry[1] = evolve(entry[1], event)
                entry[2].append(event)
            log.info("acme_challenge_checked", challenge_id=cmd.challenge_id, authorization_id=cmd.authorization_id,
                     method=cmd.challenge_type, stream=stream, valid=checked.valid, problem_type=checked.problem_type,
                     evidence=bool(evidence))
        last = envelopes[-1]
        unit.append_streams([StreamAppend(stream, version, tuple(e.encode() for e in events))
                             for stream, (version, _state, events) in pending.items()],
                            {"correlation_id": last.correlation_id, "actor": "system:domains",
                             "causation_id": last.event_id})

    def _acme_target(self, conn, values: dict, now) -> AcmeTarget:
        """The domain entry (closest delegated, approved, active: coverage.may_issue_name) or network covering the
        identifier for the challenge's organization and department, for SSL certificates."""
        organization = str(values["organization_id"])
        department = str(values["department_id"]) if values["department_id"] else None
        identifier = values["identifier"]
        if names.is_ip_address(identifier):
            address = names.ip_address(identifier)
            containing = self._networks.containing(conn, ipaddress.ip_address(address))
            answer = coverage.may_issue_address(address, containing, organization, department, "ssl")
            if not answer["allowed"]:
                return AcmeTarget(None, None, None)
            return AcmeTarget("network", answer["network_id"], answer["network"])
        try:
            name = names.normalise(f"*.{identifier}" if values["wildcard"] else identifier)
        except InvalidRequest:
            return AcmeTarget(None, None, None)
        covering = self._view.covering(conn, name)
        answer = coverage.may_issue_name(name, covering, organization, department, "ssl", now)
        if not answer["allowed"]:
            return AcmeTarget(None, None, None)
        return AcmeTarget("domain", answer["domain_id"], answer["domain_name"])

    def _acme_outcome(self, values: dict, target: AcmeTarget) -> AcmeOutcome:
        """The I/O of one challenge (a green thread of the batch's pool): the check; CAA for public profiles (with
        accounturi and validationmethods); CAA for the domain's own name when the check may become its evidence."""
        if target.kind is None:
            return AcmeOutcome(invalid("unauthorized", "not covered"), None, None)    # decide says why
        checks = self.tools.acme
        identifier, wildcard, method = values["identifier"], values["wildcard"], values["method"]
        try:
            if wildcard and method != "dns-01":
                return AcmeOutcome(invalid("unauthorized", f"a wildcard name is validated by dns-01 only, not "
                                                           f"{method} (RFC 8555 §7.1.3)"), None, None)
            result = checks.check(method, identifier, values["token"], values["key_authorization"])
            caa = None
            if result.valid and values["trust_class"] == "public":
                if target.kind != "domain":
                    return AcmeOutcome(invalid("unauthorized", "public certificates carry no IP addresses"), None,
                                       None)
                name = f"*.{identifier}" if wildcard else identifier
                decision, problem = checks.caa(name, values["account_uri"], method)
                caa = caa_record(name, decision) if decision is not None else None
                result = problem or result
            evidence_caa = None
            if result.valid and target.kind == "domain" and domain.acme_evidence_applies(target.name, identifier,
                                                                                         wildcard, method):
                decision, _problem = checks.caa(target.name)           # as REST DCV checks it (caa.py, no params)
                if decision is not None:
                    evidence_caa = Caa(decision.permitted, decision.result, decision.reason, decision.detail,
                                       target.name, decision.relevant_name, tuple(decision.records))
            return AcmeOutcome(result, caa, evidence_caa)
        except Exception:                      # noqa: BLE001 — one challenge's failure must not stop the batch
            log.exception("acme_check_failed", challenge_id=values["challenge_id"], method=method)
            return AcmeOutcome(invalid("serverInternal", "the check failed inside this server; try again"), None,
                               None)

    # ---- the console's dashboard --------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def domain_summary(self, scope: dict, decider: dict | None, limit: int = 5) -> dict:
        """Counts for the dashboard, each one SQL query: the domains in `scope` (list_domains' scope) by DCV
        status and with evidence about to expire (DomainsView.summary), and the delegations of domains and of
        networks waiting for `decider` (contracts/access.py delegation_decider_scope): {count, items}."""
        now = self.store.clock()
        limit = max(0, min(50, int(limit)))
        view, networks = self._view, self._networks
        return self.store.read(lambda conn: {
            **view.summary(conn, scope, now), "now": now.isoformat(),
            "waiting_domain_delegations": view.delegations.decidable(conn, decider, limit),
            "waiting_network_delegations": networks.delegations.decidable(conn, decider, limit)})


def _lookup_failed(exc: DnsLookupFailed) -> PolicyViolation:
    """A DNS lookup that got no usable answer, as the caller sees it: which lookup, for which name, at which
    server, what happened — and that nothing was recorded."""
    kind = "address" if exc.rdtype in ("A", "AAAA") else exc.rdtype.lower()
    log.warning("lookup_failed", lookup=exc.rdtype, name=exc.name, server=exc.server, detail=exc.detail)
    return PolicyViolation(
        f"{exc.rdtype} lookup for {exc.name} failed at the DNS server {exc.server}: {exc.detail}. Nothing was "
        "recorded; try again once that server answers (the server is CERTPLANE_DNS_RESOLVER, or the system's)",
        {"lookup": exc.rdtype, "name": exc.name, "server": exc.server, "failure": exc.detail,
         "timed_out": exc.timed_out}, code=f"{kind}_lookup_failed")


def _fetch_failed(method: str, url: str, exc: FetchFailed) -> PolicyViolation:
    """An HTTP(S) file fetch that no web server answered (timeout, no connection, TLS failure)."""
    log.warning("lookup_failed", lookup=method.upper(), url=url, reason=exc.reason, detail=exc.detail)
    return PolicyViolation(
        f"{method.upper()} lookup of {url} failed: {exc.detail}. Nothing was recorded; try again once the web "
        "server answers", {"lookup": method.upper(), "url": url, "server": _authority(url), "failure": exc.detail,
                           "timed_out": exc.reason == "http_timeout"}, code="http_lookup_failed")


def _authority(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]
