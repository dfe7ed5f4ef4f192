"""The mail outbox: /api/v1/outbox. When no SMTP host is configured (embedded mode out of the box), notify writes
each mail here instead of sending it, so a new user can read an email-DCV code without a mail server. The mails
hold such codes, so only MRAOs read them.

GatewayService needs `notify_rpc = RpcProxy("notify")` and this mixin among its bases."""
from __future__ import annotations

from marshmallow import Schema, fields
from werkzeug.wrappers import Request

from contracts import notify as notify_contract
from gateway import views
from gateway.base import json_response, parse_query
from gateway.http import api
from gateway.openapi import Operation
from gateway.schemas import PageQuery

TAG = "outbox"


class OutboxListQuery(PageQuery):
    pass


class OutboxMessage(notify_contract.OutboxMessageV1):
    pass


class OutboxList(Schema):
    items = fields.List(fields.Nested(OutboxMessage), required=True)
    total = fields.Integer(required=True)
    position = fields.Integer(required=True)
    size = fields.Integer(required=True)


class OutboxRoutes:
    @api("GET", "/api/v1/outbox", doc=Operation(
        "Mail written to the outbox instead of being sent (no SMTP host configured), newest first, bodies "
        "included — MRAO only", TAG, query=OutboxListQuery,
        responses={200: (OutboxList, "a page of mails; X-Total-Count has the total")}))
    def list_outbox(self, request: Request):
        scope = self._begin(request)
        scope.require_mrao("reading the outbox")
        query = parse_query(request, OutboxListQuery())
        found = self._call(self.notify_rpc, "list_outbox", query["position"], query["size"])
        return json_response(200, views.page(found["items"], found["total"], query["position"], query["size"]),
                             {"X-Total-Count": str(found["total"])})
