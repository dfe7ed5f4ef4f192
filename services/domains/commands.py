"""What administrators (through the gateway) ask the domains service to do. Values arrive validated by
contracts/domains.py, names normalised by names.py and networks by network.parse_network; whatever came from
outside (random values, a DNS or HTTP check's outcome, the CAA decision) is a field here, so domain.py and
network.py stay pure. The delegation commands are one set for both: `target_id` is the domain or the network."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class NewDelegation:
    delegation_id: str
    organization_id: str
    department_id: str | None
    cert_types: tuple[str, ...]


@dataclass(frozen=True)
class CreateDomain:
    domain_id: str
    name: str
    description: str | None
    active: bool
    delegations: tuple[NewDelegation, ...]
    requested_by: str
    approved: bool                  # the gateway decided: MRAO, or "domain validation without dual approval"


@dataclass(frozen=True)
class UpdateDomain:
    domain_id: str
    changes: dict


@dataclass(frozen=True)
class DeleteDomain:
    domain_id: str


@dataclass(frozen=True)
class CreateNetwork:
    network_id: str
    cidr: str                       # normalised (network.parse_network)
    description: str | None
    active: bool
    delegations: tuple[NewDelegation, ...]
    requested_by: str
    approved: bool


@dataclass(frozen=True)
class UpdateNetwork:
    network_id: str
    changes: dict


@dataclass(frozen=True)
class DeleteNetwork:
    network_id: str


@dataclass(frozen=True)
class AddDelegation:
    target_id: str                  # the domain or network delegated
    delegation: NewDelegation
    requested_by: str
    approved: bool


@dataclass(frozen=True)
class RemoveDelegation:
    target_id: str
    delegation_id: str


@dataclass(frozen=True)
class DecideDelegation:
    target_id: str
    delegation_id: str
    admin_id: str
    approve: bool
    reason: str | None = None


@dataclass(frozen=True)
class StartDcv:
    domain_id: str
    dcv_id: str
    method: str
    email_address: str | None
    random_value: str               # 160 random bits in hex: file content, TXT value, or the CNAME target's label
    random_label: str               # 128 random bits in hex: the file name (http) or the label under the domain
    code_sha256: str | None         # email: sha256 of the code the mail carries
    started_by: str
    now: datetime
    token_days: int
    http_ports: tuple[int, int]     # (http, https) the file is fetched on
    cname_zone: str


@dataclass(frozen=True)
class Caa:
    """The CAA decision for the domain, made before evidence is recorded."""
    permitted: bool
    result: str | None              # permitted | no_records
    reason: str | None              # caa_forbids | caa_unknown_critical (a failed lookup never gets here)
    detail: str
    checked_name: str
    relevant_name: str | None
    records: tuple[str, ...]


@dataclass(frozen=True)
class RecordCheck:
    """The outcome of checking the open DCV attempt (HTTP file, DNS record, or the email code typed in)."""
    domain_id: str
    dcv_id: str
    proven: bool
    reason: str | None              # when not proven: a code, e.g. http_wrong_content, dns_value_missing
    detail: str
    caa: Caa | None                 # looked up only once control was proven
    now: datetime
    reuse_days: int


@dataclass(frozen=True)
class RecordAcmeCheck:
    """The outcome of checking an ACME challenge enrollment submitted (adapters/acme_checks.py did the I/O).
    `domain_id`: the domain covering the identifier for the challenge's organization (department), or None when
    nothing does; `evidence_caa`: the CAA decision for the domain's own name, looked up when the check may become
    its DCV evidence (domain.acme_evidence_applies), else None."""
    authorization_id: str
    challenge_id: str
    challenge_type: str             # http-01 | dns-01 | tls-alpn-01
    identifier: str                 # a wildcard without its "*."
    wildcard: bool
    domain_id: str | None
    valid: bool
    problem_type: str | None        # contracts.acme.CHECK_PROBLEMS, when not valid
    detail: str
    caa: dict | None                # public profiles: the CAA the check found
    evidence_caa: Caa | None
    now: datetime
    reuse_days: int
