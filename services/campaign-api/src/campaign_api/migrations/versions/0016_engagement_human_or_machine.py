"""Each open and click labelled a person's or a machine's, with the machine's reason
(`engagement_rules`), and what the rules read: an email's number of distinct links and a
recipient's clicks of one email.

Engagements recorded before this migration keep `human` NULL: nobody looked at them, so the
human counts leave them out rather than guess (the counts of all still have them).

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# engagement_rules.MachineReason as it stands at this revision.
_REASONS = ("apple_privacy_proxy", "proxy_prefetch", "bot_user_agent", "no_user_agent",
            "link_burst", "trap_link")


def upgrade() -> None:
    op.add_column("engagements", sa.Column("human", sa.Boolean))
    op.add_column("engagements", sa.Column("machine_reason", sa.Text))
    reasons = ", ".join(f"'{r}'" for r in _REASONS)
    op.create_check_constraint(
        "engagements_machine_reason", "engagements",
        f"machine_reason IS NULL OR (machine_reason IN ({reasons}) AND human IS FALSE)")
    op.create_index("engagements_by_recipient", "engagements",
                    ["campaign_id", "sequence", "email", "occurred_at"])
    op.add_column("campaign_emails", sa.Column("links", sa.Integer))


def downgrade() -> None:
    op.drop_column("campaign_emails", "links")
    op.execute("DELETE FROM engagements WHERE kind = 'trap'")
    op.drop_index("engagements_by_recipient", "engagements")
    op.drop_constraint("engagements_machine_reason", "engagements")
    op.drop_column("engagements", "machine_reason")
    op.drop_column("engagements", "human")
