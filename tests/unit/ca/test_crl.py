"""CRLs as the ca publishes them: each entry encoded once, when the revocation is applied to the read model
(CaView, table crl_entries); publishing reads the stored entries in batches, puts them into the TBSCertList
unchanged and signs it (CaService._publish_crl, x509build.crl_tbs / sign_crl). The publish tests run the
service's own method with nameko's worker_factory on a real event store (SQLite, and PostgreSQL where marked)."""
import datetime as dt
import shutil
import subprocess
import uuid
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from asn1crypto import core as asn1_core
from asn1crypto import crl as asn1_crl
from asn1crypto import parser as asn1_parser
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from nameko.testing.services import worker_factory

from services.ca import lint, x509build
from services.ca.events import CertificateRevoked, CertificateSigning
from services.ca.projections import CaView
from services.ca.service import CaService, CrlFiles
from services.runtime.db import make_database
from services.runtime.nameko_glue import StoreHandle
from services.runtime.store import EventStore
from tests import factories
from tests.support import pg_database

DER = serialization.Encoding.DER
CA_ID = str(uuid.uuid4())
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(minutes=1)   # openssl checks times
WEEK = dt.timedelta(days=7)
# (serial, revoked_at, reason): every leaf reason, a serial whose top bit needs a 00 octet, a 159-bit one, a
# revocation time with microseconds (the CRL says whole seconds) and one in another time zone
REVOKED = [
    (0x1234567890ABCDEF1, NOW - dt.timedelta(days=3), "key_compromise"),
    (0x80, NOW - dt.timedelta(hours=5, microseconds=250_000), "superseded"),
    (0x7F, NOW - dt.timedelta(minutes=1), "unspecified"),
    (2**159 - 1, NOW.astimezone(dt.timezone(dt.timedelta(hours=-5))), "cessation_of_operation"),
    (0xABCDEF, NOW - dt.timedelta(days=40), "affiliation_changed"),
    (0x5, NOW - dt.timedelta(seconds=1), "privilege_withdrawn"),
]


@pytest.fixture(scope="module")
def pg_url():
    with pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request, tmp_path):
    if request.param == "sqlite":
        db = make_database(f"sqlite:///{tmp_path / 'ca.sqlite3'}", None)
    else:
        db = make_database(request.getfixturevalue("pg_url"), f"ca_{uuid.uuid4().hex[:10]}")
    yield db
    db.dispose()


def _store(db) -> EventStore:
    store = EventStore(db, "ca", [CaView], clock=lambda: NOW)
    store.create_schema()
    return store


def _revoke(store, revoked, ca_id=CA_ID) -> None:
    """Each certificate as the ca records it: signing (the row), then revoked (the CRL entry)."""
    for serial, revoked_at, reason in revoked:
        hex_serial = format(serial, "x")
        signing = CertificateSigning(ca_id, hex_serial, "req-" + hex_serial, "CN=x.example.com", ["x.example.com"],
                                     (NOW - dt.timedelta(days=90)).isoformat(),
                                     (NOW + dt.timedelta(days=90)).isoformat(), "00" * 32)
        store.append(f"certificate-{hex_serial}", 0, [signing.encode()])
        store.append(f"certificate-{hex_serial}", 1,
                     [CertificateRevoked(ca_id, hex_serial, reason, revoked_at.isoformat()).encode()])


def _ca_service(store, chain):
    """CaService with the real store and CRL files, and the CA's certificate and key at hand."""
    tools = SimpleNamespace(settings=SimpleNamespace(crl_validity_days=7, crl_refresh_hours=24),
                            keys={"key-1": chain.issuing_key}, crl_files=CrlFiles(store.db),
                            certificate=lambda ca: chain.issuing)
    service = worker_factory(CaService, store=StoreHandle(store, factories.WorkerInfo()), tools=tools)
    return service, {"ca_id": CA_ID, "key_ref": "key-1", "kind": "issuing"}


def _published(service, ca) -> x509.CertificateRevocationList:
    service._publish_crl(ca, NOW)
    return x509.load_der_x509_crl(service.tools.crl_files.get(CA_ID))


def _openssl(directory, *args) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], cwd=directory, capture_output=True, text=True, timeout=60)


def _crl_entry_count(store) -> int:
    return store.read(lambda conn: conn.execute(
        sa.select(sa.func.count()).select_from(store.projection(CaView).crl_entries)).scalar())


def _forget_crl_entries(store) -> None:
    """The database as it was before the crl_entries table existed: revocations recorded, no entries."""
    table = store.projection(CaView).crl_entries
    with store.db.writer() as conn, conn.begin():
        table.drop(conn)
    store.create_schema()                                 # what a start after the upgrade does: an empty table


# ---- the published CRL ------------------------------------------------------------------------------------
@pytest.mark.parametrize("key_type", ["ec-p256", "ec-p384", "rsa-3072"])
def test_published_crl_verifies_and_lists_each_revocation_as_it_was_made(tmp_path, key_type):
    chain = factories.ca_chain(key_type)
    store = _store(make_database(f"sqlite:///{tmp_path / 'ca.sqlite3'}", None))
    _revoke(store, REVOKED)
    service, ca = _ca_service(store, chain)

    crl = _published(service, ca)

    assert crl.is_signature_valid(chain.issuing.public_key())
    assert crl.signature_hash_algorithm.name == x509build.signature_hash(chain.issuing_key).name
    assert crl.issuer == chain.issuing.subject
    assert crl.last_update_utc == NOW and crl.next_update_utc == NOW + WEEK
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1
    ski = chain.issuing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    assert aki.value.key_identifier == ski.digest and not aki.critical
    assert len(crl) == len(REVOKED)
    for serial, revoked_at, reason in REVOKED:
        entry = crl.get_revoked_certificate_by_serial_number(serial)
        assert entry.revocation_date_utc == revoked_at.replace(microsecond=0)
        if reason == "unspecified":
            assert len(entry.extensions) == 0            # said by leaving the reasonCode out (BR 7.2.2)
        else:
            extension = entry.extensions.get_extension_for_class(x509.CRLReason)
            assert extension.value.reason == x509.ReasonFlags[reason] and not extension.critical
    assert lint.errors(lint.lint_crl(crl.public_bytes(DER))) == []
    [event] = [e for e in store.read_events(0, 100) if e.event_type == "crl_published.v1"]
    assert event.payload["entries"] == len(REVOKED) and event.payload["crl_number"] == 1


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
@pytest.mark.parametrize("key_type", ["ec-p256", "rsa-3072"])
def test_openssl_verifies_the_published_crl_and_finds_a_revoked_certificate_in_it(tmp_path, key_type):
    chain = factories.ca_chain(key_type)
    spec = factories.leaf_spec(x509build.generate_key("ec-p256").public_key(), chain.now)
    leaf = x509build.build_leaf(spec, chain.issuing, chain.issuing_key)
    store = _store(make_database(f"sqlite:///{tmp_path / 'ca.sqlite3'}", None))
    _revoke(store, [*REVOKED, (spec.serial, NOW - dt.timedelta(hours=1), "key_compromise")])
    service, ca = _ca_service(store, chain)

    crl = _published(service, ca)
    (tmp_path / "crl.pem").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "root.pem").write_bytes(chain.root.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "issuing.pem").write_bytes(chain.issuing.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))

    checked = _openssl(tmp_path, "crl", "-in", "crl.pem", "-noout", "-verify", "-CAfile", "issuing.pem")
    verified = _openssl(tmp_path, "verify", "-crl_check", "-CAfile", "root.pem", "-untrusted", "issuing.pem",
                        "-CRLfile", "crl.pem", "leaf.pem")

    assert "verify OK" in checked.stdout + checked.stderr, checked.stderr
    assert verified.returncode != 0 and "certificate revoked" in verified.stdout + verified.stderr


def test_a_ca_without_revocations_publishes_a_crl_without_a_revoked_list(tmp_path):
    chain = factories.ca_chain("ec-p256")
    store = _store(make_database(f"sqlite:///{tmp_path / 'ca.sqlite3'}", None))
    _revoke(store, REVOKED[:2], ca_id=str(uuid.uuid4()))       # another CA's revocations are not in this CRL
    service, ca = _ca_service(store, chain)

    crl = _published(service, ca)

    assert len(crl) == 0 and crl.is_signature_valid(chain.issuing.public_key())
    assert crl.next_update_utc == NOW + WEEK
    # RFC 5280 5.1.2.6: with no revoked certificate the list is absent, not empty
    assert isinstance(asn1_crl.TbsCertList.load(crl.tbs_certlist_bytes)["revoked_certificates"], asn1_core.Void)
    assert lint.errors(lint.lint_crl(crl.public_bytes(DER))) == []


def test_each_publication_takes_the_next_crl_number(tmp_path):
    chain = factories.ca_chain("ec-p256")
    store = _store(make_database(f"sqlite:///{tmp_path / 'ca.sqlite3'}", None))
    _revoke(store, REVOKED[:1])
    service, ca = _ca_service(store, chain)
    first = _published(service, ca)
    _revoke(store, REVOKED[1:2])

    second = _published(service, ca)

    assert [c.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number for c in (first, second)] == [1, 2]
    assert len(first) == 1 and len(second) == 2


# ---- the entries in the read model ------------------------------------------------------------------------
def test_revocations_recorded_before_the_crl_entries_table_are_in_the_next_crl(database):
    chain = factories.ca_chain("ec-p256")
    store = _store(database)
    _revoke(store, REVOKED)
    _forget_crl_entries(store)
    _revoke(store, [(0x99, NOW, "superseded")])         # one revoked after the upgrade: its entry is there
    assert _crl_entry_count(store) == 1
    service, ca = _ca_service(store, chain)

    crl = _published(service, ca)

    assert {entry.serial_number for entry in crl} == {serial for serial, _, _ in REVOKED} | {0x99}
    assert crl.is_signature_valid(chain.issuing.public_key())
    assert _crl_entry_count(store) == len(REVOKED) + 1     # stored: the next publication reads them only
    assert store.read(lambda conn: store.projection(CaView).revoked_without_crl_entry(conn, CA_ID)) == []


def test_rebuilding_the_projections_makes_the_crl_entries_again(database):
    store = _store(database)
    _revoke(store, REVOKED)
    view = store.projection(CaView)
    before = [entry for batch in view.crl_entry_batches(database.engine, CA_ID) for entry in batch]
    _forget_crl_entries(store)

    store.rebuild_projections()            # what `certplane projections rebuild ca` runs

    after = [entry for batch in view.crl_entry_batches(database.engine, CA_ID) for entry in batch]
    assert after == before and len(after) == len(REVOKED)


def test_crl_entries_are_read_in_batches_in_the_same_order_each_time(database):
    store = _store(database)
    _revoke(store, REVOKED)
    _revoke(store, [(0x42, NOW, "superseded")], ca_id=str(uuid.uuid4()))     # another CA's
    view = store.projection(CaView)

    batches = list(view.crl_entry_batches(database.engine, CA_ID, batch=4))

    assert [len(batch) for batch in batches] == [4, 2]
    assert sorted(batches[0] + batches[1]) == sorted(x509build.crl_entry(*entry) for entry in REVOKED)
    assert list(view.crl_entry_batches(database.engine, CA_ID, batch=4)) == batches


@pytest.mark.postgres
def test_crl_files_are_stored_uncompressed_on_postgresql_even_in_a_table_made_before(pg_url):
    db = make_database(pg_url, f"ca_{uuid.uuid4().hex[:10]}")
    files = CrlFiles(db)
    table = db.engine.dialect.identifier_preparer.format_table(files.table)

    def storage() -> str:
        with db.engine.connect() as conn:
            return conn.execute(sa.text("SELECT attstorage FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) "
                                        "AND attname = 'der'"), {"t": table}).scalar()
    assert storage() == "e"
    with db.writer() as conn, conn.begin():
        conn.execute(sa.text(f"ALTER TABLE {table} ALTER COLUMN der SET STORAGE EXTENDED"))   # bytea's default

    CrlFiles(db).put(CA_ID, 1, b"\x30\x00")

    assert storage() == "e" and CrlFiles(db).get(CA_ID) == b"\x30\x00"
    db.dispose()


# ---- x509build --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key_type", ["ec-p256", "ec-p384", "rsa-3072"])
def test_the_tbs_is_byte_for_byte_what_cryptographys_crl_builder_makes(key_type):
    chain = factories.ca_chain(key_type)
    revoked = [*REVOKED, (0x3333, dt.datetime(2051, 1, 1, tzinfo=dt.timezone.utc), "superseded")]
    entries = [x509.RevokedCertificateBuilder(
        serial, at.replace(microsecond=0), [] if reason == "unspecified" else
        [x509.Extension(x509.CRLReason.oid, False, x509.CRLReason(x509.ReasonFlags[reason]))]).build()
        for serial, at, reason in revoked]
    ski = chain.issuing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    theirs = x509.CertificateRevocationListBuilder(
        extensions=[x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(42)),
                    x509.Extension(x509.AuthorityKeyIdentifier.oid, False,
                                   x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski))],
        revoked_certificates=entries).issuer_name(chain.issuing.subject).last_update(NOW).next_update(NOW + WEEK) \
        .sign(chain.issuing_key, x509build.signature_hash(chain.issuing_key))

    ours = x509build.build_crl(chain.issuing, chain.issuing_key, revoked, 42, NOW, NOW + WEEK)

    assert ours.tbs_certlist_bytes == theirs.tbs_certlist_bytes
    assert ours.signature_algorithm_oid == theirs.signature_algorithm_oid
    assert ours.is_signature_valid(chain.issuing.public_key())
    assert ours.get_revoked_certificate_by_serial_number(0x3333).revocation_date_utc.year == 2051


@pytest.mark.parametrize("length", [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2**24 - 1, 2**24 + 1])
def test_sequence_headers_are_the_ones_asn1crypto_writes(length):
    contents = bytes(length)
    assert x509build._sequence_header(length) + contents == asn1_parser.emit(0, 1, 16, contents)


def test_crl_entries_refuse_unknown_reasons_naive_times_and_serials_below_one():
    with pytest.raises(ValueError, match="unknown revocation reason"):
        x509build.crl_entry(5, NOW, "remove_from_crl")
    with pytest.raises(ValueError, match="timezone-aware"):
        x509build.crl_entry(5, NOW.replace(tzinfo=None), "superseded")
    with pytest.raises(ValueError, match="positive"):
        x509build.crl_entry(0, NOW, "superseded")


def test_crl_entries_gathers_the_bytes_the_count_and_one_entry_of_each_shape():
    one = [x509build.crl_entry(serial, NOW, "superseded") for serial in (0x1001, 0x1002, 0x1003)]
    other = [x509build.crl_entry(0x2001, NOW, "key_compromise"), x509build.crl_entry(0x7, NOW, "superseded")]
    entries = x509build.CrlEntries()

    entries.add(one)
    entries.add([])
    entries.add(other)

    assert entries.chunks == [b"".join(one), b"".join(other)] and entries.count == 5
    assert sorted(entries.lint_sample()) == sorted([one[-1], *other])
