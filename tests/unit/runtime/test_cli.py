"""The operator commands on a service's own database (embedded mode: SQLite files in CERTPLANE_VAR_DIR)."""
import json

import pytest
import sqlalchemy as sa
from nameko.testing.services import worker_factory

from services.orgs.service import OrgsService
from services.runtime.cli import main
from services.runtime.config import load_settings
from services.runtime.nameko_glue import StoreHandle
from tests import factories


@pytest.fixture
def var_dir(tmp_path, monkeypatch):
    """Three organizations in an orgs store under CERTPLANE_VAR_DIR, made through the service's entrypoint."""
    monkeypatch.setenv("CERTPLANE_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("AMQP_URI", raising=False)
    monkeypatch.delenv("CERTPLANE_DATABASE_URL", raising=False)
    store = OrgsService.store.build_store(load_settings(), "orgs")
    orgs = worker_factory(OrgsService, store=StoreHandle(store, factories.WorkerInfo()))
    for _ in range(3):
        orgs.create_organization(factories.organization())
    return tmp_path, store


def test_audit_verify_passes_on_an_intact_log(var_dir, capsys):
    assert main(["audit", "verify", "orgs"]) == 0
    assert json.loads(capsys.readouterr().out) == {"service": "orgs", "ok": True, "checked": 3,
                                                   "first_bad_position": None, "reason": None}


def test_audit_verify_fails_and_names_the_edited_row(var_dir, capsys):
    _, store = var_dir
    with store.db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE events SET payload = json_set(payload, '$.name', 'Forged') WHERE position = 2"))
    assert main(["audit", "verify", "orgs"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["first_bad_position"] == 2


def test_projections_rebuild_replays_the_log(var_dir, capsys):
    _, store = var_dir
    with store.db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM organizations"))
    assert main(["projections", "rebuild", "orgs"]) == 0
    assert json.loads(capsys.readouterr().out)["replayed_events"] == 3
    with store.db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM organizations")).scalar() == 3


def test_an_unknown_service_is_refused():
    with pytest.raises(SystemExit, match="unknown service"):
        main(["audit", "verify", "nosuch"])
