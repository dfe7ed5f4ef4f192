"""services.ca.adapters.keystore: CA keys wrapped at rest, on each database kind (the `database` fixture)."""
import base64
import os
import stat

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization

from services.ca.adapters.keystore import KeyStore, KeyStoreLocked, UnknownKeyRef, load_kek, public_fingerprint
from tests import factories


def _pkcs8(key) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.mark.parametrize("key_type", ["ec-p256", "ec-p384", "rsa-3072"])
def test_a_key_comes_back_from_a_fresh_store_with_the_same_kek(database, key_type):
    kek = os.urandom(32)
    key = factories.private_key(key_type)
    store = KeyStore(database, kek)
    key_ref = store.put(key)

    loaded = KeyStore(database, kek).get(key_ref)             # a new store: nothing cached

    assert _pkcs8(loaded) == _pkcs8(key)
    assert public_fingerprint(loaded) == public_fingerprint(key.public_key())
    with database.engine.connect() as conn:
        assert conn.execute(sa.select(store.table.c.algorithm)).scalar_one() == key_type


def test_the_table_holds_no_plaintext_key(database):
    key = factories.private_key("ec-p256")
    der = _pkcs8(key)
    secret = key.private_numbers().private_value.to_bytes(32, "big")
    store = KeyStore(database, os.urandom(32))
    store.put(key)

    with database.engine.connect() as conn:
        rows = conn.execute(sa.select(store.table)).all()
    raw = b"".join(bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode() for row in rows for v in row)

    assert len(rows) == 1
    assert der not in raw and secret not in raw and base64.b64encode(der) not in raw
    assert len(rows[0].nonce) == 12 and len(rows[0].wrapped) == len(der) + 16       # GCM tag


def test_a_wrong_kek_is_a_clear_locked_error(database):
    key_ref = KeyStore(database, os.urandom(32)).put(factories.private_key("ec-p256"))
    locked = KeyStore(database, os.urandom(32))

    with pytest.raises(KeyStoreLocked, match="CERTPLANE_CA_KEK"):
        locked.get(key_ref)
    with pytest.raises(KeyStoreLocked):
        locked.check_kek()


def test_a_wrapped_key_moved_to_another_ref_does_not_open(database):
    kek = os.urandom(32)
    store = KeyStore(database, kek)
    first, second = store.put(factories.private_key("ec-p256")), store.put(factories.private_key("ec-p384"))
    with database.writer() as conn, conn.begin():
        row = conn.execute(sa.select(store.table).where(store.table.c.key_ref == first)).one()
        conn.execute(store.table.update().where(store.table.c.key_ref == second)
                     .values(nonce=row.nonce, wrapped=row.wrapped))

    with pytest.raises(KeyStoreLocked):
        KeyStore(database, kek).get(second)


def test_a_loaded_key_is_kept_in_memory(database):
    kek = os.urandom(32)
    key_ref = KeyStore(database, kek).put(factories.private_key("ec-p256"))
    store = KeyStore(database, kek)
    first = store.get(key_ref)
    with database.writer() as conn, conn.begin():
        conn.execute(store.table.delete())

    assert store.get(key_ref) is first
    with pytest.raises(UnknownKeyRef):
        KeyStore(database, kek).get(key_ref)


def test_an_unknown_ref_is_not_found(database):
    with pytest.raises(UnknownKeyRef):
        KeyStore(database, os.urandom(32)).get("00000000-0000-4000-8000-000000000000")


def test_neither_the_kek_nor_a_key_shows_in_the_repr(database):
    kek = os.urandom(32)
    store = KeyStore(database, kek)
    store.put(factories.private_key("ec-p256"))

    text = repr(store) + str(store) + repr(vars(store))
    assert base64.b64encode(kek).decode() not in text and kek.hex() not in text and repr(kek) not in text


def test_embedded_mode_creates_a_private_kek_file_and_reuses_it(tmp_path):
    var_dir = tmp_path / "var"

    first = load_kek(None, str(var_dir), embedded=True)
    second = load_kek(None, str(var_dir), embedded=True)

    path = var_dir / "ca-kek"
    assert len(first) == 32 and first == second
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert base64.b64decode(path.read_text()) == first
    assert [p.name for p in var_dir.iterdir()] == ["ca-kek"]                # no temporary file left


def test_a_kek_file_readable_by_others_is_refused(tmp_path):
    load_kek(None, str(tmp_path), embedded=True)
    (tmp_path / "ca-kek").chmod(0o644)

    with pytest.raises(SystemExit, match="chmod 600"):
        load_kek(None, str(tmp_path), embedded=True)


def test_distributed_mode_without_a_kek_exits_naming_the_variable(tmp_path):
    with pytest.raises(SystemExit, match="CERTPLANE_CA_KEK"):
        load_kek(None, str(tmp_path), embedded=False)
    assert not (tmp_path / "ca-kek").exists()


def test_a_configured_kek_wins_and_must_be_32_bytes(tmp_path):
    kek = os.urandom(32)

    assert load_kek(base64.b64encode(kek).decode(), str(tmp_path), embedded=True) == kek
    assert not (tmp_path / "ca-kek").exists()
    for bad in (base64.b64encode(os.urandom(16)).decode(), "not base64!"):
        with pytest.raises(SystemExit, match="CERTPLANE_CA_KEK"):
            load_kek(bad, str(tmp_path), embedded=False)
