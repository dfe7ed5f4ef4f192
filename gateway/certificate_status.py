"""The gateway's copy of every certificate's status, by serial: a read model of `ca` events, kept by the follower.

It is what lets the gateway reuse a signed OCSP response (gateway/ocsp.py) without asking the ca: a response may
be answered again only while the serial's status here is still the one the ca signed. It holds no keys and no
certificates, only serial (lower-case hex without leading zeros, as the ca writes it), the issuing CA and status.
"""
from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa

from services.runtime.events import Envelope



class OcspStatus(StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


# What OCSP answers for a row's status: signing (the certificate is being signed; the ca answers "good", never
# "unknown", for a serial it recorded) and issued are good; no row at all is "unknown".
OCSP_STATUS = {"signing": OcspStatus.GOOD, "issued": OcspStatus.GOOD, "revoked": OcspStatus.REVOKED}


class CertificateStatus:
    def __init__(self, metadata: sa.MetaData):
        self.certificates = sa.Table(
            "certificate_status", metadata,
            sa.Column("serial", sa.String(42), primary_key=True),
            sa.Column("ca_id", sa.String(36), nullable=False),
            sa.Column("status", sa.String(10), nullable=False),
        )
        # one indexed row per OCSP request, through Database.quick_scalar (the serial is a bound parameter)
        self.status_query = sa.select(self.certificates.c.status).where(
            self.certificates.c.serial == sa.bindparam("serial"))

    def apply(self, conn: sa.Connection, event: Envelope) -> None:
        p, certs = event.payload, self.certificates
        match event.event_type:
            case "certificate_signing.v1":
                conn.execute(certs.insert().values(serial=p["serial"], ca_id=p["ca_id"], status="signing"))
            case "certificate_issued.v1":      # always after its certificate_signing, as in the ca's own view
                conn.execute(certs.update().where(certs.c.serial == p["serial"]).values(status="issued"))
            case "certificate_revoked.v1":
                conn.execute(certs.update().where(certs.c.serial == p["serial"]).values(status="revoked"))
            # ca_created and crl_published change no certificate's status

    def reset(self, conn: sa.Connection) -> None:
        conn.execute(self.certificates.delete())
