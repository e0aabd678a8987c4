"""Where a database still holds a string: every text-like column of every table searched, for
the tests that prove an erased address is gone from a service."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

# Every column a string can hide in, with how its value is read as text. Bytes are read with
# encode(..., 'escape'), which keeps ASCII as it is whether or not the bytes are UTF-8.
_AS_TEXT = {
    "bytea": "encode({col}, 'escape')",
}
_COLUMNS = sa.text("""
    SELECT c.table_name, c.column_name, c.udt_name
    FROM information_schema.columns c
    JOIN information_schema.tables t USING (table_schema, table_name)
    WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
      AND (c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'bytea',
                           'ARRAY')
           OR c.udt_name IN ('citext'))
    ORDER BY 1, 2
""")


async def columns_holding(conn: AsyncConnection, needle: str) -> list[str]:
    """"table.column" of every column with a value containing `needle` (ASCII letters compared
    case-insensitively); empty when no table holds it."""
    found = []
    for table, column, udt in (await conn.execute(_COLUMNS)).all():
        col = f'"{table}"."{column}"'
        as_text = _AS_TEXT.get(udt, "CAST({col} AS text)").format(col=col)
        query = sa.text(
            f'SELECT EXISTS (SELECT 1 FROM "{table}" '  # noqa: S608 - names from the catalog
            f"WHERE strpos(lower({as_text}), lower(:needle)) > 0)")
        if (await conn.execute(query, {"needle": needle})).scalar():
            found.append(f"{table}.{column}")
    return found
