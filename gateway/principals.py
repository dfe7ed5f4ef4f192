"""The gateway's copy of who may call it: administrators (status, roles, privileges), open sessions and API keys,
by the sha256 of their tokens. A follower of `identity` events, so authenticating a request is one indexed
query in the gateway's own database — no RPC — and a logout, suspension or role change takes effect as soon as
its event is applied (at once on the gateway that made the change: commands answer with their events)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from services.runtime.events import Envelope
from services.runtime.position_cache import PositionCache


class PrincipalDirectory:
    def __init__(self, metadata: sa.MetaData):
        # the rows requests authenticated with, by (kind, token hash): see PositionCache
        self.cache = PositionCache()
        self.admins = sa.Table(
            "principal_admins", metadata,
            sa.Column("admin_id", sa.String(36), primary_key=True),
            sa.Column("username", sa.String(64), nullable=False),
            sa.Column("email", sa.String(254), nullable=False),
            sa.Column("forename", sa.String(64), nullable=False),
            sa.Column("surname", sa.String(64), nullable=False),
            sa.Column("status", sa.String(20), nullable=False),
            sa.Column("roles", sa.JSON, nullable=False),
            sa.Column("privileges", sa.JSON, nullable=False),
            sa.Column("must_change_password", sa.Boolean, nullable=False),
            sa.Column("created_by", sa.String(80)),
        )
        self.sessions = sa.Table(
            "principal_sessions", metadata,
            sa.Column("token_sha256", sa.String(64), primary_key=True),
            sa.Column("session_id", sa.String(36), nullable=False, unique=True),
            sa.Column("admin_id", sa.String(36), nullable=False, index=True),
            sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        )
        self.api_keys = sa.Table(
            "principal_api_keys", metadata,
            sa.Column("key_sha256", sa.String(64), primary_key=True),
            sa.Column("key_id", sa.String(36), nullable=False, unique=True),
            sa.Column("admin_id", sa.String(36), nullable=False, index=True),
        )

    def apply(self, conn: sa.Connection, event: Envelope) -> None:
        p = event.payload
        admins = self.admins
        by_admin = admins.c.admin_id == p.get("admin_id")
        match event.event_type:
            case "admin_created.v1":
                conn.execute(admins.insert().values(
                    admin_id=p["admin_id"], username=p["username"], email=p["email"], forename=p["forename"],
                    surname=p["surname"], status=p["status"], roles=p["roles"], privileges=p["privileges"],
                    must_change_password=p["must_change_password"], created_by=p["created_by"]))
            case "admin_updated.v1":
                conn.execute(admins.update().where(by_admin).values(email=p["email"], forename=p["forename"],
                                                                     surname=p["surname"]))
            case "admin_access_changed.v1":
                conn.execute(admins.update().where(by_admin).values(roles=p["roles"], privileges=p["privileges"]))
            case "admin_status_changed.v1":
                conn.execute(admins.update().where(by_admin).values(status=p["status"]))
            case "admin_password_set.v1":
                conn.execute(admins.update().where(by_admin).values(must_change_password=p["must_change_password"]))
            case "admin_deleted.v1":
                conn.execute(self.sessions.delete().where(self.sessions.c.admin_id == p["admin_id"]))
                conn.execute(self.api_keys.delete().where(self.api_keys.c.admin_id == p["admin_id"]))
                conn.execute(admins.delete().where(by_admin))
            case "admin_logged_in.v1":
                conn.execute(self.sessions.insert().values(
                    token_sha256=p["token_sha256"], session_id=p["session_id"], admin_id=p["admin_id"],
                    expires_at=datetime.fromisoformat(p["expires_at"])))
            case "session_ended.v1":
                conn.execute(self.sessions.delete().where(self.sessions.c.session_id == p["session_id"]))
            case "api_key_created.v1":
                conn.execute(self.api_keys.insert().values(key_sha256=p["key_sha256"], key_id=p["key_id"],
                                                           admin_id=p["admin_id"]))
            case "api_key_revoked.v1":
                conn.execute(self.api_keys.delete().where(self.api_keys.c.key_id == p["key_id"]))
            # login failures and person events change nobody's access

    def reset(self, conn: sa.Connection) -> None:
        for table in (self.sessions, self.api_keys, self.admins):
            conn.execute(table.delete())

    # ---- queries ------------------------------------------------------------------------------------------
    def by_session(self, conn: sa.Connection, token_sha256: str):
        s, a = self.sessions, self.admins
        return conn.execute(sa.select(a, s.c.session_id, s.c.expires_at).join(s, s.c.admin_id == a.c.admin_id)
                            .where(s.c.token_sha256 == token_sha256)).mappings().first()

    def by_api_key(self, conn: sa.Connection, key_sha256: str):
        k, a = self.api_keys, self.admins
        return conn.execute(sa.select(a, k.c.key_id).join(k, k.c.admin_id == a.c.admin_id)
                            .where(k.c.key_sha256 == key_sha256)).mappings().first()

    def admin(self, conn: sa.Connection, admin_id: str):
        return conn.execute(sa.select(self.admins).where(self.admins.c.admin_id == admin_id)).mappings().first()

    def all_admins(self, conn: sa.Connection) -> list:
        return list(conn.execute(sa.select(self.admins).order_by(self.admins.c.username)).mappings())
