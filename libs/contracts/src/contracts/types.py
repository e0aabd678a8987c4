"""Field types and bounds the events share."""

from __future__ import annotations

import zoneinfo
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

from rules.headers import HeaderText

MAX_MEMBERS_PER_EVENT = 500
# Well under NATS's default 1 MB message limit, envelope included.
MAX_PAYLOAD_BYTES = 512 * 1024


def _valid_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {name!r}") from exc
    return name


TimeZoneName = Annotated[str, AfterValidator(_valid_timezone)]
# A single line of text: safe to put in a mail header or a subject. Lengths are per field.
OneLine = HeaderText
ShortText = Annotated[HeaderText, StringConstraints(max_length=200)]
# A BCP 47 language tag as contacts carry it ("en", "de-AT", "pt-BR").
LanguageTag = Annotated[str, StringConstraints(
    pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35)]
