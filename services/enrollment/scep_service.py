"""SCEP (RFC 8894) for device enrollment endpoints of type `scep` (issue 16): entrypoints mixed into
EnrollmentService. The gateway passes `/scep/<endpoint>` requests here as envelopes (gateway/api_scep.py)."""
from __future__ import annotations


class ScepEntrypoints:
    """Mixed into EnrollmentService."""
