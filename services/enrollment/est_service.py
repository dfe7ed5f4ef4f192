"""EST (RFC 7030, RFC 8951) for device enrollment endpoints of type `est` (issue 16): entrypoints mixed into
EnrollmentService. The gateway passes `/.well-known/est/...` requests here as envelopes (gateway/api_est.py)."""
from __future__ import annotations


class EstEntrypoints:
    """Mixed into EnrollmentService."""
