"""How the columns of an imported CSV map onto a contact, and a row read through that map.
Pure: no I/O.

A column maps to `email`, `name`, `tags`, `timezone`, `language`, a declared custom field's
key, or nothing (null: ignored). Without a mapping each header maps by its name as
`domain.field_name` spells it (`First Name` is `first_name`); a header that names neither a
built-in nor a declared field is a problem of the file, not silently dropped, unless the
mapping says to ignore it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from campaign_api.contacts_domain import Contact, InvalidContact, contact
from campaign_api.csv_rows import MAX_COLUMNS, BadFile
from campaign_api.domain import field_name

BUILT_IN = ("email", "name", "tags", "timezone", "language")
# A CSV cell holds several tags separated by this (the comma separates the cells).
TAG_SEPARATOR = ";"


def mapping_problems(mapping: Mapping[str, object], declared: Mapping[str, str]) -> str | None:
    """What is wrong with a given mapping, before any file is read (None: nothing)."""
    targets: list[str] = []
    for column, target in mapping.items():
        if target is None:
            continue
        if not isinstance(target, str):
            return f"mapping.{column}: a field name or null"
        if target not in BUILT_IN and target not in declared:
            return (f"mapping.{column}: {target!r} is neither one of {', '.join(BUILT_IN)} "
                    "nor a declared field of this workspace (declare it with POST /api/fields)")
        targets.append(target)
    repeated = sorted({t for t in targets if targets.count(t) > 1})
    if repeated:
        return f"mapping: more than one column maps to {repeated[0]!r}"
    return None


@dataclass(frozen=True)
class ColumnMap:
    """Where each column of the header goes (None: ignored)."""

    targets: tuple[str | None, ...]

    def contact(self, values: Sequence[str], declared: Mapping[str, str]) -> Contact:
        """The row as a checked contact; InvalidContact names the column's field."""
        if len(values) != len(self.targets):
            raise InvalidContact("row", f"{len(values)} columns where the header has "
                                 f"{len(self.targets)}")
        email = name = timezone = language = None
        tags: list[str] = []
        fields: dict[str, str] = {}
        for target, value in zip(self.targets, values, strict=True):
            if target is None:
                continue
            if target == "email":
                email = value
            elif target == "name":
                name = value
            elif target == "tags":
                tags = [t for t in value.split(TAG_SEPARATOR) if t.strip()]
            elif target == "timezone":
                timezone = value
            elif target == "language":
                language = value
            elif value.strip():  # an empty cell leaves the field as it is
                fields[target] = value.strip()
        return contact(email or "", declared, name=name, fields=fields, tags=tags,
                       timezone=timezone, language=language)


def column_map(header: Sequence[str], mapping: Mapping[str, str | None] | None,
               declared: Mapping[str, str]) -> ColumnMap:
    """The header read through the mapping (or by name); BadFile names what cannot work."""
    if len(header) > MAX_COLUMNS:
        raise BadFile(f"line 1: at most {MAX_COLUMNS} columns")
    stripped = [h.strip() for h in header]
    if len(set(stripped)) != len(stripped):
        raise BadFile("line 1: column names repeat")
    if mapping is not None:
        unknown = sorted(set(mapping) - set(stripped))
        if unknown:
            raise BadFile(f"mapping.{unknown[0]}: no such column in the header (line 1)")
    targets: list[str | None] = []
    for column in stripped:
        if mapping is not None and column in mapping:
            targets.append(mapping[column])
            continue
        target = field_name(column)
        if target not in BUILT_IN and target not in declared:
            raise BadFile(f"line 1: column {column!r} is neither one of {', '.join(BUILT_IN)} "
                          "nor a declared field; map it (mapping) or ignore it (null)")
        targets.append(target)
    if "email" not in targets:
        raise BadFile("line 1: no column maps to 'email' (name one email, or map one to it)")
    repeated = sorted({t for t in targets if t is not None and targets.count(t) > 1})
    if repeated:
        raise BadFile(f"line 1: more than one column maps to {repeated[0]!r}")
    return ColumnMap(tuple(targets))
