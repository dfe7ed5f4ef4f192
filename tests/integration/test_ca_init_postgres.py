"""`certplane ca init` in distributed mode: the ca service's PostgreSQL schema, the KEK from CERTPLANE_CA_KEK."""
import base64
import json
import os
import secrets
import subprocess

import sqlalchemy as sa

from tests.support import CERTPLANE, pg_database


def ca_init(env: dict, *args) -> subprocess.CompletedProcess:
    return subprocess.run([CERTPLANE, "ca", "init", *args], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=60)


def test_ca_init_writes_to_the_ca_schema_once_and_checks_the_kek(tmp_path):
    with pg_database() as url:
        env = {"AMQP_URI": "amqp://guest:guest@127.0.0.1:5672/", "CERTPLANE_DATABASE_URL": url,
               "CERTPLANE_VAR_DIR": str(tmp_path), "CERTPLANE_PUBLIC_BASE_URL": "https://pki.example.com",
               "CERTPLANE_CA_KEK": base64.b64encode(secrets.token_bytes(32)).decode()}
        refused = ca_init(env)                  # distributed mode changes no schema by itself: the operator migrates
        assert refused.returncode == 1 and "run `certplane db upgrade ca` first" in refused.stderr, refused.stderr
        upgraded = subprocess.run([CERTPLANE, "db", "upgrade", "ca"], env={**os.environ, **env}, capture_output=True,
                                  text=True, timeout=120)
        assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
        first = ca_init(env, "--key-algorithm", "ec-p384")
        assert first.returncode == 0, first.stdout + first.stderr
        made = json.loads(first.stdout)
        assert made["created"] is True and "warning" not in made
        again = ca_init(env)
        assert again.returncode == 0 and json.loads(again.stdout)["created"] is False
        assert json.loads(again.stdout)["issuing"] == made["issuing"]

        engine = sa.create_engine(url)
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT ca_id, key_algorithm, sha256_fingerprint FROM ca.cas WHERE name IN "
                                        "('Certplane Root CA', 'Certplane Issuing CA')")).all()
            type_cas = conn.execute(sa.text("SELECT name, key_algorithm FROM ca.cas WHERE name NOT IN "
                                            "('Certplane Root CA', 'Certplane Issuing CA')")).all()
            wrapped = conn.execute(sa.text("SELECT count(*) FROM ca.ca_keys")).scalar()
        engine.dispose()
        assert sorted(rows) == sorted((made[k]["ca_id"], "ec-p384", made[k]["sha256_fingerprint"])
                                      for k in ("root", "issuing"))
        # beside them the S/MIME and code-signing issuing CAs, of the root's algorithm
        assert sorted(type_cas) == [("Certplane Code Signing CA", "ec-p384"), ("Certplane S/MIME CA", "ec-p384")]
        assert wrapped == 4
        assert not any(tmp_path.iterdir())                   # no KEK file, no SQLite: nothing under var/

        other_kek = {**env, "CERTPLANE_CA_KEK": base64.b64encode(secrets.token_bytes(32)).decode()}
        refused = ca_init(other_kek)
        assert refused.returncode == 1 and "does not open CA key" in refused.stderr
