"""gateway.certificate_status: what OCSP may say of a serial, as ca's events arrive (SQLite, as in embedded mode),
read the way the fast path reads it (Database.quick_scalar with the serial bound)."""
import datetime as dt

import sqlalchemy as sa

from gateway.certificate_status import OCSP_STATUS, CertificateStatus, OcspStatus
from services.runtime.db import make_database
from services.runtime.events import Envelope

CA_ID = "0b9c1d8e-2f44-4c55-9a6e-1d2a3b4c5d6e"
position = iter(range(1, 1000))


def event(event_type: str, **payload) -> Envelope:
    return Envelope(f"e-{event_type}-{payload.get('serial')}", event_type, "ca", f"certificate-{payload['serial']}", 1,
                    next(position), dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc), None, None, None,
                    {"ca_id": CA_ID, **payload})


def test_a_serial_is_good_from_signing_revoked_after_revocation_and_unknown_without_a_row(tmp_path):
    db = make_database(f"sqlite:///{tmp_path / 'gateway.sqlite3'}", None)
    metadata = sa.MetaData()
    view = CertificateStatus(metadata)
    db.create_tables(metadata)

    def status(serial: str) -> OcspStatus:
        return OCSP_STATUS.get(db.quick_scalar(view.status_query, {"serial": serial}), OcspStatus.UNKNOWN)

    with db.writer() as conn, conn.begin():
        view.apply(conn, event("certificate_signing.v1", serial="7f01"))
    assert status("7f01") == "good"           # the ca never calls a serial it recorded "unknown"
    with db.writer() as conn, conn.begin():
        view.apply(conn, event("certificate_issued.v1", serial="7f01"))
        view.apply(conn, event("certificate_signing.v1", serial="7f02"))
        view.apply(conn, event("certificate_issued.v1", serial="7f02"))
        view.apply(conn, event("certificate_revoked.v1", serial="7f02", reason="superseded",
                               revoked_at="2026-12-01T00:00:00+00:00"))
        view.apply(conn, event("crl_published.v1", serial=None, crl_number=1))
    assert (status("7f01"), status("7f02"), status("7f03")) == ("good", "revoked", "unknown")
    with db.writer() as conn, conn.begin():
        view.reset(conn)
    assert status("7f02") == "unknown"
    db.dispose()


def ca_event(event_type: str, **payload) -> Envelope:
    return Envelope(f"e-{event_type}-{next(position)}", event_type, "ca", f"ca-{payload['ca_id']}", 1,
                    next(position), dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc), None, None, None, payload)


def test_an_issuing_cas_certificates_are_good_under_its_root_until_the_ca_is_revoked(tmp_path):
    db = make_database(f"sqlite:///{tmp_path / 'gateway.sqlite3'}", None)
    metadata = sa.MetaData()
    view = CertificateStatus(metadata)
    db.create_tables(metadata)

    def status(serial: str) -> OcspStatus:
        return OCSP_STATUS.get(db.quick_scalar(view.status_query, {"serial": serial}), OcspStatus.UNKNOWN)

    root, issuing = "root-ca-id", CA_ID
    with db.writer() as conn, conn.begin():
        view.apply(conn, ca_event("ca_created.v1", ca_id=root, parent_ca_id=None, serial="900d"))
        view.apply(conn, ca_event("ca_created.v1", ca_id=issuing, parent_ca_id=root, serial="a1"))
        view.apply(conn, ca_event("ca_certificate_reissued.v1", ca_id=issuing, parent_ca_id=root, serial="a2"))
        view.apply(conn, ca_event("ca_revocation_requested.v1", ca_id=issuing, reason="ca_compromise"))
    # a root answers no OCSP about itself: its own serial has no row
    assert (status("900d"), status("a1"), status("a2")) == ("unknown", "good", "good")
    with db.writer() as conn, conn.begin():
        # "a0": a certificate this read model never saw (its CA was made before it kept CA certificates)
        view.apply(conn, ca_event("ca_revoked.v1", ca_id=issuing, parent_ca_id=root, serials=["a0", "a1", "a2"],
                                  reason="ca_compromise"))
    assert (status("a0"), status("a1"), status("a2")) == ("revoked", "revoked", "revoked")
    db.dispose()
