"""What the CA agrees to sign: a signing request judged again by the certificate rules (DESIGN §6, "the CA is the
last word"). Pure: no I/O, no clock, no keys.

The caller (an enrollment path) has judged the request already, by the same module (contracts/certificate_rules.py),
to answer early; the CA does not trust that. It takes only the certificate type and trust class from the request
and derives everything else that matters from them: the lint profile, the validity ceiling, the names a class
allows, the usages a type allows, the OU a class drops. A refusal here uses the same error codes enrollment uses,
and comes before a serial is drawn or anything is recorded.

Certificate policies per type (what `certificate_policies` asserts):
- public TLS: x509build's CA/B Forum DV or OV policy (BR 7.1.6.1); private TLS and device: none — a private
  certificate must not assert a CA/Browser Forum policy it is not audited against (device certificates are
  private and linted against RFC 5280 only);
- client: the S/MIME BR reserved policy for mailbox-validated certificates (S/MIME BR 7.1.6.1), which pkilint's
  cabf.smime lint detects the certificate type from: multipurpose (2.23.140.1.5.1.2) when the EKU has clientAuth
  besides emailProtection, strict (2.23.140.1.5.1.3) otherwise (S/MIME BR 7.1.2.3 f: strict allows
  emailProtection only);
- code signing: the CS BR reserved policy 2.23.140.1.4.1 (CS BR 7.1.6.1), which CS BR 7.1.2.3 requires.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contracts import certificate_rules as rules
from contracts.names import is_ip_address

POLICY_SMIME_MAILBOX_MULTIPURPOSE = "2.23.140.1.5.1.2"
POLICY_SMIME_MAILBOX_STRICT = "2.23.140.1.5.1.3"
POLICY_CODE_SIGNING = "2.23.140.1.4.1"


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

    @property
    def emails(self) -> tuple[str, ...]:
        """The rfc822Name SANs (client certificates only), the CN first when it is one."""
        return self.names.emails

    def sans(self) -> list[tuple[str, str]]:
        """The SANs as x509build takes them: ("ip", address), ("dns", name) or ("email", address), CN first."""
        return ([("ip" if is_ip_address(name) else "dns", name) for name in self.names.sans]
                + [("email", address) for address in self.names.emails])

    def common_name_is_a_san(self) -> bool:
        """Whether the CN is one of the SANs: not for a code-signing subscriber's name or a device name that is
        not a DNS name (both in the subject only)."""
        cn = self.names.common_name
        return cn is None or cn in self.names.sans or cn in self.names.emails

    def certificate_policies(self) -> tuple[str, ...] | None:
        """The policy OIDs the certificate asserts (see the module's docstring); None means x509build's CA/B
        Forum DV/OV policy (public TLS)."""
        if self.trust_class is rules.TrustClass.PUBLIC:
            return None
        if self.cert_type == "client":
            multipurpose = "client_auth" in self.extended_key_usage
            return (POLICY_SMIME_MAILBOX_MULTIPURPOSE if multipurpose else POLICY_SMIME_MAILBOX_STRICT,)
        if self.cert_type == "code_signing":
            return (POLICY_CODE_SIGNING,)
        return ()


def judge(values: dict, public_key, now: datetime) -> Judged:
    """`values`: an IssueCertificateV2 request as loaded; `public_key`: the CSR's (its signature verified).
    Refuses (InvalidRequest / PolicyViolation) a key outside the allowed algorithms and sizes, a term over the
    type's and class's ceiling, names (and emails) the class or type does not allow, an incomplete code-signing
    subject, keyUsage or EKU the type does not allow."""
    cert_type = values["cert_type"]
    trust_class = rules.trust_class_of(cert_type, values["trust_class"])
    key_type = rules.key_type_of(public_key)
    rules.check_key_type(cert_type, key_type)
    rules.check_term(cert_type, trust_class, values["term_days"], now)
    names = rules.certificate_names(cert_type, trust_class, values["common_name"], values["sans"],
                                    emails=values.get("emails") or ())
    subject = rules.subject_for(cert_type, trust_class, values["subject"])      # with check_subject
    rules.check_usages(cert_type, key_type, values["key_usage"], values["extended_key_usage"])
    return Judged(cert_type, trust_class, key_type, names, subject, frozenset(values["key_usage"]),
                  tuple(values["extended_key_usage"]), rules.lint_profile(cert_type, trust_class))
