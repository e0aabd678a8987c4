"""Contacts written in bulk pay for one index less and the consent log for no foreign keys.

- The address is compared byte for byte (COLLATE "C"): the unique (workspace_id, email) index
  then serves the address-prefix search too, and the second index on the same two columns
  (text_pattern_ops, for LIKE under the database's locale) goes. Addresses are stored
  lower-cased, so their order is the same as before for ASCII ones.
- consents is an append-only log read by its contact (a profile, an export): its rows are
  deleted with their contact or list by the statements that delete those
  (`db.contact_rows.delete_contact`, `db.gdpr.erase_address`, `db.memberships.delete_list`)
  instead of by cascading foreign keys, whose checks (a locked contact row per consent) cost
  an import of a million rows as much again as writing the consents themselves.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("contacts_email_prefix", "contacts")
    op.alter_column("contacts", "email", type_=sa.Text(collation="C"))
    op.drop_constraint("consents_contact_id_fkey", "consents", type_="foreignkey")
    op.drop_constraint("consents_list_id_fkey", "consents", type_="foreignkey")


def downgrade() -> None:
    op.execute("DELETE FROM consents WHERE contact_id NOT IN (SELECT id FROM contacts)"
               " OR list_id NOT IN (SELECT id FROM lists)")
    op.create_foreign_key("consents_list_id_fkey", "consents", "lists", ["list_id"], ["id"],
                          ondelete="CASCADE")
    op.create_foreign_key("consents_contact_id_fkey", "consents", "contacts",
                          ["contact_id"], ["id"], ondelete="CASCADE")
    op.alter_column("contacts", "email", type_=sa.Text())
    op.create_index("contacts_email_prefix", "contacts",
                    ["workspace_id", sa.text("email text_pattern_ops")])
