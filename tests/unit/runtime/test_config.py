"""Configuration: defaults, then the YAML file, then the environment."""
import pytest

from services.runtime.config import load_settings


def test_defaults_are_embedded_mode_with_sqlite_under_var(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.embedded and settings.amqp_uri == "memory://"
    url, schema = settings.database_url_for("orgs")
    assert url == f"sqlite:///{tmp_path / 'var' / 'orgs.sqlite3'}" and schema is None
    assert settings.base_url == "http://127.0.0.1:8080"


def test_yaml_then_environment(tmp_path):
    config = tmp_path / "certplane.yaml"
    config.write_text("http_port: 9000\nlog_level: debug\ndatabase_urls:\n  orgs: postgresql+psycopg://x@db/orgs\n")
    settings = load_settings({"CERTPLANE_CONFIG": str(config), "CERTPLANE_HTTP_PORT": "9100",
                              "AMQP_URI": "amqp://guest:guest@rabbit:5672/",
                              "CERTPLANE_DATABASE_URL": "postgresql+psycopg://x@db/main",
                              "CERTPLANE_DATABASE_URL_GATEWAY": "postgresql+psycopg://x@db/gw"})
    assert settings.http_port == 9100 and settings.log_level == "debug"   # env wins over the file
    assert not settings.embedded
    assert settings.database_url_for("orgs") == ("postgresql+psycopg://x@db/orgs", "orgs")
    assert settings.database_url_for("gateway") == ("postgresql+psycopg://x@db/gw", "gateway")
    assert settings.database_url_for("domains") == ("postgresql+psycopg://x@db/main", "domains")


def test_an_unknown_setting_in_the_file_is_refused_by_name(tmp_path):
    config = tmp_path / "certplane.yaml"
    config.write_text("http_prot: 9000\n")
    with pytest.raises(SystemExit, match="http_prot"):
        load_settings({"CERTPLANE_CONFIG": str(config)})


def test_distributed_mode_without_a_database_is_refused():
    settings = load_settings({"AMQP_URI": "amqp://guest:guest@rabbit:5672/"})
    with pytest.raises(SystemExit, match="CERTPLANE_DATABASE_URL"):
        settings.check()


def test_an_unknown_ca_key_algorithm_is_refused_at_start():
    assert load_settings({"CERTPLANE_CA_KEY_ALGORITHM": "rsa-4096"}).ca_key_algorithm == "rsa-4096"
    with pytest.raises(SystemExit, match="CERTPLANE_CA_KEY_ALGORITHM.*'ec-p521'.*ec-p256, ec-p384, rsa-3072, rsa-4096"):
        load_settings({"CERTPLANE_CA_KEY_ALGORITHM": "ec-p521"})
