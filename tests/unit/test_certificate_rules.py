"""contracts/certificate_rules.py and the name rules it uses (contracts/names.py): what a certificate may say per
type and trust class. Pure, with a fixed `now`; the same functions enrollment calls early and the CA calls again."""
from datetime import datetime, timezone

import pytest

from contracts import certificate_rules as rules
from contracts import names
from contracts.errors import InvalidRequest, PolicyViolation
from tests import factories

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("name,internal", [
    ("host.corp.internal", True), ("printer.lan", True), ("nas.local", True), ("intranet", True),
    ("*.corp.internal", True), ("*.lan", True), ("www.example.com", False), ("x.github.io", False),
    ("bücher.de", False), ("www.example", True),        # .example is reserved (RFC 2606), not a public TLD
])
def test_internal_names_are_valid_names_and_known_as_internal(name, internal):
    assert names.is_internal(names.normalise(name)) is internal


@pytest.mark.parametrize("name", ["com", "co.uk", "github.io", "*.com"])
def test_a_public_suffix_is_never_a_name_even_for_a_private_pki(name):
    with pytest.raises(InvalidRequest):
        names.normalise(name)


@pytest.mark.parametrize("typed,stored", [("10.0.0.1", "10.0.0.1"), ("[2001:DB8::1]", "2001:db8::1"),
                                          ("2001:db8:0:0:0:0:0:1", "2001:db8::1")])
def test_ip_addresses_are_stored_in_their_canonical_text(typed, stored):
    assert rules.normalised_name("sans", typed) == stored


def test_an_ip_address_with_a_prefix_or_zone_is_not_a_certificate_name():
    for typed in ("10.0.0.0/8", "fe80::1%eth0"):
        with pytest.raises(InvalidRequest):
            rules.normalised_name("sans", typed)


def test_the_lint_profile_follows_the_trust_class_never_the_caller():
    assert rules.lint_profile("ssl", "public") == "serverauth"
    assert rules.lint_profile("ssl", "private") == rules.lint_profile("ssl", None) == "rfc5280"
    assert rules.lint_profile("device", None) == "rfc5280"
    with pytest.raises(InvalidRequest):
        rules.lint_profile("client", "public")


def test_validity_ceilings_per_type_and_class():
    assert rules.max_validity_days("ssl", "public", NOW) == 200
    assert rules.max_validity_days("ssl", "private", NOW) == 398
    assert rules.max_validity_days("client", None, NOW) == 398
    rules.check_term("ssl", "private", 398, NOW)
    with pytest.raises(PolicyViolation) as refused:
        rules.check_term("ssl", "public", 201, NOW)
    assert refused.value.code == "term_over_br_limit"


def test_keys_are_judged_for_every_type_and_code_signing_wants_bigger_rsa():
    assert rules.key_type_of(factories.private_key("rsa-2048").public_key()) == "rsa-2048"
    assert rules.key_type_of(factories.private_key("ec-p521").public_key()) == "ec-p521"
    for key_type, code in (("rsa-1024", "csr_key_weak"), ("ec-secp256k1", "csr_key_unsupported")):
        with pytest.raises(InvalidRequest) as refused:
            rules.key_type_of(factories.private_key(key_type).public_key())
        assert refused.value.code == code
    rules.check_key_type("ssl", "rsa-2048")
    with pytest.raises(PolicyViolation) as refused:
        rules.check_key_type("code_signing", "rsa-2048")
    assert refused.value.code == "key_type_not_allowed"


def test_key_encipherment_only_for_rsa_keys_and_never_for_code_signing():
    rules.check_usages("ssl", "rsa-2048", ["digital_signature", "key_encipherment"], ["server_auth"])
    for cert_type, key_type, eku in (("ssl", "ec-p256", ["server_auth"]), ("code_signing", "rsa-3072",
                                                                          ["code_signing"])):
        with pytest.raises(PolicyViolation) as refused:
            rules.check_usages(cert_type, key_type, ["digital_signature", "key_encipherment"], eku)
        assert refused.value.code == "key_usage_not_allowed"


def test_the_names_of_a_private_certificate_and_the_cn_that_fits():
    long_name = "a" * 50 + "." + "b" * 20 + ".example.com"
    got = rules.certificate_names("ssl", "private", None, [long_name, "10.1.2.3", "intranet"])
    assert got == rules.Names("10.1.2.3", ("10.1.2.3", long_name, "intranet"))
    assert rules.certificate_names("ssl", "private", None, [long_name]) == rules.Names(None, (long_name,))


def test_public_names_refuse_what_the_br_forbid_naming_the_field_they_came_from():
    cases = (({"sans": ["10.1.2.3"]}, "sans", "ip_address_not_allowed"),
             ({"common_name": "intranet"}, "common_name", "internal_name_not_allowed"),
             ({"csr_names": ["*.corp.lan"]}, "csr", "internal_name_not_allowed"))
    for asked, field, code in cases:
        with pytest.raises(PolicyViolation) as refused:
            rules.certificate_names("ssl", "public", asked.get("common_name"), asked.get("sans", []),
                                    asked.get("csr_names", ()))
        assert refused.value.code == code and list(refused.value.details) == [field]


def test_the_ou_is_dropped_from_a_public_subject_only():
    subject = {"organization": "Example", "organizational_unit": "Platform"}
    assert rules.subject_for("ssl", "public", subject)["organizational_unit"] is None
    assert rules.subject_for("ssl", "private", subject)["organizational_unit"] == "Platform"
