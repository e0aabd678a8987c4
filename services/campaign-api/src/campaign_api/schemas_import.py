"""The CSV import's options and report. Shapes only: how a column maps onto a contact is
`contact_columns`', what a valid contact is `contacts_domain`'s."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Json

from campaign_api.schemas import RejectedRow
from campaign_api.schemas_contacts import ConsentBasis

Column = Annotated[str, Field(max_length=200)]
Target = Annotated[str, Field(max_length=64)] | None


class ImportOptions(BaseModel):
    """Given as query parameters, or as form fields beside the multipart `file`."""

    model_config = ConfigDict(extra="forbid")

    consent_basis: ConsentBasis = Field(description="The lawful basis for mailing them, "
                                        "recorded for each contact (source 'import')")
    consent_text: Annotated[str, Field(max_length=5_000)] = ""
    list_id: uuid.UUID | None = Field(default=None, description="A list of this workspace "
                                      "to put every imported contact on")
    update_existing: bool = Field(default=True, description="Merge the file into contacts "
                                  "already there (their status is never changed); false: "
                                  "leave them as they are")
    mapping: Json[Annotated[dict[Column, Target], Field(max_length=52)]] | None = Field(
        default=None, description="A JSON object: CSV column -> email, name, tags, timezone, "
        "language, a declared field's key, or null to ignore the column. Without it each "
        "column maps by its name")


class ContactImportReport(BaseModel):
    rows: int = Field(description="Data rows read (header and blank lines excluded)")
    created: int
    updated: int
    unchanged: int = Field(description="Valid rows that changed nothing (a contact already as "
                           "the row says, one left alone, or an address repeated in the file)")
    added_to_list: int
    rejected: int
    rejected_rows: list[RejectedRow] = Field(description="Rejected rows in file order (the "
                                             "first 10,000 if there are more)")
