"""services.ca.hierarchy: the default root and issuing CA, made once whoever asks (the service's first start,
`certplane ca init`, a replica starting at the same moment)."""
import os

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from services.ca import hierarchy
from services.ca.adapters.keystore import KeyStore
from services.ca.projections import CaView
from services.ca.service import CaService
from services.runtime.config import load_settings
from services.runtime.nameko_glue import open_database


@pytest.fixture
def ca_store(tmp_path):
    settings = load_settings({}, var_dir=str(tmp_path), public_base_url="https://pki.example.com")
    store = CaService.store.build_store(settings, "ca")
    return store, KeyStore(open_database(settings, "ca"), os.urandom(32)), settings


def test_the_hierarchy_is_made_once_and_then_found(ca_store):
    store, keys, settings = ca_store
    made = hierarchy.ensure_default_hierarchy(store, keys, settings)
    again = hierarchy.ensure_default_hierarchy(store, keys, settings, "rsa-3072")

    assert made.created and not again.created
    assert (again.root, again.issuing) == (made.root, made.issuing)
    # the root, the TLS issuing CA, and the S/MIME and code-signing issuing CAs (their own EKU each)
    assert [r.event_type for r in store.read_events(0, 10)] == ["ca_created.v1"] * 4
    cas = {row["name"]: row for row in store.read(store.projection(CaView).all_cas)}
    for name, eku in (("Certplane S/MIME CA", [ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.CLIENT_AUTH]),
                      ("Certplane Code Signing CA", [ExtendedKeyUsageOID.CODE_SIGNING])):
        cert = x509.load_pem_x509_certificate(cas[name]["certificate_pem"].encode())
        assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == eku
        assert cas[name]["parent_ca_id"] == made.root["ca_id"]
    issuing = x509.load_pem_x509_certificate(made.issuing["certificate_pem"].encode())
    aia = issuing.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert aia[0].access_location.value == "https://pki.example.com/ocsp"


def test_a_caller_that_loses_the_race_keeps_the_winners_hierarchy(ca_store, monkeypatch):
    store, keys, settings = ca_store
    winner = hierarchy.ensure_default_hierarchy(store, keys, settings)
    found = iter([None])                          # the loser looked before the winner's append was visible
    real = hierarchy.default_cas
    monkeypatch.setattr(hierarchy, "default_cas", lambda s: next(found, None) or real(s))

    loser = hierarchy.ensure_default_hierarchy(store, keys, settings)

    assert not loser.created and loser.root == winner.root
    assert len(store.read_events(0, 10)) == 4


def test_an_unknown_algorithm_is_a_value_error_and_makes_nothing(ca_store):
    store, keys, settings = ca_store
    with pytest.raises(ValueError, match="ec-p256, ec-p384, rsa-3072, rsa-4096"):
        hierarchy.ensure_default_hierarchy(store, keys, settings, "ec-p521")
    assert store.read_events(0, 10) == []
