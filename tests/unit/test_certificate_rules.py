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


# ---- client, code-signing and device names (issue 15) ---------------------------------------------------------

def test_the_lint_profile_of_each_type():
    assert [rules.lint_profile(t, None) for t in ("ssl", "client", "code_signing", "device")] == [
        "rfc5280", "smime", "codesigning", "rfc5280"]


def test_each_types_validity_ceiling_is_its_br_limit_within_the_longest_term_a_profile_offers():
    assert rules.TYPE_MAX_VALIDITY_DAYS == {"client": 825, "code_signing": 460}
    assert [rules.max_validity_days(t, None, NOW) for t in ("code_signing", "device")] == [398, 398]
    with pytest.raises(PolicyViolation) as refused:
        rules.check_term("code_signing", None, 461, NOW)
    assert refused.value.code == "term_over_limit"


def test_code_signing_keys_are_rsa_3072_or_more_or_p256_or_p384():
    assert rules.CODE_SIGNING_KEY_TYPES == ("rsa-3072", "rsa-4096", "ec-p256", "ec-p384")
    with pytest.raises(PolicyViolation) as refused:
        rules.check_key_type("code_signing", "ec-p521")
    assert refused.value.code == "key_type_not_allowed"


def test_a_client_certificate_names_mailboxes_the_cn_one_of_them():
    got = rules.certificate_names("client", None, None, [], emails=["Alice.Smith@Example.COM", "al@xn--bcher-kva.de"])
    assert got == rules.Names("Alice.Smith@example.com", (), ("Alice.Smith@example.com", "al@xn--bcher-kva.de"))
    got = rules.certificate_names("client", None, "AL@bücher.de", [], emails=["a@example.com", "AL@bücher.de"])
    assert got.common_name == "AL@xn--bcher-kva.de" and got.emails == ("AL@xn--bcher-kva.de", "a@example.com")
    long_one = "a" * 60 + "@example.com"
    assert rules.certificate_names("client", None, None, [], emails=[long_one]) == rules.Names(None, (), (long_one,))


@pytest.mark.parametrize("asked,error,code,field", [
    ({"emails": []}, InvalidRequest, "email_required", "emails"),
    ({"emails": [f"u{i}@example.com" for i in range(11)]}, PolicyViolation, "too_many_emails", "emails"),
    ({"emails": ["a@example.com", "a@EXAMPLE.com"]}, InvalidRequest, "duplicate_email", "emails"),
    ({"emails": ["a@b@example.com"]}, InvalidRequest, "invalid_email", "emails"),
    ({"emails": ["a b@example.com"]}, InvalidRequest, "invalid_email", "emails"),
    ({"emails": ["a..b@example.com"]}, InvalidRequest, "invalid_email", "emails"),
    ({"emails": ["x" * 65 + "@example.com"]}, InvalidRequest, "invalid_email", "emails"),
    ({"emails": ["a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 57 + ".com"]}, InvalidRequest,
     "invalid_email", "emails"),
    ({"emails": ["a@com"]}, InvalidRequest, "invalid_email", "emails"),                  # a public suffix
    ({"emails": ["a@*.example.com"]}, InvalidRequest, "invalid_email", "emails"),
    ({"emails": ["a@corp.internal"]}, PolicyViolation, "internal_name_not_allowed", "emails"),
    ({"emails": ["a@example.com"], "common_name": "b@example.com"}, PolicyViolation, "common_name_not_in_emails",
     "common_name"),
    ({"emails": ["a@example.com"], "sans": ["host.example.com"]}, PolicyViolation, "dns_name_not_allowed", "sans"),
    ({"emails": ["a@example.com"], "sans": ["10.1.2.3"]}, PolicyViolation, "ip_address_not_allowed", "sans"),
    ({"emails": ["a@example.com"], "csr_names": ["host.example.com"]}, PolicyViolation, "dns_name_not_allowed",
     "csr"),
    ({"emails": ["a@example.com"], "common_name": "host.example.com"}, PolicyViolation, "dns_name_not_allowed",
     "common_name"),
])
def test_client_names_refused_naming_the_field(asked, error, code, field):
    with pytest.raises(error) as refused:
        rules.certificate_names("client", None, asked.get("common_name"), asked.get("sans", []),
                                asked.get("csr_names", ()), emails=asked["emails"])
    assert refused.value.code == code and list(refused.value.details) == [field]


def test_only_client_certificates_carry_emails():
    for cert_type in ("ssl", "code_signing", "device"):
        with pytest.raises(PolicyViolation) as refused:
            rules.certificate_names(cert_type, None, "Example", ["host.example.com"], emails=["a@example.com"])
        assert refused.value.code == "emails_not_allowed" and list(refused.value.details) == ["emails"]


def test_a_code_signing_certificate_names_its_subscriber_in_the_cn_only():
    assert rules.certificate_names("code_signing", None, " Example Corp — Build ", []) == rules.Names(
        "Example Corp — Build", ())
    for cn, sans, code in ((None, [], "common_name_required"), ("Bad\x07Name", [], "common_name_invalid"),
                           ("x" * 65, [], "common_name_too_long"), ("Example", ["host.example.com"],
                                                                    "dns_name_not_allowed")):
        with pytest.raises((InvalidRequest, PolicyViolation)) as refused:
            rules.certificate_names("code_signing", None, cn, sans)
        assert refused.value.code == code
    with pytest.raises(InvalidRequest) as refused:
        rules.certificate_names("code_signing", None, None, [])
    assert refused.value.details == {"common_name": ["give the subscriber's name"]}


def test_a_device_cn_may_be_a_device_name_kept_out_of_the_sans():
    assert rules.certificate_names("device", None, "Printer 3F #2", ["printer.lan", "10.0.0.7"]) == rules.Names(
        "Printer 3F #2", ("printer.lan", "10.0.0.7"))
    assert rules.certificate_names("device", None, "printer.lan", []) == rules.Names("printer.lan", ("printer.lan",))
    assert rules.certificate_names("device", None, None, ["printer.lan"]) == rules.Names("printer.lan",
                                                                                        ("printer.lan",))
    with pytest.raises(InvalidRequest) as refused:
        rules.certificate_names("device", None, None, [])
    assert refused.value.code == "name_required"
    with pytest.raises(InvalidRequest) as refused:
        rules.certificate_names("device", None, "tab\there", [])
    assert refused.value.code == "common_name_invalid"


def test_the_subject_per_type():
    subject = {"organization": "Example", "organizational_unit": "Platform", "country": "DE", "locality": "Berlin"}
    assert not any(rules.subject_for("client", None, subject).values())           # mailbox-validated S/MIME
    assert rules.subject_for("code_signing", None, subject) == {**subject, "organizational_unit": None}
    assert rules.subject_for("device", None, subject) == subject
    with pytest.raises(PolicyViolation) as refused:
        rules.subject_for("code_signing", None, {"organization": "Example", "locality": "Berlin"})
    assert refused.value.code == "subject_incomplete" and refused.value.details == {"subject": ["country missing"]}
    rules.check_subject("device", {})
    with pytest.raises(PolicyViolation) as refused:
        rules.check_code_signing_subject({"organization": "Example", "country": "DE"})
    assert refused.value.details == {"subject": ["locality or state missing"]}
