"""The `certplane` command.

    certplane run [SERVICE ...]            run services (all of them when none is named); embedded by default
    certplane projections rebuild SERVICE  rebuild a service's read models from events
    certplane audit verify SERVICE         check a service's event log hash chain (exit 1 if broken)
    certplane admin create --username U --email E --forename F --surname S
                                           add an MRAO (prints its generated password once)
    certplane ca init [--key-algorithm ALG]
                                           create the root and issuing CA unless they exist (prints them)
    certplane db upgrade [SERVICE ...]     migrate the services' database schemas to this code's revision (all when
                                           none is named); distributed mode: before `run` (a k8s Job does it)
    certplane db current [SERVICE ...]     each service's schema revision against this code's (exit 1 if any differs)
    certplane ca reissue CA                a new certificate for the CA's key (id or name), with the links of
                                           CERTPLANE_PUBLIC_BASE_URL; the old one stays downloadable
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import warnings

from contracts.ca import KEY_ALGORITHMS

SERVICES = {
    "orgs": "services.orgs.service:OrgsService",
    "identity": "services.identity.service:IdentityService",
    "domains": "services.domains.service:DomainsService",
    "notify": "services.notify.service:NotifyService",
    "ca": "services.ca.service:CaService",
    "enrollment": "services.enrollment.service:EnrollmentService",
    "gateway": "gateway.service:GatewayService",
}


def service_class(name: str):
    if name not in SERVICES:
        raise SystemExit(f"unknown service {name!r}; known: {', '.join(SERVICES)}")
    module, _, attr = SERVICES[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="certplane", description="Certplane certificate lifecycle manager")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run services (all when none is named)")
    run.add_argument("services", nargs="*", metavar="SERVICE", help=", ".join(SERVICES))
    projections = commands.add_parser("projections", help="read models")
    projections.add_argument("action", choices=["rebuild"])
    projections.add_argument("service")
    audit = commands.add_parser("audit", help="the tamper-evident event log")
    audit.add_argument("action", choices=["verify"])
    audit.add_argument("service")
    admin = commands.add_parser("admin", help="administrators")
    admin.add_argument("action", choices=["create"])
    for name in ("username", "email", "forename", "surname"):
        admin.add_argument(f"--{name}", required=True)
    ca = commands.add_parser("ca", help="the private CA")
    ca.add_argument("action", choices=["init", "reissue"])
    ca.add_argument("ca", nargs="?", metavar="CA", help="reissue: the CA's id or name")
    ca.add_argument("--key-algorithm", choices=KEY_ALGORITHMS, metavar="ALG",
                    help=f"one of {', '.join(KEY_ALGORITHMS)} (default: CERTPLANE_CA_KEY_ALGORITHM, else ec-p256)")
    db = commands.add_parser("db", help="database schemas (Alembic migrations)")
    db.add_argument("action", choices=["upgrade", "current"])
    db.add_argument("services", nargs="*", metavar="SERVICE", help=", ".join(SERVICES))
    args = parser.parse_args(argv)
    if args.command == "ca" and args.action == "reissue" and not args.ca:
        parser.error("ca reissue needs the CA: its id or name (GET /api/v1/cas lists them)")
    if args.command == "ca" and args.action == "reissue" and args.key_algorithm:
        parser.error("--key-algorithm goes with ca init: a reissued certificate keeps the CA's key")

    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # known; see RUNTIME-NOTES
    if args.command == "run":
        import eventlet
        eventlet.monkey_patch()
        from services.runtime.runner import run_services
        return run_services(args.services or list(SERVICES), service_class, first_start)
    if args.command == "db":
        return database_command(args.action, args.services or list(SERVICES))
    if args.command == "admin":
        admin_id, password = create_admin(args)
        print(json.dumps({"admin_id": admin_id, "username": args.username, "password": password,
                          "note": "shown once; the admin must change it at the first login"}, indent=2))
        return 0
    if args.command == "ca" and args.action == "reissue":
        print(json.dumps(reissue_ca(args.ca), indent=2))
        return 0
    if args.command == "ca":
        print(json.dumps(init_ca(args.key_algorithm), indent=2))
        return 0
    if args.command in ("projections", "audit"):
        from services.runtime.config import load_settings
        schemas_ready(load_settings(), [args.service])
    if args.command == "projections":
        from services.runtime.maintenance import rebuild_projections
        result = rebuild_projections(service_class(args.service))
    else:
        from services.runtime.maintenance import verify_audit_log
        result = verify_audit_log(service_class(args.service))
    print(json.dumps(result, indent=2))
    return 0 if result.get("ok", True) else 1


def database_command(action: str, names: list[str]) -> int:
    """`certplane db upgrade|current`: one JSON line per service."""
    from services.runtime import migrations
    from services.runtime.config import load_settings
    from services.runtime.nameko_glue import open_database
    settings = load_settings()
    settings.check()
    for name in names:
        service_class(name)     # an unknown name stops here
    differing = 0
    for name in migrations.owners_of(names):
        db = open_database(settings, name)
        if action == "upgrade":
            print(json.dumps(migrations.upgrade(db, name)), flush=True)
        else:
            found = migrations.status(db, name)
            differing += found["state"] != "current"
            print(json.dumps(found), flush=True)
    return 1 if differing else 0


def schemas_ready(settings, names: list[str]) -> None:
    """Before a command touches a service's tables: embedded mode migrates them, distributed mode refuses on a
    schema that is not at this code's revision (services/runtime/migrations.py ensure_schemas)."""
    from services.runtime.migrations import ensure_schemas
    ensure_schemas(settings, names)


def _identity_stores(settings):
    schemas_ready(settings, ["identity"])
    from services.identity.adapters.credentials import CredentialStore
    from services.runtime.nameko_glue import open_database
    identity = service_class("identity")
    return (identity.store.build_store(settings, "identity"),
            CredentialStore(open_database(settings, "identity")))


def first_start(settings, names: list[str]) -> list[str]:
    """Before the services start, in embedded mode (lines for the banner): the first administrator, printed once;
    and a warning for each CA whose certificate names other links than CERTPLANE_PUBLIC_BASE_URL (the ca service
    logs the same at every start, in both modes)."""
    if not settings.embedded:
        return []
    lines = []
    if "identity" in names:
        from services.identity.bootstrap import ensure_initial_admin
        store, credentials = _identity_stores(settings)
        lines += ensure_initial_admin(store, credentials, settings.var_dir)
    if "ca" in names:
        lines += ca_link_warnings(settings)
    return lines


def ca_link_warnings(settings) -> list[str]:
    """Banner lines for the CAs whose CRL/OCSP/caIssuers links name another base URL than the configured one."""
    from services.ca.hierarchy import links_differing
    from services.ca.projections import CaView
    store = service_class("ca").store.build_store(settings, "ca")
    try:
        found = links_differing(store.read(store.projection(CaView).all_cas), settings.base_url)
    finally:
        store.db.dispose()
    return [f"  WARNING: CA {f['name']!r} ({f['ca_id']}) names {f['certificate_base_url']} in its CRL/OCSP links, "
            f"but the public base URL (CERTPLANE_PUBLIC_BASE_URL) is {f['configured_base_url']}; relying parties "
            f"follow the links in the certificate. Fix: {f['remedy']} (or POST /api/v1/cas/{f['ca_id']}/reissue)"
            for f in found]


def create_admin(args) -> tuple[str, str]:
    from services.identity.bootstrap import create_mrao
    from services.runtime.config import load_settings
    store, credentials = _identity_stores(load_settings())
    return create_mrao(store, credentials, args.username, args.email, args.forename, args.surname)


def init_ca(key_algorithm: str | None) -> dict:
    """`certplane ca init`: the default root and issuing CA, made by the code the ca service's first start runs
    (services/ca/hierarchy.py), straight into the ca service's store and key store; or, when they exist, the
    existing ones, unchanged. In distributed mode the database URL and CERTPLANE_CA_KEK come from the
    environment as for `certplane run ca`."""
    from services.ca.hierarchy import ensure_default_hierarchy
    store, keys, settings = _ca_stores()
    made = ensure_default_hierarchy(store, keys, settings, key_algorithm, actor="operator:cli")
    result = {"created": made.created,
              "message": "created the root and issuing CA" if made.created else
              "the root and issuing CA existed already; nothing was changed",
              "root": _ca_summary(made.root), "issuing": _ca_summary(made.issuing)}
    if not made.created and key_algorithm and key_algorithm != made.root["key_algorithm"]:
        result["warning"] = (f"--key-algorithm {key_algorithm} was not applied: the existing CAs use "
                             f"{made.root['key_algorithm']}")
    elif made.created and settings.public_base_url is None:
        result["warning"] = (f"CERTPLANE_PUBLIC_BASE_URL is not set: the issuing CA's CRL and OCSP links name "
                             f"{settings.base_url}, which relying parties outside this machine cannot reach")
    return result


def reissue_ca(ca: str) -> dict:
    """`certplane ca reissue CA`: a new certificate for the CA's key with the links of the current base URL
    (services/ca/hierarchy.py reissue, as POST /api/v1/cas/{id}/reissue makes it), straight into the ca
    service's store; a running ca service serves it from its next request on."""
    import uuid
    from types import SimpleNamespace

    from cryptography import x509

    from contracts.errors import DomainError
    from services.ca import hierarchy
    from services.runtime.nameko_glue import StoreHandle
    store, keys, settings = _ca_stores()
    operator = SimpleNamespace(metadata=lambda: {"correlation_id": str(uuid.uuid4()), "actor": "operator:cli",
                                                 "causation_id": None})
    try:
        found = hierarchy.find_ca(store, ca)
        made = hierarchy.reissue(StoreHandle(store, operator), keys, settings, found["ca_id"])
    except DomainError as exc:
        raise SystemExit(f"certplane ca reissue: {exc.message} ({exc.code})") from None
    links = hierarchy.certificate_links(x509.load_pem_x509_certificate(made.ca["certificate_pem"].encode()))
    return {"reissued": True, "ca": _ca_summary(made.ca), "previous_serial": made.previous_serial,
            "links": {"crl": links.crl_url, "ocsp": links.ocsp_url, "ca_issuers": links.ca_issuers_url}}


def _ca_stores():
    """The ca service's store and key store, as `certplane run ca` opens them (SystemExit on a KEK that does not
    open the stored keys)."""
    from services.ca.adapters.keystore import KeyStore, KeyStoreLocked, load_kek
    from services.runtime.config import load_settings
    from services.runtime.nameko_glue import open_database
    settings = load_settings()
    settings.check()
    kek = load_kek(settings.ca_kek, settings.var_dir, settings.embedded)    # distributed: CERTPLANE_CA_KEK or exit
    schemas_ready(settings, ["ca"])             # after the settings: a missing KEK is named before the schema
    store = service_class("ca").store.build_store(settings, "ca")
    keys = KeyStore(open_database(settings, "ca"), kek)
    try:
        keys.check_kek()
    except KeyStoreLocked as exc:
        raise SystemExit(str(exc)) from None
    return store, keys, settings


def _ca_summary(row: dict) -> dict:
    from services.runtime.events import utc
    return {"ca_id": row["ca_id"], "name": row["name"], "subject": row["subject"],
            "key_algorithm": row["key_algorithm"], "sha256_fingerprint": row["sha256_fingerprint"],
            "serial": row["serial"], "not_after": utc(row["not_after"]).isoformat()}


if __name__ == "__main__":
    sys.exit(main())
