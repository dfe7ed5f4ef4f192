"""CAA evaluation (RFC 8659 §4): may this CA issue for a name, given the closest CAA RRset found for it?

Pure: the records come in from `adapters/dns.py`, which does the climb to the closest RRset. A lookup that failed
never reaches here; the caller refuses it (fail closed).
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


def decide_caa(relevant_name: str | None, records: list[CaaRecord], identities: tuple[str, ...],
               wildcard: bool) -> CaaDecision:
    """Whether a CA known by `identities` (issuer domain names) may issue; `wildcard` for a `*.` name."""
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
    for record in relevant:
        if issuer_domain(record.value) in accepted:
            return permit("permitted", f"CAA at {relevant_name} authorizes this CA: {record.present()}.")
    kind = "wildcard certificates" if wildcard else "certificates"
    return refuse("caa_forbids", f"CAA at {relevant_name} does not authorize this CA ({', '.join(identities)}) "
                                 f"to issue {kind}: {'; '.join(r.present() for r in relevant)}.")
