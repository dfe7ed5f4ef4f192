"""Enrollment form accounts and device enrollment endpoints: enrollment's read model of them (issue 15), updated
in the append transaction. It also guards the one rule across endpoints: a URI extension names one endpoint
(checked here, under the store's append lock, as orgs' unique names are: two creations racing make one endpoint;
the loser gets 409 uri_extension_taken). A deleted endpoint frees its extension."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from contracts.errors import Conflict
from services.runtime.events import Envelope, utc


class FormsView:
    def __init__(self, metadata: sa.MetaData):
        self.accounts = sa.Table(
            "form_accounts", metadata,
            sa.Column("form_account_id", sa.String(36), primary_key=True),
            sa.Column("name", sa.String(128), nullable=False),
            sa.Column("cert_type", sa.String(20), nullable=False),
            sa.Column("organization_id", sa.String(36), nullable=False, index=True),
            sa.Column("department_id", sa.String(36), index=True),
            sa.Column("profile_ids", sa.JSON, nullable=False),
            sa.Column("csr_generation", sa.JSON, nullable=False),
            sa.Column("auto_approve", sa.Boolean, nullable=False),
            sa.Column("auto_renew", sa.Boolean, nullable=False),
            sa.Column("allow_empty_pkcs12_password", sa.Boolean, nullable=False),
            sa.Column("access_code_changed_at", sa.DateTime(timezone=True)),
            sa.Column("status", sa.String(12), nullable=False),
            sa.Column("consecutive_failures", sa.Integer, nullable=False),
            sa.Column("locked_until", sa.DateTime(timezone=True)),
            sa.Column("created_by", sa.String(80), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Index("form_accounts_type_created", "cert_type", "created_at"),
        )
        self.endpoints = sa.Table(
            "device_endpoints", metadata,
            sa.Column("endpoint_id", sa.String(36), primary_key=True),
            sa.Column("type", sa.String(16), nullable=False),
            sa.Column("name", sa.String(128), nullable=False),
            sa.Column("organization_id", sa.String(36), nullable=False, index=True),
            sa.Column("department_id", sa.String(36), index=True),
            sa.Column("profile_ids", sa.JSON, nullable=False),
            sa.Column("uri_extension", sa.String(64), nullable=False, unique=True),
            sa.Column("help_link_text", sa.String(128)),
            sa.Column("help_text", sa.Text),
            sa.Column("status", sa.String(12), nullable=False),
            sa.Column("credential_set_at", sa.DateTime(timezone=True)),
            sa.Column("created_by", sa.String(80), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        )
        self.challenges = sa.Table(
            "device_challenges", metadata,
            sa.Column("challenge_id", sa.String(36), primary_key=True),
            sa.Column("endpoint_id", sa.String(36), nullable=False, index=True),
            sa.Column("device_name", sa.String(128)),
            sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("issued_by", sa.String(80), nullable=False),
            sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("used_at", sa.DateTime(timezone=True)),
            sa.Column("used_via", sa.String(8)),
            sa.Column("cert_id", sa.String(36)),
        )

    # ---- updating -----------------------------------------------------------------------------------------
    def apply(self, conn: sa.Connection, event: Envelope) -> None:
        p, at = event.payload, event.occurred_at
        a, e = self.accounts, self.endpoints
        match event.event_type:
            case "form_account_created.v1":
                conn.execute(a.insert().values(
                    form_account_id=p["form_account_id"], name=p["name"], cert_type=p["cert_type"],
                    organization_id=p["organization_id"], department_id=p["department_id"],
                    profile_ids=p["profile_ids"], csr_generation=p["csr_generation"],
                    auto_approve=p["auto_approve"], auto_renew=p["auto_renew"],
                    allow_empty_pkcs12_password=p["allow_empty_pkcs12_password"],
                    access_code_changed_at=datetime.fromisoformat(p["access_code_set_at"]), status="active",
                    consecutive_failures=0, created_by=p["created_by"], created_at=at, updated_at=at))
            case "form_account_updated.v1":
                values = {k: p[k] for k in ("name", "profile_ids", "csr_generation", "auto_approve", "auto_renew",
                                            "allow_empty_pkcs12_password", "status")}
                if p.get("access_code_changed_at"):
                    values.update(access_code_changed_at=datetime.fromisoformat(p["access_code_changed_at"]),
                                  consecutive_failures=0, locked_until=None)
                conn.execute(a.update().where(a.c.form_account_id == p["form_account_id"])
                             .values(**values, updated_at=at))
            case "form_account_deleted.v1":
                conn.execute(a.delete().where(a.c.form_account_id == p["form_account_id"]))
            case "form_access_failed.v1":
                values = {"consecutive_failures": p["consecutive_failures"]}
                if p.get("locked_until"):
                    values["locked_until"] = datetime.fromisoformat(p["locked_until"])
                conn.execute(a.update().where(a.c.form_account_id == p["form_account_id"]).values(**values))
            case "form_access_reset.v1":
                conn.execute(a.update().where(a.c.form_account_id == p["form_account_id"])
                             .values(consecutive_failures=0, locked_until=None))
            case "device_endpoint_created.v1":
                self._uri_extension_free(conn, p["uri_extension"])
                conn.execute(e.insert().values(
                    endpoint_id=p["endpoint_id"], type=p["type"], name=p["name"],
                    organization_id=p["organization_id"], department_id=p["department_id"],
                    profile_ids=p["profile_ids"], uri_extension=p["uri_extension"],
                    help_link_text=p["help_link_text"], help_text=p["help_text"], status="active",
                    credential_set_at=_moment(p.get("credential_set_at")), created_by=p["created_by"],
                    created_at=at, updated_at=at))
            case "device_endpoint_credential_rotated.v1":
                conn.execute(e.update().where(e.c.endpoint_id == p["endpoint_id"]).values(
                    credential_set_at=_moment(p["credential_set_at"]), updated_at=at))
            case "device_challenge_issued.v1":
                conn.execute(self.challenges.insert().values(
                    challenge_id=p["challenge_id"], endpoint_id=p["endpoint_id"], device_name=p["device_name"],
                    expires_at=_moment(p["expires_at"]), issued_by=p["issued_by"], issued_at=at))
            case "device_challenge_used.v1":
                c = self.challenges
                conn.execute(c.update().where(c.c.challenge_id == p["challenge_id"]).values(
                    used_at=at, used_via=p["used_via"], cert_id=p.get("cert_id")))
            case "device_endpoint_updated.v1":
                conn.execute(e.update().where(e.c.endpoint_id == p["endpoint_id"]).values(
                    **{k: p[k] for k in ("name", "profile_ids", "help_link_text", "help_text", "status")},
                    updated_at=at))
            case "device_endpoint_deleted.v1":
                conn.execute(e.delete().where(e.c.endpoint_id == p["endpoint_id"]))
                conn.execute(self.challenges.delete().where(self.challenges.c.endpoint_id == p["endpoint_id"]))

    def _uri_extension_free(self, conn, uri_extension: str) -> None:
        taken = conn.execute(sa.select(self.endpoints.c.endpoint_id).where(
            self.endpoints.c.uri_extension == uri_extension)).scalar()
        if taken is not None:
            raise Conflict(f"the URI extension {uri_extension!r} is taken by another endpoint",
                           {"uri_extension": [uri_extension]}, code="uri_extension_taken")

    def reset(self, conn: sa.Connection) -> None:
        conn.execute(self.accounts.delete())
        conn.execute(self.endpoints.delete())
        conn.execute(self.challenges.delete())

    # ---- queries ------------------------------------------------------------------------------------------
    def account(self, conn, form_account_id: str) -> dict | None:
        row = conn.execute(sa.select(self.accounts).where(
            self.accounts.c.form_account_id == form_account_id)).mappings().first()
        return account_view(row) if row else None

    def account_page(self, conn, scopes: dict, cert_type: str | None, offset: int, limit: int) -> dict:
        """The accounts `scopes` ({cert_type: certificate_scope}) lets the caller see, of `cert_type` if given,
        newest first."""
        a = self.accounts
        visible = [_in_scope(a, t, scope) for t, scope in scopes.items() if cert_type in (None, t)]
        condition = sa.or_(*visible) if visible else sa.false()
        total = conn.execute(sa.select(sa.func.count()).select_from(a).where(condition)).scalar_one()
        rows = conn.execute(sa.select(a).where(condition).order_by(a.c.created_at.desc(), a.c.form_account_id)
                            .offset(offset).limit(limit)).mappings()
        return {"items": [account_view(r) for r in rows], "total": total}

    def endpoint(self, conn, endpoint_id: str) -> dict | None:
        row = conn.execute(sa.select(self.endpoints).where(
            self.endpoints.c.endpoint_id == endpoint_id)).mappings().first()
        return endpoint_view(row) if row else None

    def endpoint_by_uri(self, conn, uri_extension: str) -> dict | None:
        row = conn.execute(sa.select(self.endpoints).where(
            self.endpoints.c.uri_extension == uri_extension)).mappings().first()
        return endpoint_view(row) if row else None

    def endpoint_page(self, conn, scope: dict, offset: int, limit: int) -> dict:
        e = self.endpoints
        condition = _in_scope(e, None, scope)
        total = conn.execute(sa.select(sa.func.count()).select_from(e).where(condition)).scalar_one()
        rows = conn.execute(sa.select(e).where(condition).order_by(e.c.created_at.desc(), e.c.endpoint_id)
                            .offset(offset).limit(limit)).mappings()
        return {"items": [endpoint_view(r) for r in rows], "total": total}


    def challenges_of(self, conn, endpoint_id: str, now: datetime, limit: int = 500) -> list[dict]:
        c = self.challenges
        rows = conn.execute(sa.select(c).where(c.c.endpoint_id == endpoint_id)
                            .order_by(c.c.issued_at.desc(), c.c.challenge_id).limit(limit)).mappings()
        return [challenge_view(r, now) for r in rows]


def challenge_view(row, now: datetime) -> dict:
    """ChallengeV1 (never the challenge): issued, used, or expired (unused past expires_at)."""
    status = "used" if row["used_at"] else ("expired" if utc(row["expires_at"]) <= now else "issued")
    return {"challenge_id": row["challenge_id"], "endpoint_id": row["endpoint_id"],
            "device_name": row["device_name"], "status": status, "expires_at": _iso(row["expires_at"]),
            "issued_by": row["issued_by"], "issued_at": _iso(row["issued_at"]), "used_at": _iso(row["used_at"]),
            "used_via": row["used_via"], "cert_id": row["cert_id"]}


def _moment(text: str | None):
    return datetime.fromisoformat(text) if text else None


def _in_scope(table: sa.Table, cert_type: str | None, scope: dict):
    """A certificate_scope (contracts/access.py) as a condition: all, or its organizations or departments."""
    typed = [table.c.cert_type == cert_type] if cert_type else []
    if scope.get("all"):
        return sa.and_(sa.true(), *typed)
    return sa.and_(*typed, sa.or_(table.c.organization_id.in_(scope.get("organizations") or []),
                                  table.c.department_id.in_(scope.get("departments") or [])))


def _iso(moment) -> str | None:
    return utc(moment).isoformat() if moment else None


def account_view(row) -> dict:
    """FormAccountV1 (never the code: whether there is one)."""
    return {"form_account_id": row["form_account_id"], "name": row["name"], "cert_type": row["cert_type"],
            "organization_id": row["organization_id"], "department_id": row["department_id"],
            "profile_ids": list(row["profile_ids"]), "csr_generation": list(row["csr_generation"]),
            "auto_approve": row["auto_approve"], "auto_renew": row["auto_renew"],
            "allow_empty_pkcs12_password": row["allow_empty_pkcs12_password"],
            "has_access_code": row["access_code_changed_at"] is not None,
            "access_code_changed_at": _iso(row["access_code_changed_at"]), "status": row["status"],
            "locked_until": _iso(row["locked_until"]), "created_by": row["created_by"],
            "created_at": _iso(row["created_at"]), "updated_at": _iso(row["updated_at"])}


def endpoint_view(row) -> dict:
    """DeviceEndpointV1 without form_url (the service adds it: it knows the base URL)."""
    return {"endpoint_id": row["endpoint_id"], "type": row["type"], "name": row["name"],
            "organization_id": row["organization_id"], "department_id": row["department_id"],
            "profile_ids": list(row["profile_ids"]), "uri_extension": row["uri_extension"],
            "help_link_text": row["help_link_text"], "help_text": row["help_text"], "status": row["status"],
            "credential_set_at": _iso(row["credential_set_at"]), "created_by": row["created_by"], "created_at": _iso(row["created_at"]),
            "updated_at": _iso(row["updated_at"])}
