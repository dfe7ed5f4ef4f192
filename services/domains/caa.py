"""CAA evaluation (RFC 8659 §4): may this CA issue for a name, given the closest CAA RRset found for it?

Pure: the records come in from `adapters/dns.py`, which does the climb to the closest RRset. A lookup that failed
never reaches here; the caller refuses it (fail closed).

ACME checks (RFC 8657) also pass the ACME account's URI and the challenge's method: a record naming this CA then
authorizes only if its `accounturi` parameter (when present) is that URI and its `validationmethods` parameter
(when present) lists that method; a record whose parameters cannot be parsed authorizes nothing. Other callers
(REST and form DCV) pass neither, and parameters are ignored for them, as before.
"""
from __future__ import annotations

from dataclasses import dataclass

CRITICAL = 128                                      # the Issuer Critical flag (RFC 8659 §4.1)
UNDERSTOOD_TAGS = frozenset({"issue", "issuewild", "iodef"})


@dataclass(frozen=True)
class CaaRecord:
    flags: int
    tag: str
    value: str

    def present(self) -> str:
        """Presentation format, e.g. `0 issue "certplane.invalid"`."""
        value = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.flags} {self.tag} "{value}"'


@dataclass(frozen=True)
class CaaDecision:
    permitted: bool
    result: str | None            # "permitted" | "no_records" when permitted, None when refused
    reason: str | None            # when refused: "caa_forbids" | "caa_unknown_critical"
    detail: str
    relevant_name: str | None
    records: tuple[str, ...]      # every record of the RRset, presented


def issuer_domain(value: str) -> str:
    """The issuer-domain-name of an issue/issuewild value: before any ';', trimmed, lower case ('' names no CA)."""
    return value.split(";", 1)[0].strip().lower()


def parameters(value: str) -> dict[str, str] | None:
    """The parameters of an issue/issuewild value (RFC 8659 §4.2: `tag=value` pairs after the issuer domain name,
    separated by ';'; tags compared in lower case), or None when they cannot be parsed."""
    _, _, rest = value.partition(";")
    found: dict[str, str] = {}
    for part in rest.split(";"):
        part = part.strip()
        if not part:
            continue
        tag, equals, text = part.partition("=")
        tag = tag.strip().lower()
        if not equals or not tag or not tag.replace("-", "").isalnum():
            return None
        found[tag] = text.strip()
    return found


def _acme_refusal(value: str, account_uri: str, method: str) -> str | None:
    """Why a record naming this CA does not authorize this ACME account and method (RFC 8657), or None."""
    found = parameters(value)
    if found is None:
        return "its parameters cannot be parsed"
    if "accounturi" in found and found["accounturi"] != account_uri:
        return f"it is limited to the ACME account {found['accounturi']}"
    if "validationmethods" in found:
        methods = [m.strip() for m in found["validationmethods"].split(",") if m.strip()]
        if method not in methods:
            return f"it allows only the validation methods {', '.join(methods) or '(none)'}"
    return None


def decide_caa(relevant_name: str | None, records: list[CaaRecord], identities: tuple[str, ...],
               wildcard: bool, account_uri: str | None = None, method: str | None = None) -> CaaDecision:
    """Whether a CA known by `identities` (issuer domain names) may issue; `wildcard` for a `*.` name.
    `account_uri` and `method` (ACME: the account's URL and the challenge type, e.g. dns-01) make the records'
    accounturi and validationmethods parameters count (RFC 8657)."""
    presented = tuple(record.present() for record in records)

    def permit(result: str, detail: str) -> CaaDecision:
        return CaaDecision(True, result, None, detail, relevant_name, presented)

    def refuse(reason: str, detail: str) -> CaaDecision:
        return CaaDecision(False, None, reason, detail, relevant_name, presented)

    if not records:
        return permit("no_records", "No CAA records exist for the name or any parent, so any CA may issue.")
    unknown = [r for r in records if r.flags & CRITICAL and r.tag.lower() not in UNDERSTOOD_TAGS]
    if unknown:
        return refuse("caa_unknown_critical", f"CAA at {relevant_name} has a critical property this CA does not "
                                              f"understand: {unknown[0].present()}.")
    issuewild = [r for r in records if r.tag.lower() == "issuewild"]
    relevant = issuewild if wildcard and issuewild else [r for r in records if r.tag.lower() == "issue"]
    if not relevant:
        return permit("permitted", f"CAA at {relevant_name} has no issue or issuewild property that applies, "
                                   "so it does not restrict issuance.")
    accepted = {identity.lower() for identity in identities}
    acme = account_uri is not None or method is not None
    refusals = []
    for record in relevant:
        if issuer_domain(record.value) not in accepted:
            continue
        why = _acme_refusal(record.value, account_uri or "", method or "") if acme else None
        if why is None:
            return permit("permitted", f"CAA at {relevant_name} authorizes this CA: {record.present()}.")
        refusals.append(f"{record.present()} names this CA, but {why}")
    kind = "wildcard certificates" if wildcard else "certificates"
    if refusals:
        return refuse("caa_forbids", f"CAA at {relevant_name} does not authorize this ACME account ({account_uri}) "
                                     f"to issue {kind} validated by {method}: {'; '.join(refusals)}.")
    return refuse("caa_forbids", f"CAA at {relevant_name} does not authorize this CA ({', '.join(identities)}) "
                                 f"to issue {kind}: {'; '.join(r.present() for r in relevant)}.")
