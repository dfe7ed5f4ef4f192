"""Pure view assembly: turn read-model rows and service answers into the API's response shapes."""
from __future__ import annotations


def organization_summary(row: dict) -> dict:
    return {"organization_id": row["organization_id"], "name": row["name"], "city": row["city"],
            "state": row["state"], "country": row["country"], "validation_status": row["validation_status"],
            "department_count": row["department_count"]}


def department(record: dict, organization_name: str | None) -> dict:
    return {**record, "organization_name": organization_name}


def page(items: list[dict], total: int, position: int, size: int) -> dict:
    return {"items": items, "total": total, "position": position, "size": size}
