"""ACME's pure parts: JWS checks (acme_jws) and the aggregates' decisions (acme_domain)."""
import json
from datetime import datetime, timedelta, timezone

import pytest

from services.enrollment import acme_domain as ad
from services.enrollment import acme_jws as j
from services.enrollment.acme_events import AcmeAuthorizationCreated, AcmeOrderCreated, AcmeRegistrationCreated
from services.enrollment.acme_problems import Problem
from tests.acme_jws import Key, eab, jws

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
URL = "https://ca.example/acme/new-account"


def signed(key, protected, payload=None):
    return j.parse(json.dumps(jws(key, protected, payload)).encode())


def problem_type(call) -> str:
    with pytest.raises(Problem) as caught:
        call()
    return caught.value.type


def test_rfc7638_thumbprint_example():
    jwk = {"kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
           "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n"
                "3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZ"
                "Hzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-"
                "kEgU8awapJzKnqDKgw"}
    assert j.thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    assert j.public_jwk(jwk) == {"kty": "RSA", "n": jwk["n"], "e": "AQAB"}


@pytest.mark.parametrize("kind", ["ec-p256", "ec-p384", "rsa-2048", "ed25519"])
def test_each_allowed_algorithm_verifies_and_a_foreign_signature_does_not(kind):
    key = Key(kind)
    good = signed(key, {"alg": key.alg, "jwk": key.jwk, "nonce": "n", "url": URL}, {"a": 1})
    j.check_header(good, URL, "jwk")
    j.verify(good, j.load_jwk(key.jwk))
    forged = j.parse(json.dumps(jws(key, {"alg": key.alg, "jwk": key.jwk, "nonce": "n", "url": URL}, {},
                                    sign_with=Key(kind))).encode())
    assert problem_type(lambda: j.verify(forged, j.load_jwk(key.jwk))) == "malformed"


def test_header_rules():
    key = Key()
    base = {"alg": key.alg, "nonce": "n", "url": URL}
    assert problem_type(lambda: j.check_header(signed(key, {**base, "alg": "none", "jwk": key.jwk}), URL, "jwk")) \
        == "badSignatureAlgorithm"
    assert problem_type(lambda: j.check_header(signed(key, {**base, "alg": "HS256", "jwk": key.jwk}), URL,
                                               "jwk")) == "badSignatureAlgorithm"
    assert problem_type(lambda: j.check_header(signed(key, {**base, "jwk": key.jwk, "url": URL + "x"}), URL,
                                               "jwk")) == "unauthorized"
    assert problem_type(lambda: j.check_header(signed(key, {**base, "jwk": key.jwk, "kid": "k"}), URL,
                                               "either")) == "malformed"
    assert problem_type(lambda: j.check_header(signed(key, {**base, "kid": "k"}), URL, "jwk")) == "malformed"
    assert problem_type(lambda: j.check_header(signed(key, {"alg": key.alg, "jwk": key.jwk, "url": URL}), URL,
                                               "jwk")) == "badNonce"


def test_malformed_bodies_and_keys():
    for body in (b"not json", b"[]", b'{"protected": "e30", "payload": ""}', b'{"protected": "e30=", '
                 b'"payload": "", "signature": ""}'):
        assert problem_type(lambda: j.parse(body)) == "malformed"
    assert problem_type(lambda: j.load_jwk({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"})) == "badPublicKey"
    small = {"kty": "RSA", "n": "AQAB", "e": "AQAB"}
    assert problem_type(lambda: j.load_jwk(small)) == "badPublicKey"
    assert problem_type(lambda: j.load_jwk({**Key().jwk, "d": "AAAA"})) == "malformed"


def test_external_account_binding():
    key, hmac_key = Key(), "c2VjcmV0LWhtYWMta2V5LW9mLTMyLWJ5dGVzLWxvbmch"
    keys = {"kid-1": j.b64url_decode(hmac_key, "k")}
    assert j.verify_eab(eab("kid-1", hmac_key, key.jwk, URL), key.jwk, URL, keys.get) == "kid-1"
    assert problem_type(lambda: j.verify_eab(eab("kid-1", hmac_key, Key().jwk, URL), key.jwk, URL, keys.get)) \
        == "unauthorized"                                               # a MAC over another key
    assert problem_type(lambda: j.verify_eab(eab("kid-2", hmac_key, key.jwk, URL), key.jwk, URL, keys.get)) \
        == "unauthorized"
    assert problem_type(lambda: j.verify_eab(eab("kid-1", hmac_key, key.jwk, URL + "x"), key.jwk, URL,
                                             keys.get)) == "malformed"


def authorization(**changes) -> ad.Authorization:
    created = AcmeAuthorizationCreated("z1", "r1", "dns", "www.example.com", False,
                                       (NOW + timedelta(days=7)).isoformat(),
                                       [{"challenge_id": "c1", "type": "http-01", "token": "t1"}])
    return ad.evolve_authorization(ad.Authorization(), created)


def registration() -> ad.Registration:
    return ad.evolve_registration(ad.Registration(), AcmeRegistrationCreated("r1", "a1", Key().jwk, "thumb", []))


def test_a_challenge_is_submitted_once_and_its_check_decides_the_authorization():
    state, reg = authorization(), registration()
    [submitted] = ad.decide_submit_challenge(state, "c1", reg, NOW, {
        "organization_id": "o", "department_id": None, "account_uri": "u", "trust_class": "private"})
    assert submitted.key_authorization == "t1.thumb"
    state = ad.evolve_authorization(state, submitted)
    assert ad.decide_submit_challenge(state, "c1", reg, NOW, {}) == []               # asked again: nothing
    [invalid] = ad.decide_record_check(state, {"challenge_id": "c1", "valid": False,
                                               "problem_type": "connection", "detail": "refused"})
    state = ad.evolve_authorization(state, invalid)
    assert state.status(NOW) == "invalid"
    assert ad.decide_record_check(state, {"challenge_id": "c1", "valid": True, "validated_at": "x"}) == []
    assert problem_type(lambda: ad.decide_submit_challenge(state, "c1", reg, NOW, {})) == "malformed"


def test_an_authorization_expires_and_a_wildcard_has_only_dns01():
    assert authorization().status(NOW + timedelta(days=8)) == "expired"
    assert ad.challenge_types("dns", True) == ("dns-01",)
    assert ad.challenge_types("ip", False) == ("http-01", "tls-alpn-01")


def test_order_status_follows_authorizations_then_the_ssl_request():
    order = ad.evolve_order(ad.Order(), AcmeOrderCreated("o1", "r1", "a1", "org", None, "p", [], ["z1", "z2"],
                                                         None, None, (NOW + timedelta(days=7)).isoformat()))
    assert ad.order_status(order, ["valid", "pending"], None, NOW) == "pending"
    assert ad.order_status(order, ["valid", "valid"], None, NOW) == "ready"
    assert ad.order_status(order, ["valid", "invalid"], None, NOW) == "invalid"
    assert ad.order_status(order, ["valid", "valid"], None, NOW + timedelta(days=8)) == "invalid"
    finalized = ad.evolve_order(order, ad.decide_finalize(order, "ready", "s1")[0])
    assert ad.order_status(finalized, ["valid", "valid"], "applied", NOW) == "processing"
    assert ad.order_status(finalized, ["valid", "valid"], "issued", NOW) == "valid"
    assert ad.order_status(finalized, ["valid", "valid"], "failed", NOW) == "invalid"
    assert problem_type(lambda: ad.decide_finalize(finalized, "valid", "s1")) == "orderNotReady"


def test_contacts():
    assert ad.check_contact(["mailto:a@example.com"]) == ["mailto:a@example.com"]
    assert problem_type(lambda: ad.check_contact(["tel:1"])) == "unsupportedContact"
    assert problem_type(lambda: ad.check_contact(["mailto:a@example.com,b@example.com"])) == "invalidContact"
    assert problem_type(lambda: ad.check_contact("mailto:a@example.com")) == "malformed"
