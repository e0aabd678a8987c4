"""Header values: refused when they hold anything a mail program may take for a line end."""

from __future__ import annotations

import re
import sys

import pytest
from pydantic import BaseModel, ValidationError

from rules.headers import (
    HEADER_BREAK,
    HEADER_SAFE_PATTERN,
    HeaderInput,
    HeaderText,
    header_safe,
    is_header_safe,
)


def _breaks_lines(char: str) -> bool:
    return len(f"a{char}b".splitlines()) > 1


def test_the_refused_characters_are_nul_and_every_line_end_of_str_splitlines() -> None:
    refused = {chr(c) for c in range(sys.maxunicode + 1) if HEADER_BREAK.search(chr(c))}
    line_ends = {chr(c) for c in range(sys.maxunicode + 1) if _breaks_lines(chr(c))}
    assert refused == line_ends | {"\0"}
    # The schema's pattern says the same (Python's re reads these escapes as ECMA-262 does;
    # fullmatch, as ECMA-262's "$" never matches before a final line end).
    described = re.compile(HEADER_SAFE_PATTERN)
    assert {c for c in refused | {"a", "\t", "\u2027"} if not described.fullmatch(c)} == refused
    assert _Form.model_json_schema()["properties"]["given"]["pattern"] == HEADER_SAFE_PATTERN


@pytest.mark.parametrize("char", ["\r", "\n", "\0", "\x0b", "\x0c", "\x1c", "\x85", "\u2028",
                                  "\u2029"])
def test_a_value_with_a_line_end_is_refused(char: str) -> None:
    assert not is_header_safe(f"Ada{char}Bcc: x@example.com")
    with pytest.raises(ValueError, match="one line"):
        header_safe(f"Ada{char}Bcc: x@example.com")


def test_ordinary_text_passes_unchanged() -> None:
    for text in ("Ada Lovelace", "Zoë «Ж» 東京 \t tab", "=?utf-8?q?looks_encoded?=", ""):
        assert header_safe(text) == text


class _Form(BaseModel):
    given: HeaderText = ""
    typed: HeaderInput = ""


def test_the_pydantic_types_refuse_a_line_end_and_name_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        _Form(given="a\u2028b", typed="c\x0cd")
    assert [e["loc"] for e in info.value.errors()] == [("given",), ("typed",)]
    assert _Form(typed="  Ada  ").typed == "Ada"
