"""Pure view assembly: turn read-model rows and service answers into the API's response shapes."""
from __future__ import annotations


def organization_summary(row: dict, visible_departments: set[str] | None = None) -> dict:
    """`visible_departments`: the caller sees only these of the organization's departments (a DRAO), so the
    count is theirs — counts never include what the caller cannot see."""
    count = row["department_count"] if visible_departments is None else len(visible_departments)
    return {"organization_id": row["organization_id"], "name": row["name"], "city": row["city"],
            "state": row["state"], "country": row["country"], "validation_status": row["validation_status"],
            "department_count": count}


def department(record: dict, organization_name: str | None) -> dict:
    return {**record, "organization_name": organization_name}


def page(items: list[dict], total: int, position: int, size: int) -> dict:
    return {"items": items, "total": total, "position": position, "size": size}


def admin_summary(row) -> dict:
    return {"admin_id": row["admin_id"], "username": row["username"], "email": row["email"],
            "forename": row["forename"], "surname": row["surname"], "status": row["status"],
            "roles": row["roles"], "privileges": row["privileges"]}


def admin(record: dict, last_used: dict[str, str]) -> dict:
    """identity's record, each API key with the time the gateway last saw it used."""
    keys = [{**k, "last_used_at": last_used.get(k["key_id"])} for k in record.get("api_keys", ())]
    return {**record, "api_keys": keys}
