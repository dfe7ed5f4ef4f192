"""The dashboard: /api/v1/dashboard, what the console's first screen shows — certificates by status, the expiry
timeline per organization, what waits for the caller's approval, domains by DCV status and evidence about to
expire. Scoped like the lists (DESIGN §6): every count is of objects the caller sees, and an organization outside
the caller's scope is never named. The counting is done by the owning services' read models (enrollment
ssl_summary, domains domain_summary: one SQL COUNT/GROUP BY each), and each count a screen links is the
X-Total-Count of a list filter the answer spells out (`filters`)."""
from __future__ import annotations

import sqlalchemy as sa
from werkzeug.wrappers import Request

from contracts import access
from gateway import schemas
from gateway.base import json_response
from gateway.http import api
from gateway.openapi import Operation

WAITING_IDS = 5          # how many ids of each kind of waiting item the answer names (the oldest first)


class DashboardRoutes:
    @api("GET", "/api/v1/dashboard", doc=Operation(
        "The dashboard, in your scope. `ssl_by_status`: your SSL inventory by status (every status; an issued or "
        "downloaded certificate past its notAfter counts as expired, as the list's status filter). `expiry`: per "
        "organization with a live (issued or downloaded) certificate you see, the live certificates in disjoint "
        "buckets — expired (notAfter passed), within_7 (notAfter in the next 7 days), within_30 (after 7, within "
        "30 days), within_90 (after 30, within 90 days); `expiry_windows` gives each bucket's bounds (exclusive, "
        "as the list's expires_after/expires_before) and `filters`: the GET /api/v1/ssl query (add "
        "organization_id) whose X-Total-Count is the bucket's count (status=valid: issued or downloaded, not "
        "expired, within the bucket's bounds). "
        "`waiting_for_me`: SSL requests in status requested you may approve (in your scope, not your own), "
        "delegations of domains and of networks in status requested you may approve (the approve routes' rule), "
        "administrators waiting for approval you may approve (an MRAO other than their creator): each a count and "
        "the oldest few ids. `domains_by_dcv_status`: the domains you see by DCV status (GET /api/v1/domains "
        "?dcv_status=); `evidence_expiring`: validated domains whose evidence expires within `days`, with the "
        "domain list's `filters` that list them", "dashboard",
        responses={200: (schemas.Dashboard, "the dashboard")}))
    def dashboard(self, request: Request):
        scope = self._begin(request)
        principal = scope.principal
        ssl = self._call(self.enrollment_rpc, "ssl_summary", access.ssl_scope(principal), principal.admin_id)
        domains = self._call(self.domains_rpc, "domain_summary", access.domain_scope(principal),
                             access.delegation_decider_scope(principal), WAITING_IDS)
        names = self._organization_names({row["organization_id"] for row in ssl["expiry"]})
        expiry = sorted(({**row, "organization_name": names.get(row["organization_id"])} for row in ssl["expiry"]),
                        key=lambda row: ((row["organization_name"] or "").casefold(), row["organization_id"]))
        return json_response(200, {
            "generated_at": ssl["now"],
            "ssl_by_status": ssl["by_status"],
            "expiry": expiry,
            "expiry_windows": ssl["windows"],
            "waiting_for_me": {
                "ssl_requests": {"count": ssl["waiting"]["count"], "ids": ssl["waiting"]["ids"]},
                "domain_delegations": domains["waiting_domain_delegations"],
                "network_delegations": domains["waiting_network_delegations"],
                "admins": self._admins_waiting_for(principal),
            },
            "domains_by_dcv_status": domains["by_dcv_status"],
            "evidence_expiring": domains["evidence_expiring"],
        })

    def _organization_names(self, organization_ids: set[str]) -> dict[str, str]:
        if not organization_ids:
            return {}

        def query(directory, conn):
            orgs = directory.organizations
            return dict(conn.execute(sa.select(orgs.c.organization_id, orgs.c.name)
                                     .where(orgs.c.organization_id.in_(sorted(organization_ids)))).all())
        return self._directory_read(query)

    def _admins_waiting_for(self, principal) -> dict:
        """Administrators in pending_approval that `principal` may approve — identity's rule (decide_change_status):
        an MRAO, never the admin who created them (their `created_by`, "admin:<id>") — counted in the gateway's
        principal directory."""
        if not principal.is_mrao:
            return {"count": 0, "ids": []}

        def query(directory, conn):
            a = directory.admins
            waiting = [a.c.status == "pending_approval",
                       sa.or_(a.c.created_by.is_(None), a.c.created_by != f"admin:{principal.admin_id}")]
            count = conn.execute(sa.select(sa.func.count()).select_from(a).where(*waiting)).scalar_one()
            ids = [r[0] for r in conn.execute(sa.select(a.c.admin_id).where(*waiting)
                                              .order_by(a.c.username).limit(WAITING_IDS))]
            return {"count": count, "ids": ids}
        return self._principals_read(query)
