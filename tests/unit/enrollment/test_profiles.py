"""Profiles: the BR validity ceiling, the profile fields, the defaults, whether a request fits its profile, and the
key usages a certificate gets. Pure, with fixed dates."""
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from marshmallow import ValidationError

from contracts.errors import InvalidRequest, PolicyViolation
from services.enrollment.csr import ParsedCsr, parse_csr
from contracts.access import CERT_TYPES
from contracts.enrollment import KEY_TYPES, ProfileFieldsV1, br_max_validity_days
from services.enrollment.profiles import (PRIVATE_TLS, PUBLIC_TLS, Checked, check_request, default_profiles,
                                          leaf_extensions)

UTC = timezone.utc
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
BR_100_FROM = datetime(2027, 3, 15, tzinfo=UTC)
BR_47_FROM = datetime(2029, 3, 15, tzinfo=UTC)
CA_ID = "6f1c2d0e-8a4b-4c1e-9f3a-2b5d7e9c1a00"


def profile_of(cert_type: str, **overrides) -> dict:
    """The default private profile of `cert_type`, with `overrides`."""
    profile = next(p for p in default_profiles(CA_ID, NOW) if p["cert_type"] == cert_type)
    return {**profile, **overrides}


def public_tls(now=NOW, **overrides) -> dict:
    return {**next(p for p in default_profiles(CA_ID, now) if p["name"] == PUBLIC_TLS), **overrides}


def parsed(key_type="ec-p256", dns_names=(), ip_addresses=(), common_name=None) -> ParsedCsr:
    """check_request reads only the key type, the names and the subject CN of a parsed CSR."""
    return ParsedCsr(b"", None, key_type, common_name, tuple(dns_names), "", tuple(ip_addresses))


def check(profile=None, csr=None, common_name=None, sans=(), term_days=90, now=NOW, emails=()) -> Checked:
    return check_request(profile or profile_of("ssl"), csr or parsed(), common_name, list(sans), term_days, now,
                         emails)


def refused(error_class, **kwargs):
    with pytest.raises(error_class) as refusal:
        check(**kwargs)
    return refusal.value


# ---- the BR ceiling -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("at,days", [
    (NOW, 200),
    (datetime(2027, 3, 14, tzinfo=UTC), 200),
    (BR_100_FROM - timedelta(seconds=1), 200),
    (BR_100_FROM, 100),
    (datetime(2027, 3, 15, 1, 0, tzinfo=timezone(timedelta(hours=2))), 200),   # still 2027-03-14 in UTC
    (datetime(2029, 3, 14, tzinfo=UTC), 100),
    (BR_47_FROM, 47),
    (datetime(2040, 1, 1, tzinfo=UTC), 47),
])
def test_the_br_validity_ceiling_steps_down_on_its_dates(at, days):
    assert br_max_validity_days(at) == days


def test_the_br_ceiling_needs_an_aware_time():
    with pytest.raises(ValueError):
        br_max_validity_days(datetime(2027, 3, 15))


# ---- the profile's fields -------------------------------------------------------------------------------------

@pytest.mark.parametrize("at", [NOW, BR_100_FROM, BR_47_FROM])
def test_the_default_profiles_are_valid_profiles_at_any_time(at):
    profiles = default_profiles(CA_ID, at)
    assert set(p["cert_type"] for p in profiles) == set(CERT_TYPES)
    for profile in profiles:
        loaded = ProfileFieldsV1(now=at).load(profile)
        assert str(loaded["ca_id"]) == CA_ID
        if loaded["name"] == PUBLIC_TLS:
            assert loaded["trust_class"] == "public" and loaded["requires_approval"] is True
        else:                                        # private, and the name says so
            assert loaded["trust_class"] == "private" and loaded["name"].startswith("Private ")
    private_tls = next(p for p in profiles if p["name"] == PRIVATE_TLS)
    assert private_tls["requires_approval"] is False and max(private_tls["terms"]) == 398


@pytest.mark.parametrize("at,terms", [(NOW, [90, 200]), (BR_100_FROM, [90, 100]), (BR_47_FROM, [47])])
def test_the_public_tls_terms_follow_the_br_ceiling(at, terms):
    ssl = public_tls(at)
    assert ssl["terms"] == terms and ssl["key_types"] == list(KEY_TYPES)


def test_a_stored_profile_with_the_old_public_flag_reads_as_its_trust_class():
    fields = {k: v for k, v in profile_of("ssl", terms=[90]).items() if k != "trust_class"}
    assert ProfileFieldsV1(now=NOW).load({**fields, "public": True})["trust_class"] == "public"
    assert ProfileFieldsV1(now=NOW).load({**fields, "public": False})["trust_class"] == "private"


def test_only_tls_profiles_may_be_public():
    assert "trust_class" in _schema_refusal(profile_of("client", trust_class="public"))


def test_a_minimal_profile_gets_its_defaults():
    loaded = ProfileFieldsV1(now=NOW).load({"name": "Web", "cert_type": "ssl", "terms": [90],
                                            "key_types": ["ec-p256"], "extended_key_usage": ["server_auth"]})
    assert loaded["ca_id"] is None and loaded["description"] is None
    assert loaded["requires_approval"] is True and loaded["trust_class"] == "private"
    assert loaded["key_usage"] == ["digital_signature"] and loaded["key_encipherment_for_rsa"] is False
    assert loaded["max_sans"] == 100


def _schema_refusal(profile, now=NOW) -> dict:
    with pytest.raises(ValidationError) as refusal:
        ProfileFieldsV1(now=now).load(profile)
    return refusal.value.messages


@pytest.mark.parametrize("cert_type,changes,field,reason", [
    ("ssl", {"extended_key_usage": ["client_auth"]}, "extended_key_usage", "must include server_auth"),
    ("ssl", {"extended_key_usage": ["server_auth", "email_protection"]}, "extended_key_usage", "email_protection"),
    ("ssl", {"trust_class": "public", "terms": [90, 201]}, "terms", "201 days is over the CA/Browser Forum limit"),
    ("ssl", {"trust_class": "secret"}, "trust_class", "Must be one of"),
    ("ssl", {"key_usage": ["digital_signature", "key_encipherment"]}, "key_usage", "key_encipherment_for_rsa"),
    ("ssl", {"key_usage": ["key_agreement"]}, "key_usage", "must include digital_signature"),
    ("ssl", {"key_usage": ["digital_signature", "content_commitment"]}, "key_usage", "client (S/MIME) profiles"),
    ("ssl", {"terms": [90, 90]}, "terms", "must not repeat"),
    ("ssl", {"terms": []}, "terms", "Length"),
    ("ssl", {"terms": [399]}, "terms", "less than or equal to 398"),
    ("ssl", {"key_types": []}, "key_types", "Length"),
    ("ssl", {"key_types": ["rsa-1024"]}, "key_types", "Must be one of"),
    ("ssl", {"max_sans": 251}, "max_sans", "250"),
    ("ssl", {"name": "x" * 65}, "name", "between 1 and 64"),
    ("ssl", {"colour": "blue"}, "colour", "Unknown field"),
    ("client", {"extended_key_usage": ["server_auth"]}, "extended_key_usage", "server_auth is not allowed"),
    ("code_signing", {"key_types": ["rsa-2048", "ec-p256"]}, "key_types", "rsa-2048 is not a code-signing key type"),
    ("code_signing", {"extended_key_usage": ["code_signing", "client_auth"]}, "extended_key_usage", "client_auth"),
    ("code_signing", {"key_encipherment_for_rsa": True}, "key_encipherment_for_rsa", "digitalSignature only"),
])
def test_a_profile_that_breaks_a_rule_is_refused_naming_the_field(cert_type, changes, field, reason):
    messages = _schema_refusal({**profile_of(cert_type), **changes})
    assert field in messages and reason in str(messages[field])


def test_a_200_day_public_tls_term_is_refused_once_the_ceiling_is_100():
    profile = public_tls()                                   # made in 2026 with [90, 200]
    ProfileFieldsV1(now=BR_100_FROM - timedelta(seconds=1)).load(profile)
    assert "limit of 100" in str(_schema_refusal(profile, now=BR_100_FROM)["terms"])


def test_a_365_day_term_is_fine_for_client_profiles():
    ProfileFieldsV1(now=BR_47_FROM).load(profile_of("client", terms=[365, 398]))


# ---- does a request fit its profile -----------------------------------------------------------------------------

def test_names_are_the_normalised_union_with_the_common_name_first():
    checked = check(csr=parsed(dns_names=("b.example.com", "a.example.com")), common_name="A.Example.com.",
                    sans=["c.example.com", "B.EXAMPLE.COM"])
    assert checked == Checked("a.example.com", ("a.example.com", "c.example.com", "b.example.com"))


def test_a_common_name_missing_from_the_sans_is_added():
    checked = check(common_name="www.example.com", sans=["example.com"])
    assert checked.sans == ("www.example.com", "example.com")


def test_without_a_common_name_the_first_san_is_the_common_name():
    assert check(sans=["example.com", "www.example.com"]) == Checked("example.com", ("example.com",
                                                                                     "www.example.com"))
    assert check(csr=parsed(dns_names=("www.example.com",))).common_name == "www.example.com"


def test_an_idn_san_is_stored_as_its_a_label():
    assert check(sans=["bücher.example"]).sans == ("xn--bcher-kva.example",)


def test_a_common_name_over_64_characters_is_refused():
    long_name = "a" * 60 + ".example.com"
    error = refused(InvalidRequest, common_name=long_name)
    assert error.code == "common_name_too_long" and long_name in error.message
    assert list(error.details) == ["common_name"]


def test_without_a_common_name_a_long_first_san_gives_way_to_one_that_fits():
    long_name = "a" * 60 + ".example.com"
    assert check(sans=[long_name, "example.com"]) == Checked("example.com", ("example.com", long_name))


def test_a_single_long_san_gives_a_certificate_without_cn_but_public_tls_needs_one():
    long_name = "a" * 50 + "." + "b" * 40 + ".example.com"
    assert check(sans=[long_name]) == Checked(None, (long_name,))
    error = refused(PolicyViolation, profile=public_tls(), sans=[long_name])
    assert error.code == "common_name_required" and error.http_status == 422


def test_a_cn_only_csr_asks_for_its_cn_under_a_private_profile_only():
    csr = parsed(common_name="Host.Example.com")
    assert check(csr=csr) == Checked("host.example.com", ("host.example.com",))
    assert check(csr=parsed(common_name="10.1.2.3")) == Checked("10.1.2.3", ("10.1.2.3",))
    error = refused(PolicyViolation, profile=public_tls(), csr=csr)
    assert error.code == "csr_san_required" and list(error.details) == ["csr"]
    # a CSR with a SAN: its CN is not a name of the request
    assert check(csr=parsed(dns_names=("a.example.com",), common_name="other.example.com")).sans == \
        ("a.example.com",)


def test_more_names_than_the_profile_allows_are_refused():
    profile = profile_of("ssl", max_sans=2)
    assert len(check(profile=profile, common_name="a.example.com", sans=["b.example.com"]).sans) == 2
    error = refused(PolicyViolation, profile=profile, common_name="a.example.com", sans=["b.example.com"],
                    csr=parsed(dns_names=("c.example.com",)))
    assert error.code == "too_many_sans" and error.http_status == 422 and "3 names" in error.message
    assert list(error.details) == ["sans"]


def test_a_term_the_profile_does_not_offer_is_refused():
    error = refused(InvalidRequest, term_days=120)
    assert error.code == "term_not_allowed" and "120" in error.message
    assert "90, 200, 365, 398" in error.details["term_days"][0]
    assert refused(InvalidRequest, term_days="90").code == "term_not_allowed"
    assert refused(InvalidRequest, term_days=True).code == "term_not_allowed"


def test_a_public_tls_term_over_the_br_ceiling_is_refused_even_if_an_old_profile_offers_it():
    assert check(profile=public_tls(), sans=["example.com"], term_days=200,
                 now=BR_100_FROM - timedelta(seconds=1)).sans == ("example.com",)
    error = refused(PolicyViolation, profile=public_tls(), sans=["example.com"], term_days=200, now=BR_100_FROM)
    assert error.code == "term_over_br_limit" and "100 days" in error.message
    assert list(error.details) == ["term_days"]


def test_a_private_tls_term_may_be_up_to_398_days_at_any_time():
    assert check(sans=["example.com"], term_days=398, now=BR_47_FROM).sans == ("example.com",)
    too_long = profile_of("ssl", terms=[90, 399])                # only a profile stored unchecked could offer it
    assert refused(PolicyViolation, profile=too_long, sans=["example.com"], term_days=399).code == "term_over_limit"


def test_the_br_ceiling_does_not_apply_to_other_certificate_types():
    assert check(profile=profile_of("device", terms=[365]), sans=["printer.example.com"], term_days=365,
                 now=BR_47_FROM).sans == ("printer.example.com",)


def test_a_key_type_the_profile_does_not_allow_is_refused():
    profile = profile_of("ssl", key_types=["ec-p256", "ec-p384"])
    error = refused(PolicyViolation, profile=profile, csr=parsed("rsa-2048"), sans=["example.com"])
    assert error.code == "key_type_not_allowed" and "rsa-2048" in error.message
    assert list(error.details) == ["csr"]


@pytest.mark.parametrize("where", ["common_name", "sans", "csr"])
def test_a_wildcard_is_refused_outside_ssl_profiles_naming_where_it_came_from(where):
    request = {"common_name": {"common_name": "*.example.com"}, "sans": {"sans": ["*.example.com"]},
               "csr": {"csr": parsed(dns_names=("*.example.com",))}}[where]
    error = refused(PolicyViolation, profile=profile_of("client"), term_days=365, **request)
    assert error.code == "wildcard_not_allowed" and "*.example.com" in error.message and list(error.details) == [where]
    assert check(**request).sans == ("*.example.com",)       # an SSL profile takes it


@pytest.mark.parametrize("name", ["under_score.example.com", "com", "*.*.example.com"])
def test_a_bad_name_is_refused_naming_the_field(name):
    error = refused(InvalidRequest, sans=["example.com", name])
    assert error.code == "invalid_domain_name" and name in error.details["sans"][0]
    assert list(refused(InvalidRequest, common_name=name).details) == ["common_name"]


@pytest.mark.parametrize("name,code", [("192.0.2.1", "ip_address_not_allowed"), ("2001:db8::1", "ip_address_not_allowed"),
                                       ("host.corp.internal", "internal_name_not_allowed"),
                                       ("intranet", "internal_name_not_allowed"),
                                       ("*.corp.lan", "internal_name_not_allowed")])
def test_ip_addresses_and_internal_names_are_private_only(name, code):
    assert name.replace("2001:db8::1", "2001:db8::1") in check(sans=["example.com", name]).sans
    error = refused(PolicyViolation, profile=public_tls(), sans=["example.com", name])
    assert error.code == code and error.http_status == 422 and list(error.details) == ["sans"]
    from_csr = refused(PolicyViolation, profile=public_tls(), csr=parsed(dns_names=("example.com",),
                                                                         ip_addresses=("192.0.2.1",)))
    assert from_csr.code == "ip_address_not_allowed" and list(from_csr.details) == ["csr"]


def test_an_ipv6_san_is_stored_in_its_rfc_5952_form():
    assert check(sans=["2001:DB8:0:0::1"]).sans == ("2001:db8::1",)


def test_an_ssl_request_needs_a_name_and_a_client_request_an_email():
    assert refused(InvalidRequest).code == "san_required"
    with pytest.raises(InvalidRequest) as no_email:
        check(profile=profile_of("client"), term_days=365)
    assert no_email.value.code == "email_required"
    assert check(profile=profile_of("client"), term_days=365, emails=["ada@example.com"]) == \
        Checked("ada@example.com", (), ("ada@example.com",))


def test_a_real_csr_fits_the_default_tls_profile():
    private_key = ec.generate_private_key(ec.SECP384R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shop.example.com")]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName("shop.example.com"),
                                                       x509.DNSName("www.shop.example.com")]), critical=False)
           .sign(private_key, hashes.SHA384()))
    parsed_csr = parse_csr(csr.public_bytes(serialization.Encoding.PEM).decode())
    checked = check_request(profile_of("ssl"), parsed_csr, parsed_csr.subject_common_name, [], 200, NOW)
    assert checked == Checked("shop.example.com", ("shop.example.com", "www.shop.example.com"))


# ---- key usages of the certificate ------------------------------------------------------------------------------

def test_an_ecdsa_certificate_gets_digital_signature_only():
    profile = profile_of("ssl", key_encipherment_for_rsa=True)
    assert leaf_extensions(profile, "ec-p256") == ({"digital_signature"}, ["server_auth"])


def test_an_rsa_certificate_gets_key_encipherment_only_when_the_profile_says_so():
    assert leaf_extensions(profile_of("ssl"), "rsa-2048")[0] == {"digital_signature"}
    assert leaf_extensions(profile_of("ssl", key_encipherment_for_rsa=True), "rsa-2048")[0] == \
        {"digital_signature", "key_encipherment"}


def test_key_encipherment_stored_in_a_profile_never_reaches_an_ecdsa_certificate():
    profile = profile_of("ssl", key_usage=["digital_signature", "key_encipherment", "key_agreement"])
    assert leaf_extensions(profile, "ec-p384")[0] == {"digital_signature"}


def test_the_default_profiles_extended_key_usages():
    assert leaf_extensions(profile_of("client"), "rsa-3072") == ({"digital_signature", "key_encipherment"},
                                                                 ["email_protection", "client_auth"])
    assert leaf_extensions(profile_of("code_signing"), "rsa-3072") == ({"digital_signature"}, ["code_signing"])
    assert leaf_extensions(profile_of("device"), "ec-p256")[1] == ["client_auth", "server_auth"]
