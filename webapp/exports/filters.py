"""The filter a dataset version is selected with: parsed and checked in one place.

Used by the API (through its serializer, which names the same fields) and by the
``export_dataset`` command. Every refusal names the field it is about.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from webapp.core.exceptions import DomainError
from webapp.faces.models import Face

STATUS_VERIFIED = "verified"
STATUS_NON_EXCLUDED = "non_excluded"
STATUS_CHOICES = {
    STATUS_VERIFIED: (Face.Status.VERIFIED,),
    # Everything a person has not thrown out: never not_a_face or excluded.
    STATUS_NON_EXCLUDED: (Face.Status.UNVERIFIED, Face.Status.VERIFIED),
}
FILTER_FIELDS = ("distractors", "status", "chunks", "splits", "sources")


class InvalidFilter(DomainError):
    code = "invalid_filter"

    def __init__(self, field: str, message: str):
        super().__init__(message, extra={"field": field, "errors": {field: [message]}})
        self.field = field


@dataclass(frozen=True)
class ExportFilter:
    """Which faces a version holds.

    - ``distractors``: False: VIP faces only. True: also candidate identities and unknown people,
      all under the one distractor label.
    - ``status``: ``verified`` (default) or ``non_excluded`` (unverified and verified).
    - ``chunks``: VIP chunks to keep (empty: all). VIPs of other chunks are left out, not turned
      into distractors.
    - ``splits``, ``sources``: keep only these (empty: all).
    """

    distractors: bool = False
    status: str = STATUS_VERIFIED
    chunks: tuple[int, ...] = ()
    splits: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {key: list(value) if isinstance(value, tuple) else value for key, value in data.items()}

    @property
    def statuses(self) -> tuple[str, ...]:
        return STATUS_CHOICES[self.status]


def _choices(field: str, value: Any, allowed: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise InvalidFilter(field, f"'{field}' must be a list of strings from: {', '.join(allowed)}.")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise InvalidFilter(field, f"Unknown {field} value '{unknown[0]}'; expected some of: {', '.join(allowed)}.")
    return tuple(sorted(set(value), key=allowed.index))


def export_filter_parse(*, data: Mapping[str, Any]) -> ExportFilter:
    """Check a filter given as a mapping; unknown keys and bad values raise ``InvalidFilter``."""
    if not isinstance(data, Mapping):
        raise InvalidFilter("filters", "The filter must be an object.")
    unknown = sorted(set(data) - set(FILTER_FIELDS))
    if unknown:
        raise InvalidFilter(unknown[0], f"Unknown filter '{unknown[0]}'; allowed: {', '.join(FILTER_FIELDS)}.")
    distractors = data.get("distractors", False)
    if not isinstance(distractors, bool):
        raise InvalidFilter("distractors", "'distractors' must be true or false.")
    status = data.get("status") or STATUS_VERIFIED
    if status not in STATUS_CHOICES:
        raise InvalidFilter(
            "status", f"Unknown status filter '{status}'; expected one of: {', '.join(STATUS_CHOICES)}."
        )
    chunks = data.get("chunks") or ()
    if not isinstance(chunks, (list, tuple)) or not all(
        isinstance(chunk, int) and not isinstance(chunk, bool) and chunk >= 0 for chunk in chunks
    ):
        raise InvalidFilter("chunks", "'chunks' must be a list of chunk numbers (integers, 0 or more).")
    return ExportFilter(
        distractors=distractors,
        status=status,
        chunks=tuple(sorted(set(chunks))),
        splits=_choices("splits", data.get("splits"), list(Face.Split.values)),
        sources=_choices("sources", data.get("sources"), list(Face.Source.values)),
    )
