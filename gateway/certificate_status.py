"""The gateway's copy of every certificate's status, by serial: a read model of `ca` events, kept by the follower.

It is what lets the gateway reuse a signed OCSP response (gateway/ocsp.py) without asking the ca: a response may
be answered again only while the serial's status here is still the one the ca signed. It holds no keys and no
certificates, only serial (lower-case hex without leading zeros, as the ca writes it), the issuing CA and status.
An issuing CA's own certificates are rows too, under the root that signed them (ca_created, and each
ca_certificate_reissued, of a CA with a parent); `ca_revoked` revokes all of them at once.
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
            case "ca_created.v1" | "ca_certificate_reissued.v1" if p.get("parent_ca_id"):
                conn.execute(certs.insert().values(serial=p["serial"], ca_id=p["parent_ca_id"], status="issued"))
            case "ca_revoked.v1":
                # written whether or not a row exists: a CA made before this read model kept CA certificates has
                # none, and its revocation must still stop a kept "good" from being answered
                conn.execute(certs.delete().where(certs.c.serial.in_(p["serials"])))
                conn.execute(certs.insert(), [{"serial": serial, "ca_id": p["parent_ca_id"], "status": "revoked"}
                                              for serial in p["serials"]])
            # a root's ca_created, the revocation request and rejection, and crl_published change no status

    def reset(self, conn: sa.Connection) -> None:
        conn.execute(self.certificates.delete())
