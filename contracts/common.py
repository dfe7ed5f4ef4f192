"""Field types shared by several contracts."""
from __future__ import annotations

import pycountry
from marshmallow import ValidationError, fields, validate


def _iso_country(value: str) -> None:
    if not isinstance(value, str) or len(value) != 2 or not value.isupper() \
            or pycountry.countries.get(alpha_2=value) is None:
        raise ValidationError("must be an ISO 3166-1 alpha-2 country code in upper case, e.g. DE or US")


class Country(fields.String):
    """ISO 3166-1 alpha-2 (upper case, as X.509 `C` wants it)."""

    def __init__(self, **kwargs):
        super().__init__(validate=_iso_country, **kwargs)


def text(max_length: int, **kwargs) -> fields.String:
    """A trimmed-on-the-way-in string of 1..max_length printable characters."""
    return fields.String(validate=[validate.Length(min=1, max=max_length),
                                   validate.Regexp(r"^[^\x00-\x1f\x7f]*$", error="must not contain control characters"),
                                   validate.Regexp(r"^\S(.*\S)?$", error="must not start or end with white space")],
                         **kwargs)
