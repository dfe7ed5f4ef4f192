"""structlog, JSON lines on stderr, configured once per process.

Per worker, runtime.nameko binds `service`, `entrypoint`, `correlation_id` and `actor` into structlog's
context variables (greenlets each have their own context), so every line a worker logs carries them.
"""
from __future__ import annotations

import logging
import sys

import structlog

_configured = False


def configure_logging(level: str = "info") -> None:
    global _configured
    if _configured:
        return
    _configured = True
    numeric = getattr(logging, level.upper(), logging.INFO)
    processors = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer(),
    ]
    structlog.configure(processors=processors, wrapper_class=structlog.make_filtering_bound_logger(numeric),
                        logger_factory=structlog.PrintLoggerFactory(sys.stderr), cache_logger_on_first_use=True)
    # nameko, kombu and eventlet log through the standard library: send them to the same stream as JSON too
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processor=structlog.processors.JSONRenderer(),
        foreign_pre_chain=[structlog.processors.add_log_level,
                           structlog.processors.TimeStamper(fmt="iso", utc=True),
                           structlog.stdlib.add_logger_name,
                           structlog.processors.format_exc_info]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.WARNING) if numeric <= logging.INFO else numeric)
    # nameko logs every expected refusal with a traceback; Context logs it once as `request_refused` instead
    logging.getLogger("nameko.containers").setLevel(logging.ERROR)
    # kombu warns on every memory:// connection that it has no host name
    logging.getLogger("kombu.connection").setLevel(logging.ERROR)
