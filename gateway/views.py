"""Pure view assembly: turn read-model rows and service answers into the API's response shapes."""
from __future__ import annotations


def organization_summary(row: dict) -> dict:
    return {"organization_id": row["organization_id"], "name": row["name"], "city": row["city"],
            "state": row["state"], "country": row["country"], "validation_status": row["validation_status"],
            "department_count": row["department_count"]}


def organization(record: dict) -> dict:
    """The authoritative record from orgs, departments reduced to what the organization page shows."""
    view = {k: v for k, v in record.items() if k != "departments"}
    view["departments"] = [department(d, None, include_organization_name=False) for d in record["departments"]]
    return view


def department(record: dict, organization_name: str | None, include_organization_name: bool = True) -> dict:
    view = {"department_id": record["department_id"], "organization_id": record["organization_id"],
            "name": record["name"]}
    if "key_escrow_recovery_by_department_admins" in record:
        view["key_escrow_recovery_by_department_admins"] = record["key_escrow_recovery_by_department_admins"]
    if include_organization_name:
        view["organization_name"] = organization_name
    return view


def page(items: list[dict], total: int, position: int, size: int) -> dict:
    return {"items": items, "total": total, "position": position, "size": size}
