"""The `certplane` command.

    certplane run [SERVICE ...]            run services (all of them when none is named); embedded by default
    certplane projections rebuild SERVICE  rebuild a service's read models from events
    certplane audit verify SERVICE         check a service's event log hash chain (exit 1 if broken)
    certplane admin create --username U --email E --forename F --surname S
                                           add an MRAO (prints its generated password once)
    certplane ca init [--key-algorithm ALG]
                                           create the root and issuing CA unless they exist (prints them)
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
    ca.add_argument("action", choices=["init"])
    ca.add_argument("--key-algorithm", choices=KEY_ALGORITHMS, metavar="ALG",
                    help=f"one of {', '.join(KEY_ALGORITHMS)} (default: CERTPLANE_CA_KEY_ALGORITHM, else ec-p256)")
    args = parser.parse_args(argv)

    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # known; see RUNTIME-NOTES
    if args.command == "run":
        import eventlet
        eventlet.monkey_patch()
        from services.runtime.runner import run_services
        return run_services(args.services or list(SERVICES), service_class, first_start)
    if args.command == "admin":
        admin_id, password = create_admin(args)
        print(json.dumps({"admin_id": admin_id, "username": args.username, "password": password,
                          "note": "shown once; the admin must change it at the first login"}, indent=2))
        return 0
    if args.command == "ca":
        print(json.dumps(init_ca(args.key_algorithm), indent=2))
        return 0
    if args.command == "projections":
        from services.runtime.maintenance import rebuild_projections
        result = rebuild_projections(service_class(args.service))
    else:
        from services.runtime.maintenance import verify_audit_log
        result = verify_audit_log(service_class(args.service))
    print(json.dumps(result, indent=2))
    return 0 if result.get("ok", True) else 1


def _identity_stores(settings):
    from services.identity.adapters.credentials import CredentialStore
    from services.runtime.nameko_glue import open_database
    identity = service_class("identity")
    return (identity.store.build_store(settings, "identity"),
            CredentialStore(open_database(settings, "identity")))


def first_start(settings, names: list[str]) -> list[str]:
    """Before the services start: in embedded mode, the first administrator (lines to print once)."""
    if not settings.embedded or "identity" not in names:
        return []
    from services.identity.bootstrap import ensure_initial_admin
    store, credentials = _identity_stores(settings)
    return ensure_initial_admin(store, credentials, settings.var_dir)


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
    from services.ca.adapters.keystore import KeyStore, KeyStoreLocked, load_kek
    from services.ca.hierarchy import ensure_default_hierarchy
    from services.runtime.config import load_settings
    from services.runtime.nameko_glue import open_database
    settings = load_settings()
    settings.check()
    kek = load_kek(settings.ca_kek, settings.var_dir, settings.embedded)    # distributed: CERTPLANE_CA_KEK or exit
    store = service_class("ca").store.build_store(settings, "ca")
    keys = KeyStore(open_database(settings, "ca"), kek)
    try:
        keys.check_kek()
    except KeyStoreLocked as exc:
        raise SystemExit(str(exc)) from None
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


def _ca_summary(row: dict) -> dict:
    from services.runtime.events import utc
    return {"ca_id": row["ca_id"], "name": row["name"], "subject": row["subject"],
            "key_algorithm": row["key_algorithm"], "sha256_fingerprint": row["sha256_fingerprint"],
            "serial": row["serial"], "not_after": utc(row["not_after"]).isoformat()}


if __name__ == "__main__":
    sys.exit(main())
