"""Which text may stand in a mail header: one rule for the API that accepts a name, the
events that carry it and the mailer that writes it into a message.

A header value must not hold anything a mail program could take for the end of a line: CR and
LF, and every other character Python's `str.splitlines` (and so its email package, when it
folds a header) breaks lines at, VT, FF, the file/group/record separators, NEL, U+2028 and
U+2029; nor NUL. Refusing them where the text comes in means a campaign never gets as far as
the mailer with a sender name that no message can be built from.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

# NUL, and whatever str.splitlines takes for a line end (the tests hold the two equal).
HEADER_BREAK = re.compile("[\0\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")

# The same as a JSON Schema pattern (ECMA-262 escapes), for the documents that describe it.
HEADER_SAFE_PATTERN = r"^[^\x00\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]*$"

ONE_LINE = "must be one line: no line breaks, NUL or other control separators"


def header_safe(value: str) -> str:
    """`value` unchanged, or ValueError when it could end a header line early."""
    if HEADER_BREAK.search(value):
        raise ValueError(ONE_LINE)
    return value


def is_header_safe(value: str) -> bool:
    return HEADER_BREAK.search(value) is None


# Text that goes into a header (a campaign's name, a sender or recipient name), as given.
_DESCRIBED = Field(json_schema_extra={"pattern": HEADER_SAFE_PATTERN})
HeaderText = Annotated[str, AfterValidator(header_safe), _DESCRIBED]
# The same with the surrounding white space dropped, for what people type.
HeaderInput = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(header_safe),
                        _DESCRIBED]
