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
