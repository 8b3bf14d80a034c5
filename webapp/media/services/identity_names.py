"""Identities named by the person importing: a lookup by id or exact name, and popularity ranks
read from a CSV file."""

from __future__ import annotations

import csv
from pathlib import Path

from webapp.core.exceptions import InvalidTransition, NotFound
from webapp.identities.models import Identity
from webapp.identities.services import identity_require_active


def identity_lookup(*, ref: str | int | None) -> Identity | None:
    """An identity by id or exact name (None for none); merged identities are refused clearly."""
    if ref in (None, ""):
        return None
    text = str(ref).strip()
    identity = (Identity.objects.filter(pk=int(text)).first() if text.isdigit() else None) or Identity.objects.filter(
        name=text
    ).first()
    if identity is None:
        raise NotFound(f"No identity '{text}' (give its id or exact name).")
    return identity_require_active(identity)


def popularity_read_csv(*, path: str | Path) -> dict[str, int]:
    """``name,rank`` lines (a header line is allowed) → {name: rank}; 1 = most popular.

    Errors name the file and the line and column, never the file's content: the path may be
    anything an admin typed, and echoing what it holds would let the API read any file.
    """
    ranks: dict[str, int] = {}
    line_number = 0
    label = f"Popularity file '{Path(path).name}'"
    if not Path(path).is_file():
        raise InvalidTransition(f"{label} not found on the server.")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            for line_number, row in enumerate(csv.reader(handle), start=1):
                if not row or not row[0].strip() or row[0].startswith("#"):
                    continue
                if len(row) < 2:
                    raise InvalidTransition(
                        f"{label}, line {line_number}: expected 'name,rank' (2 columns), found {len(row)}."
                    )
                name, rank = row[0].strip(), row[1].strip()
                if not rank.isdigit():
                    if line_number == 1:
                        continue  # header
                    raise InvalidTransition(
                        f"{label}, line {line_number}, column 2: the rank must be a positive integer."
                    )
                ranks[name] = int(rank)
    except (UnicodeDecodeError, csv.Error, OSError) as exc:
        where = f", near line {line_number + 1}" if isinstance(exc, (UnicodeDecodeError, csv.Error)) else ""
        raise InvalidTransition(f"{label}{where}: not a readable UTF-8 CSV file ({type(exc).__name__}).") from None
    return ranks


def identities_set_popularity(*, ranks: dict[str, int]) -> int:
    """Set ``popularity_rank`` (promotion order) for the named identities that exist; returns how many."""
    identities = list(Identity.objects.filter(name__in=list(ranks)))
    for identity in identities:
        identity.popularity_rank = ranks[identity.name]
    Identity.objects.bulk_update(identities, ["popularity_rank"], batch_size=1000)
    return len(identities)
