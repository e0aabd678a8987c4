"""Each email's engagement counted as it is recorded (campaign_emails: opens, clicks and
unsubscribes, human and all), and what its last email.performance summary said and when.

The counters of emails engaged with before are worked out once here from `engagements`;
every such email is marked for a summary.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_COUNTERS = ("opens", "unique_opens", "human_opens", "unique_human_opens", "clicks",
             "unique_clicks", "human_clicks", "unique_human_clicks", "unsubscribes")

_BACKFILL = """
INSERT INTO campaign_emails (campaign_id, sequence, {columns}, summary_due)
SELECT campaign_id, sequence,
       count(*) FILTER (WHERE kind = 'open'),
       count(DISTINCT email) FILTER (WHERE kind = 'open'),
       count(*) FILTER (WHERE kind = 'open' AND human IS TRUE),
       count(DISTINCT email) FILTER (WHERE kind = 'open' AND human IS TRUE),
       count(*) FILTER (WHERE kind = 'click'),
       count(DISTINCT email) FILTER (WHERE kind = 'click'),
       count(*) FILTER (WHERE kind = 'click' AND human IS TRUE),
       count(DISTINCT email) FILTER (WHERE kind = 'click' AND human IS TRUE),
       count(DISTINCT email) FILTER (WHERE kind = 'unsubscribe'),
       true
FROM engagements GROUP BY campaign_id, sequence
ON CONFLICT (campaign_id, sequence) DO UPDATE SET {updates}, summary_due = true
"""


def upgrade() -> None:
    for name in _COUNTERS:
        op.add_column("campaign_emails",
                      sa.Column(name, sa.Integer, nullable=False, server_default="0"))
    op.add_column("campaign_emails", sa.Column("summary_due", sa.Boolean, nullable=False,
                                               server_default=sa.false()))
    op.add_column("campaign_emails", sa.Column("summary_as_of", sa.DateTime(timezone=True)))
    op.add_column("campaign_emails", sa.Column("summary_counts", JSONB))
    op.create_index("campaign_emails_summary_due", "campaign_emails", ["summary_as_of"],
                    postgresql_where=sa.text("summary_due"))
    op.execute(_BACKFILL.format(columns=", ".join(_COUNTERS),
                                updates=", ".join(f"{c} = excluded.{c}" for c in _COUNTERS)))
    op.execute("UPDATE campaign_emails SET summary_due = true WHERE sent > 0")


def downgrade() -> None:
    op.drop_index("campaign_emails_summary_due", "campaign_emails")
    for name in ("summary_counts", "summary_as_of", "summary_due", *_COUNTERS):
        op.drop_column("campaign_emails", name)
