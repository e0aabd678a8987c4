"""The CSV import's SQL: a batch of checked rows is COPied into a temporary table, and from
there erased addresses are struck out and the rest upserted, given consent and put on the
target list, each in one statement whatever the batch's size.

The table lives for the batch's transaction only (ON COMMIT DROP). The upsert ends with the
contacts API's own merge (`contact_rows.UPSERT_MERGE`), so that an import merges a contact
already there exactly as the bulk upsert does.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api.db.contact_rows import UPSERT_MERGE
from campaign_api.db.tables import AnyRow

# A staged row: its line in the file, the contact as checked, and the keyed digest of its
# address (`erasure.ErasureKey`) to compare with erased_addresses.
STAGED = ("line", "email", "name", "fields", "tags", "timezone", "language", "digest")
StagedRow = tuple[int, str, str, str, list[str], str | None, str | None, str]

# The address compares byte for byte, as contacts.email does (migration 0015): the upsert's
# ORDER BY (index order, for locality) then sorts by memcmp, not by the locale's rules, which
# took the sort ten times as long.
_CREATE = sa.text("""
CREATE TEMPORARY TABLE import_rows (
    line integer NOT NULL, email text COLLATE "C" NOT NULL, name text NOT NULL,
    fields jsonb NOT NULL, tags text[] NOT NULL, timezone text, language text,
    digest text NOT NULL
) ON COMMIT DROP
""")

# Rows of addresses erased in the workspace struck out (their lines returned), and of an
# address twice in the batch only its last row kept (as a later batch's row would stand): one
# statement, one round trip. The repeats' DELETE leaves the erased addresses to the first.
_ERASED_AND_REPEATS = sa.text("""
WITH erased AS (
    DELETE FROM import_rows r USING erased_addresses e
    WHERE e.workspace_id = :workspace_id AND e.digest = r.digest
    RETURNING r.line, r.email
), repeats AS (
    DELETE FROM import_rows r USING import_rows later
    WHERE later.email = r.email AND later.line > r.line
      AND r.email NOT IN (SELECT email FROM erased)
)
SELECT line FROM erased
""").bindparams(sa.bindparam("workspace_id", type_=UUID(as_uuid=True)))

_UPSERT = sa.text("""
INSERT INTO contacts AS c (id, workspace_id, email, name, fields, tags, timezone, language,
                           status, source)
SELECT gen_random_uuid(), :workspace_id, r.email, r.name, r.fields, r.tags, r.timezone,
       r.language, 'subscribed', 'import'
FROM import_rows r
ORDER BY r.email
""" + UPSERT_MERGE).bindparams(sa.bindparam("workspace_id", type_=UUID(as_uuid=True)),
                               sa.bindparam("update_existing", type_=sa.Boolean))

# One consent record per staged contact and, given a list, the staged contacts onto it: one
# statement (both read the same join); the addresses that were not on the list yet.
_CONSENT_AND_LIST = sa.text("""
WITH staged AS (
    SELECT c.id, c.email FROM import_rows r
    JOIN contacts c ON c.workspace_id = :workspace_id AND c.email = r.email
), consented AS (
    INSERT INTO consents (contact_id, list_id, source, basis, consent_text)
    SELECT id, :list_id, 'import', :basis, :consent_text FROM staged
), added AS (
    INSERT INTO list_members (list_id, contact_id)
    SELECT :list_id, id FROM staged WHERE :list_id IS NOT NULL
    ON CONFLICT DO NOTHING
    RETURNING contact_id
)
SELECT s.email FROM added JOIN staged s ON s.id = added.contact_id ORDER BY s.email
""").bindparams(sa.bindparam("workspace_id", type_=UUID(as_uuid=True)),
                sa.bindparam("list_id", type_=UUID(as_uuid=True)))


async def stage(conn: AsyncConnection, rows: Sequence[StagedRow]) -> None:
    """The batch into `import_rows` by COPY (binary, one round trip for all of it)."""
    # The first statement runs through SQLAlchemy, which opens the transaction the COPY
    # (on the same connection, below SQLAlchemy) then joins.
    await conn.execute(_CREATE)
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.copy_records_to_table("import_rows", records=rows, columns=STAGED)


async def strike_erased_and_repeats(conn: AsyncConnection, workspace_id: uuid.UUID
                                   ) -> list[int]:
    """Drop the staged rows of addresses erased in the workspace (their lines returned) and
    all but the last row of an address staged twice."""
    return sorted((await conn.execute(_ERASED_AND_REPEATS, {"workspace_id": workspace_id})
                   ).scalars())


async def upsert_staged(conn: AsyncConnection, workspace_id: uuid.UUID, *,
                        update_existing: bool) -> list[AnyRow]:
    """Contacts created or changed from the staged rows, with `inserted` telling which."""
    return list((await conn.execute(_UPSERT, {"workspace_id": workspace_id,
                                              "update_existing": update_existing})).all())


async def consent_and_list_staged(conn: AsyncConnection, workspace_id: uuid.UUID,
                                  list_id: uuid.UUID | None, basis: str, consent_text: str
                                  ) -> list[str]:
    """One consent record (source 'import') per staged contact and, given a list, the staged
    contacts onto it; the addresses that were not on the list yet."""
    return list((await conn.execute(_CONSENT_AND_LIST, {
        "workspace_id": workspace_id, "list_id": list_id, "basis": basis,
        "consent_text": consent_text})).scalars())
