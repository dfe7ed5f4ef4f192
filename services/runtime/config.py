"""Configuration: defaults, then a YAML file, then the environment (which wins).

Embedded mode (the default): every service in one process over kombu's in-memory transport, a SQLite file per
service under `var/`. Distributed mode: `AMQP_URI` names RabbitMQ and `CERTPLANE_DATABASE_URL` a PostgreSQL
database in which each service gets its own schema.

| setting              | environment                          | default                     |
|----------------------|--------------------------------------|-----------------------------|
| amqp_uri             | AMQP_URI                             | memory://                   |
| database_url         | CERTPLANE_DATABASE_URL               | (SQLite files in var_dir)   |
| database_urls.<svc>  | CERTPLANE_DATABASE_URL_<SVC>         | database_url                |
| var_dir              | CERTPLANE_VAR_DIR                    | ./var                       |
| http_host            | CERTPLANE_HTTP_HOST                  | 127.0.0.1                   |
| http_port            | CERTPLANE_HTTP_PORT                  | 8080                        |
| health_port          | CERTPLANE_HEALTH_PORT                | 8081 (processes without the gateway) |
| public_base_url      | CERTPLANE_PUBLIC_BASE_URL            | http://<host>:<port>        |
| pki_url              | CERTPLANE_PKI_URL                    | public_base_url (the base of certificates' CRL/OCSP/caIssuers links; public TLS needs an http:// one) |
| max_body_bytes       | CERTPLANE_MAX_BODY_BYTES             | 1048576                     |
| http_header_timeout  | CERTPLANE_HTTP_HEADER_TIMEOUT        | 10 (seconds for request line + headers, total; also the keep-alive idle time) |
| http_body_timeout    | CERTPLANE_HTTP_BODY_TIMEOUT          | 30 (seconds for the whole body, total; then 408) |
| http_max_connections | CERTPLANE_HTTP_MAX_CONNECTIONS       | 1000 (per listener)         |
| http_max_connections_per_client | CERTPLANE_HTTP_MAX_CONNECTIONS_PER_CLIENT | 100 (per client address; behind a proxy, its pool size or more) |
| http_max_workers     | CERTPLANE_HTTP_MAX_WORKERS           | 200 (the gateway's concurrent requests; other services keep 10) |
| catch_up_interval    | CERTPLANE_CATCH_UP_INTERVAL          | 5 (seconds)                 |
| rpc_timeout          | CERTPLANE_RPC_TIMEOUT                | 10 (seconds)                |
| log_level            | CERTPLANE_LOG_LEVEL                  | info                        |
| session_ttl          | CERTPLANE_SESSION_TTL                | 28800 (seconds; 8 hours)    |
| session_idle_timeout | CERTPLANE_SESSION_IDLE_TIMEOUT       | 1800 (seconds without a click before a console session ends; bearer tokens keep session_ttl only) |
| login_max_failures   | CERTPLANE_LOGIN_MAX_FAILURES         | 5 (then the account locks)  |
| lockout_seconds      | CERTPLANE_LOCKOUT_SECONDS            | 900                         |
| dns_resolver         | CERTPLANE_DNS_RESOLVER               | (the system's; or host[:port]) |
| dns_timeout          | CERTPLANE_DNS_TIMEOUT                | 5 (seconds per try; capped at 30 % of rpc_timeout) |
| dcv_http_allow_private | CERTPLANE_DCV_HTTP_ALLOW_PRIVATE   | false (loopback, link-local, private ranges refused) |
| dcv_http_timeout     | CERTPLANE_DCV_HTTP_TIMEOUT           | 10 (seconds; capped at 60 % of rpc_timeout) |
| dcv_http_port        | CERTPLANE_DCV_HTTP_PORT              | 80 (tests point it at their own server) |
| dcv_https_port       | CERTPLANE_DCV_HTTPS_PORT             | 443                         |
| dcv_token_days       | CERTPLANE_DCV_TOKEN_DAYS             | 30                          |
| dcv_reuse_days       | CERTPLANE_DCV_REUSE_DAYS             | 200 (BR 2.2.6 evidence reuse) |
| dcv_cname_zone       | CERTPLANE_DCV_CNAME_ZONE             | dcv.certplane.invalid       |
| caa_identities       | CERTPLANE_CAA_IDENTITIES             | certplane.invalid (comma-separated) |
| smtp_host            | CERTPLANE_SMTP_HOST                  | (none: mail goes to the outbox) |
| smtp_port            | CERTPLANE_SMTP_PORT                  | 25                          |
| smtp_security        | CERTPLANE_SMTP_SECURITY              | none (or starttls, tls)     |
| smtp_username        | CERTPLANE_SMTP_USERNAME              | (no auth)                   |
| smtp_password        | CERTPLANE_SMTP_PASSWORD              |                             |
| mail_from            | CERTPLANE_MAIL_FROM                  | certplane@localhost         |
| ca_kek               | CERTPLANE_CA_KEK                     | (embedded: generated into var_dir/ca-kek; distributed: required) |
| ca_key_algorithm     | CERTPLANE_CA_KEY_ALGORITHM           | ec-p256 (ec-p384, rsa-3072, rsa-4096) for the CAs made at first start |
| ca_organization      | CERTPLANE_CA_ORGANIZATION            | Certplane (O of the CAs made at first start) |
| ca_country           | CERTPLANE_CA_COUNTRY                 | US (C of those CAs; BR 7.1.2.10.2 wants one) |
| crl_check_interval   | CERTPLANE_CRL_CHECK_INTERVAL         | 15 (seconds between checks for a CRL to publish) |
| crl_refresh_hours    | CERTPLANE_CRL_REFRESH_HOURS          | 24 (a new CRL at least this often)   |
| crl_validity_days    | CERTPLANE_CRL_VALIDITY_DAYS          | 7 (nextUpdate; at most 10, DESIGN §6) |
| auto_renew_days      | CERTPLANE_AUTO_RENEW_DAYS            | 30 (an auto-renew certificate is renewed this long before expiry) |
| auto_renew_check_interval | CERTPLANE_AUTO_RENEW_CHECK_INTERVAL | 3600 (seconds)            |
| issuance_wait        | CERTPLANE_ISSUANCE_WAIT              | 5 (seconds a request waits for its certificate before 202) |
| facts_max_lag        | CERTPLANE_FACTS_MAX_LAG              | 60 (seconds; enrollment refuses new requests, 503, when its copy of domains' or orgs' facts has not been confirmed current for longer) |
| tls_port             | CERTPLANE_TLS_PORT                   | (none: no TLS listener; ACME clients and EST need one) |
| tls_cert_file        | CERTPLANE_TLS_CERT_FILE              | (PEM: the listener's certificate and chain; re-read when the file changes) |
| tls_key_file         | CERTPLANE_TLS_KEY_FILE               | (PEM: its private key)      |
| est_port             | CERTPLANE_EST_PORT                   | (none: no EST listener; `make run` sets 8443) — EST's TLS port, its certificate from Certplane's CA |
| est_host             | CERTPLANE_EST_HOST                   | http_host (the address the EST listener binds) |
| est_public_host      | CERTPLANE_EST_PUBLIC_HOST            | the host of public_base_url (the name in est_base_url and in the listener's certificate) |
| est_default_endpoint | CERTPLANE_EST_DEFAULT_ENDPOINT       | (none) the URI extension `/.well-known/est/<operation>` (no label) enrolls through |
| est_tls_check_interval | CERTPLANE_EST_TLS_CHECK_INTERVAL   | 30 (seconds between checks of the EST listener's certificate and trusted CAs) |
| acme_eab_required    | CERTPLANE_ACME_EAB_REQUIRED          | true (newAccount needs External Account Binding) |
| acme_authz_reuse_days | CERTPLANE_ACME_AUTHZ_REUSE_DAYS     | 30 (a valid authorization is reused by its account's new orders this long) |
| acme_finalize_wait   | CERTPLANE_ACME_FINALIZE_WAIT         | 2 (seconds finalize waits for the certificate before answering `processing`) |
| acme_orders_per_account_hour | CERTPLANE_ACME_ORDERS_PER_ACCOUNT_HOUR | 300 (new orders per ACME account in any hour; then rateLimited) |
| acme_orders_per_org_hour | CERTPLANE_ACME_ORDERS_PER_ORG_HOUR | 3000 (new orders per organization in any hour) |
| acme_http_port       | CERTPLANE_ACME_HTTP_PORT             | 80 (tests only: the port http-01 is checked on) |
| acme_tls_port        | CERTPLANE_ACME_TLS_PORT              | 443 (tests only: the port tls-alpn-01 is checked on) |
| acme_bad_nonce_rate  | CERTPLANE_ACME_BAD_NONCE_RATE        | 0 (tests only: the share of good nonces refused as badNonce) |
| form_access_max_failures | CERTPLANE_FORM_ACCESS_MAX_FAILURES | 5 (wrong access codes in a row; then the enrollment form account locks) |
| form_access_lockout_seconds | CERTPLANE_FORM_ACCESS_LOCKOUT_SECONDS | 900 (how long a form account stays locked) |

The YAML file is `CERTPLANE_CONFIG` if set, else `certplane.yaml` in the working directory if present; its keys
are the setting names above.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from contracts.ca import KEY_ALGORITHMS

MEMORY_URI = "memory://"


@dataclass(frozen=True)
class Settings:
    amqp_uri: str = MEMORY_URI
    database_url: str | None = None
    database_urls: dict = field(default_factory=dict)
    var_dir: str = "var"
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    health_port: int = 8081
    public_base_url: str | None = None
    pki_url: str | None = None
    max_body_bytes: int = 1024 * 1024
    http_header_timeout: float = 10.0
    http_body_timeout: float = 30.0
    http_max_connections: int = 1000
    http_max_connections_per_client: int = 100
    http_max_workers: int = 200
    catch_up_interval: float = 5.0
    rpc_timeout: float = 10.0
    log_level: str = "info"
    session_ttl: float = 8 * 3600.0
    session_idle_timeout: float = 1800.0
    login_max_failures: int = 5
    lockout_seconds: float = 900.0
    dns_resolver: str | None = None
    dns_timeout: float = 5.0
    dcv_http_allow_private: bool = False
    dcv_http_timeout: float = 10.0
    dcv_http_port: int = 80
    dcv_https_port: int = 443
    dcv_token_days: int = 30
    dcv_reuse_days: int = 200
    dcv_cname_zone: str = "dcv.certplane.invalid"
    caa_identities: tuple[str, ...] = ("certplane.invalid",)
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_security: str = "none"
    smtp_username: str | None = None
    smtp_password: str | None = None
    mail_from: str = "certplane@localhost"
    ca_kek: str | None = None
    ca_key_algorithm: str = "ec-p256"
    ca_organization: str = "Certplane"
    ca_country: str = "US"
    crl_check_interval: float = 15.0
    crl_refresh_hours: float = 24.0
    crl_validity_days: float = 7.0
    auto_renew_days: float = 30.0
    auto_renew_check_interval: float = 3600.0
    issuance_wait: float = 5.0
    facts_max_lag: float = 60.0
    tls_port: int | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    est_port: int | None = None
    est_host: str | None = None
    est_public_host: str | None = None
    est_default_endpoint: str | None = None
    est_tls_check_interval: float = 30.0
    acme_eab_required: bool = True
    acme_authz_reuse_days: float = 30.0
    acme_finalize_wait: float = 2.0
    acme_orders_per_account_hour: int = 300
    acme_orders_per_org_hour: int = 3000
    acme_http_port: int = 80
    acme_tls_port: int = 443
    acme_bad_nonce_rate: float = 0.0
    form_access_max_failures: int = 5
    form_access_lockout_seconds: float = 900.0

    @property
    def embedded(self) -> bool:
        return self.amqp_uri.startswith("memory")

    @property
    def base_url(self) -> str:
        return self.public_base_url or f"http://{self.http_host}:{self.http_port}"

    @property
    def est_base_url(self) -> str | None:
        """`https://<public host>:<est_port>`: where EST clients reach the EST listener (None without one)."""
        if not self.est_port:
            return None
        host = self.est_public_host or (urlsplit(self.base_url).hostname or self.http_host)
        return f"https://{host}:{self.est_port}"

    @property
    def pki_base_url(self) -> str:
        """The base of the links certificates carry (CRL, OCSP, caIssuers): pki_url, else the public base URL.
        Public TLS needs plain http:// links under a public name (BR 7.1.2.7.7, 7.1.2.11.2; the lint refuses
        others): where the public base URL is https:// (ACME, EST), set pki_url to the http:// one."""
        return self.pki_url or self.base_url

    def database_url_for(self, service: str) -> tuple[str, str | None]:
        """(SQLAlchemy URL, schema) for a service's own database."""
        url = self.database_urls.get(service) or self.database_url
        if url:
            return url, (service if url.startswith("postgresql") else None)
        return f"sqlite:///{Path(self.var_dir).resolve() / f'{service}.sqlite3'}", None

    def check(self) -> None:
        if not self.embedded and not (self.database_url or self.database_urls):
            raise SystemExit("distributed mode (AMQP_URI set to a broker) needs CERTPLANE_DATABASE_URL "
                             "(postgresql+psycopg://user@host:5432/db)")

    def nameko_config(self) -> dict:
        config = {
            "AMQP_URI": self.amqp_uri,
            "WEB_SERVER_ADDRESS": f"{self.http_host}:{self.http_port}",
            "CERTPLANE": self,
            "max_workers": 10,
            # the gateway's workers wait on RPCs and hold no resource per worker but a short DB checkout (its
            # read models' pools queue them), so it gets many; see services/runtime/nameko_glue.py
            "SERVICE_CONTAINER_CLS": "services.runtime.nameko_glue.CertplaneContainer",
            # enrollment's request workers wait (issuance_wait) for the pipeline's outcome without holding anything
            # but a greenthread; its processor needs free workers meanwhile, or the waits would only time out
            "MAX_WORKERS_BY_SERVICE": {"gateway": self.http_max_workers, "enrollment": ENROLLMENT_MAX_WORKERS},
            "parent_calls_tracked": 10,
        }
        if self.embedded:
            # kombu's virtual transports poll; 1 s per hop by default makes an RPC take seconds
            config["TRANSPORT_OPTIONS"] = {"polling_interval": 0.01}
        return config


ENROLLMENT_MAX_WORKERS = 100

ENVIRONMENT_VARIABLES = {
    "amqp_uri": "AMQP_URI",
    "database_url": "CERTPLANE_DATABASE_URL",
    "var_dir": "CERTPLANE_VAR_DIR",
    "http_host": "CERTPLANE_HTTP_HOST",
    "http_port": "CERTPLANE_HTTP_PORT",
    "health_port": "CERTPLANE_HEALTH_PORT",
    "public_base_url": "CERTPLANE_PUBLIC_BASE_URL",
    "pki_url": "CERTPLANE_PKI_URL",
    "max_body_bytes": "CERTPLANE_MAX_BODY_BYTES",
    "http_header_timeout": "CERTPLANE_HTTP_HEADER_TIMEOUT",
    "http_body_timeout": "CERTPLANE_HTTP_BODY_TIMEOUT",
    "http_max_connections": "CERTPLANE_HTTP_MAX_CONNECTIONS",
    "http_max_connections_per_client": "CERTPLANE_HTTP_MAX_CONNECTIONS_PER_CLIENT",
    "http_max_workers": "CERTPLANE_HTTP_MAX_WORKERS",
    "catch_up_interval": "CERTPLANE_CATCH_UP_INTERVAL",
    "rpc_timeout": "CERTPLANE_RPC_TIMEOUT",
    "log_level": "CERTPLANE_LOG_LEVEL",
    "session_ttl": "CERTPLANE_SESSION_TTL",
    "session_idle_timeout": "CERTPLANE_SESSION_IDLE_TIMEOUT",
    "login_max_failures": "CERTPLANE_LOGIN_MAX_FAILURES",
    "lockout_seconds": "CERTPLANE_LOCKOUT_SECONDS",
    "dns_resolver": "CERTPLANE_DNS_RESOLVER",
    "dns_timeout": "CERTPLANE_DNS_TIMEOUT",
    "dcv_http_allow_private": "CERTPLANE_DCV_HTTP_ALLOW_PRIVATE",
    "dcv_http_timeout": "CERTPLANE_DCV_HTTP_TIMEOUT",
    "dcv_http_port": "CERTPLANE_DCV_HTTP_PORT",
    "dcv_https_port": "CERTPLANE_DCV_HTTPS_PORT",
    "dcv_token_days": "CERTPLANE_DCV_TOKEN_DAYS",
    "dcv_reuse_days": "CERTPLANE_DCV_REUSE_DAYS",
    "dcv_cname_zone": "CERTPLANE_DCV_CNAME_ZONE",
    "caa_identities": "CERTPLANE_CAA_IDENTITIES",
    "smtp_host": "CERTPLANE_SMTP_HOST",
    "smtp_port": "CERTPLANE_SMTP_PORT",
    "smtp_security": "CERTPLANE_SMTP_SECURITY",
    "smtp_username": "CERTPLANE_SMTP_USERNAME",
    "smtp_password": "CERTPLANE_SMTP_PASSWORD",
    "mail_from": "CERTPLANE_MAIL_FROM",
    "ca_kek": "CERTPLANE_CA_KEK",
    "ca_key_algorithm": "CERTPLANE_CA_KEY_ALGORITHM",
    "ca_organization": "CERTPLANE_CA_ORGANIZATION",
    "ca_country": "CERTPLANE_CA_COUNTRY",
    "crl_check_interval": "CERTPLANE_CRL_CHECK_INTERVAL",
    "crl_refresh_hours": "CERTPLANE_CRL_REFRESH_HOURS",
    "crl_validity_days": "CERTPLANE_CRL_VALIDITY_DAYS",
    "auto_renew_days": "CERTPLANE_AUTO_RENEW_DAYS",
    "auto_renew_check_interval": "CERTPLANE_AUTO_RENEW_CHECK_INTERVAL",
    "issuance_wait": "CERTPLANE_ISSUANCE_WAIT",
    "facts_max_lag": "CERTPLANE_FACTS_MAX_LAG",
    "tls_port": "CERTPLANE_TLS_PORT",
    "tls_cert_file": "CERTPLANE_TLS_CERT_FILE",
    "tls_key_file": "CERTPLANE_TLS_KEY_FILE",
    "est_port": "CERTPLANE_EST_PORT",
    "est_host": "CERTPLANE_EST_HOST",
    "est_public_host": "CERTPLANE_EST_PUBLIC_HOST",
    "est_default_endpoint": "CERTPLANE_EST_DEFAULT_ENDPOINT",
    "est_tls_check_interval": "CERTPLANE_EST_TLS_CHECK_INTERVAL",
    "acme_eab_required": "CERTPLANE_ACME_EAB_REQUIRED",
    "acme_authz_reuse_days": "CERTPLANE_ACME_AUTHZ_REUSE_DAYS",
    "acme_finalize_wait": "CERTPLANE_ACME_FINALIZE_WAIT",
    "acme_orders_per_account_hour": "CERTPLANE_ACME_ORDERS_PER_ACCOUNT_HOUR",
    "acme_orders_per_org_hour": "CERTPLANE_ACME_ORDERS_PER_ORG_HOUR",
    "acme_http_port": "CERTPLANE_ACME_HTTP_PORT",
    "acme_tls_port": "CERTPLANE_ACME_TLS_PORT",
    "acme_bad_nonce_rate": "CERTPLANE_ACME_BAD_NONCE_RATE",
    "form_access_max_failures": "CERTPLANE_FORM_ACCESS_MAX_FAILURES",
    "form_access_lockout_seconds": "CERTPLANE_FORM_ACCESS_LOCKOUT_SECONDS",
}

SMTP_SECURITY = ("none", "starttls", "tls")


def _boolean(value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise SystemExit(f"not a boolean setting value: {value!r} (use true or false)")


def _names(value) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    return tuple(str(item).strip() for item in items if str(item).strip())


# how a value from YAML or the environment becomes the setting's type
_COERCE = {"http_port": int, "health_port": int, "max_body_bytes": int, "http_header_timeout": float,
           "http_body_timeout": float, "http_max_connections": int, "http_max_connections_per_client": int,
           "http_max_workers": int, "catch_up_interval": float,
           "rpc_timeout": float, "session_ttl": float, "session_idle_timeout": float, "login_max_failures": int,
           "lockout_seconds": float,
           "dns_timeout": float, "dcv_http_allow_private": _boolean, "dcv_http_timeout": float, "dcv_http_port": int, "dcv_https_port": int,
           "dcv_token_days": int, "dcv_reuse_days": int, "caa_identities": _names, "smtp_port": int,
           "crl_check_interval": float, "crl_refresh_hours": float, "crl_validity_days": float,
           "auto_renew_days": float, "auto_renew_check_interval": float, "issuance_wait": float,
           "facts_max_lag": float, "tls_port": int, "est_port": int, "est_tls_check_interval": float, "acme_eab_required": _boolean,
           "acme_authz_reuse_days": float, "acme_finalize_wait": float, "acme_orders_per_account_hour": int,
           "acme_orders_per_org_hour": int, "acme_http_port": int, "acme_tls_port": int,
           "acme_bad_nonce_rate": float, "form_access_max_failures": int, "form_access_lockout_seconds": float}


def load_settings(environ: dict | None = None, **overrides) -> Settings:
    environ = os.environ if environ is None else environ
    values: dict = {}
    path = environ.get("CERTPLANE_CONFIG") or ("certplane.yaml" if Path("certplane.yaml").exists() else None)
    if path:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        known = {f.name for f in fields(Settings)}
        unknown = set(loaded) - known
        if unknown:
            raise SystemExit(f"{path}: unknown settings {sorted(unknown)}; known: {sorted(known)}")
        values.update(loaded)
    for name, variable in ENVIRONMENT_VARIABLES.items():
        if environ.get(variable):
            values[name] = environ[variable]
    urls = dict(values.get("database_urls") or {})
    for variable, value in environ.items():
        if variable.startswith("CERTPLANE_DATABASE_URL_") and value:
            urls[variable.removeprefix("CERTPLANE_DATABASE_URL_").lower()] = value
    values["database_urls"] = urls
    values.update(overrides)
    for name, convert in _COERCE.items():
        if name in values:
            try:
                values[name] = convert(values[name])
            except ValueError:
                raise SystemExit(f"setting {name}: {values[name]!r} is not a valid {convert.__name__}") from None
    settings = Settings(**values)
    if not 0 < settings.crl_validity_days <= 10:
        raise SystemExit("setting crl_validity_days: a CRL's nextUpdate must be within 10 days (DESIGN §6)")
    if min(settings.http_header_timeout, settings.http_body_timeout) <= 0 or min(
            settings.http_max_connections, settings.http_max_connections_per_client, settings.http_max_workers) < 1:
        raise SystemExit("settings http_*: timeouts must be positive and connection and worker counts at least 1")
    if settings.session_idle_timeout <= 0:
        raise SystemExit("setting session_idle_timeout: seconds, positive")
    if settings.smtp_security not in SMTP_SECURITY:
        raise SystemExit(f"setting smtp_security: {settings.smtp_security!r}; use one of {', '.join(SMTP_SECURITY)}")
    if settings.ca_key_algorithm not in KEY_ALGORITHMS:
        raise SystemExit(f"setting ca_key_algorithm (CERTPLANE_CA_KEY_ALGORITHM): {settings.ca_key_algorithm!r}; "
                         f"use one of {', '.join(KEY_ALGORITHMS)}")
    return settings
