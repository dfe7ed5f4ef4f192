"""The `certplane` command.

    certplane run [SERVICE ...]            run services (all of them when none is named); embedded by default
    certplane projections rebuild SERVICE  rebuild a service's read models from events
    certplane audit verify SERVICE         check a service's event log hash chain (exit 1 if broken)
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import warnings

SERVICES = {
    "orgs": "services.orgs.service:OrgsService",
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
    args = parser.parse_args(argv)

    if args.command == "run":
        warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # known; see RUNTIME-NOTES
        import eventlet
        eventlet.monkey_patch()
        from services.runtime.runner import run_services
        return run_services(args.services or list(SERVICES), service_class)
    if args.command == "projections":
        from services.runtime.maintenance import rebuild_projections
        result = rebuild_projections(service_class(args.service))
    else:
        from services.runtime.maintenance import verify_audit_log
        result = verify_audit_log(service_class(args.service))
    print(json.dumps(result, indent=2))
    return 0 if result.get("ok", True) else 1


if __name__ == "__main__":
    sys.exit(main())
