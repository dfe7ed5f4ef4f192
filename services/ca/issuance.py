"""What the CA agrees to sign: a signing request judged again by the certificate rules (DESIGN §6, "the CA is the
last word"). Pure: no I/O, no clock, no keys.

The caller (an enrollment path) has judged the request already, by the same module (contracts/certificate_rules.py),
to answer early; the CA does not trust that. It takes only the certificate type and trust class from the request
and derives everything else that matters from them: the lint profile, the validity ceiling, the names a class
allows, the usages a type allows, the OU a class drops. A refusal here uses the same error codes enrollment uses,
and comes before a serial is drawn or anything is recorded.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contracts import certificate_rules as rules
from contracts.names import is_ip_address


@dataclass(frozen=True)
class Judged:
    cert_type: str
    trust_class: rules.TrustClass
    key_type: str
    names: rules.Names
    subject: dict
    key_usage: frozenset[str]
    extended_key_usage: tuple[str, ...]
    lint_profile: str

    def sans(self) -> list[tuple[str, str]]:
        """The SANs as x509build takes them: ("ip", address) or ("dns", name), CN first."""
        return [("ip" if is_ip_address(name) else "dns", name) for name in self.names.sans]

    def certificate_policies(self) -> tuple[str, ...] | None:
        """None (x509build's CA/B Forum DV/OV policy) for public TLS; none for a private certificate, which must
        not assert a CA/Browser Forum policy it is not audited against."""
        return None if self.trust_class is rules.TrustClass.PUBLIC else ()


def judge(values: dict, public_key, now: datetime) -> Judged:
    """`values`: an IssueCertificateV2 request as loaded; `public_key`: the CSR's (its signature verified).
    Refuses (InvalidRequest / PolicyViolation) a key outside the allowed algorithms and sizes, a term over the
    type's and class's ceiling, names the class or type does not allow, keyUsage or EKU the type does not allow."""
    cert_type = values["cert_type"]
    trust_class = rules.trust_class_of(cert_type, values["trust_class"])
    key_type = rules.key_type_of(public_key)
    rules.check_key_type(cert_type, key_type)
    rules.check_term(cert_type, trust_class, values["term_days"], now)
    names = rules.certificate_names(cert_type, trust_class, values["common_name"], values["sans"])
    rules.check_usages(cert_type, key_type, values["key_usage"], values["extended_key_usage"])
    return Judged(cert_type, trust_class, key_type, names, rules.subject_for(cert_type, trust_class, values["subject"]),
                  frozenset(values["key_usage"]), tuple(values["extended_key_usage"]),
                  rules.lint_profile(cert_type, trust_class))
