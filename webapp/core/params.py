"""Ids and numbers in requests, checked in one place.

An id is a positive integer the database can hold (PostgreSQL ``bigint``, SQLite ``INTEGER``: at most
2^63 - 1); a larger one would reach the database driver and fail there (a 500), so it is refused
first, with a 400 that names the parameter. Views and filters take ids and bounded integers only through
these helpers: ``IdField`` in serializers, ``IdFilter`` in filter sets, ``query_id`` / ``query_int`` /
``query_choice`` for query parameters a view reads itself, ``path_id`` for ids in a URL. The schema
states the same bounds (``ID_SCHEMA``, ``id_parameter``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import overload

import django_filters
from django import forms
from drf_spectacular.utils import OpenApiParameter, extend_schema_field
from rest_framework import serializers

from .exceptions import DomainError, NotFound

DB_ID_MIN, DB_ID_MAX = 1, 2**63 - 1  # bigint primary keys
DB_INT_MAX = 2**31 - 1  # integer columns (versions, counts)
DB_SMALLINT_MIN, DB_SMALLINT_MAX = -(2**15), 2**15 - 1  # smallint columns (class labels)

ID_SCHEMA = {"type": "integer", "format": "int64", "minimum": DB_ID_MIN, "maximum": DB_ID_MAX}
_INTEGER = re.compile(r"^[+-]?\d{1,30}$")


class InvalidParameter(DomainError):
    """A query or body value that is not what the parameter takes (400, naming it)."""

    code = "invalid_parameter"

    def __init__(self, name: str, message: str):
        super().__init__(message, extra={"errors": {name: [message]}})
        self.name = name


def parse_int(raw: object) -> int | None:
    """``raw`` as an integer when it is written as one (no fractions, exponents or words), else None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    text = str(raw).strip()
    return int(text) if _INTEGER.match(text) else None


@overload
def query_int(params: Mapping, name: str, *, min_value: int, max_value: int, default: int) -> int: ...
@overload
def query_int(params: Mapping, name: str, *, min_value: int, max_value: int, default: None = None) -> int | None: ...
def query_int(params: Mapping, name: str, *, min_value: int, max_value: int, default: int | None = None) -> int | None:
    """An optional integer query parameter within [min_value, max_value]; ``default`` when absent or empty."""
    raw = params.get(name)
    if raw in (None, ""):
        return default
    value = parse_int(raw)
    if value is None or not min_value <= value <= max_value:
        raise InvalidParameter(name, f"'{name}' must be an integer from {min_value} to {max_value}; got '{raw}'.")
    return value


def query_id(params: Mapping, name: str) -> int | None:
    """An optional id query parameter (None when absent or empty)."""
    raw = params.get(name)
    if raw in (None, ""):
        return None
    value = parse_int(raw)
    if value is None or not DB_ID_MIN <= value <= DB_ID_MAX:
        raise InvalidParameter(
            name, f"'{name}' must be an id: an integer from {DB_ID_MIN} to {DB_ID_MAX}; got '{raw}'."
        )
    return value


def query_choice(params: Mapping, name: str, *, choices: Iterable[str], default: str | None = None) -> str | None:
    """An optional query parameter that takes one of ``choices``."""
    raw = params.get(name)
    if raw in (None, ""):
        return default
    allowed = list(choices)
    if raw not in allowed:
        raise InvalidParameter(name, f"'{name}' must be one of: {', '.join(allowed)}; got '{raw}'.")
    return raw


def path_id(value: object, what: str) -> int:
    """An id from the URL: anything that cannot be one names no object (404)."""
    number = parse_int(value)
    if number is None or not DB_ID_MIN <= number <= DB_ID_MAX:
        raise NotFound(f"No {what} with id {value}.")
    return number


def id_parameter(name: str, description: str = "", *, required: bool = False) -> OpenApiParameter:
    """The schema of an id query parameter, with the bounds ``query_id`` enforces."""
    return OpenApiParameter(name, ID_SCHEMA, OpenApiParameter.QUERY, required=required, description=description)


class IdField(serializers.IntegerField):
    """An id in a request body: a positive integer within the database's bigint range."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", DB_ID_MIN)
        kwargs.setdefault("max_value", DB_ID_MAX)
        super().__init__(**kwargs)


@extend_schema_field(ID_SCHEMA)
class IdFilter(django_filters.NumberFilter):
    """An id filter: integers within the database's bigint range, else 400 naming the filter."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", DB_ID_MIN)
        kwargs.setdefault("max_value", DB_ID_MAX)
        super().__init__(*args, **kwargs)


class IdInFilter(django_filters.BaseInFilter, IdFilter):
    """Comma-separated ids (``?ids=3,5``), each checked like ``IdFilter``."""
