"""Semantic memory (an embedding per email), spend per workspace, budgets, outage counts.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects.postgresql import UUID

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COST = sa.Numeric(18, 10)


def upgrade() -> None:
    op.add_column("generated_emails", sa.Column("embedding", Vector()))
    op.add_column("generated_emails", sa.Column("embedding_model", sa.Text))
    op.add_column("generated_emails", sa.Column("max_similarity", sa.Float))
    op.add_column("llm_calls", sa.Column("workspace_id", UUID(as_uuid=True)))
    op.add_column("llm_calls", sa.Column("kind", sa.Text, nullable=False, server_default="chat"))
    op.add_column("llm_calls", sa.Column("preview", sa.Boolean, nullable=False,
                                         server_default=sa.false()))
    # Rows written before this migration are billed to their campaign's workspace.
    op.execute(
        "UPDATE llm_calls SET workspace_id = c.workspace_id FROM campaigns c "
        "WHERE llm_calls.campaign_id = c.campaign_id"
    )
    op.create_index("llm_calls_workspace_month", "llm_calls", ["workspace_id", "created_at"])
    op.create_table(
        "workspaces",
        sa.Column("workspace_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("monthly_llm_budget", COST),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_table(
        "generation_outages",
        sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("sequence", sa.Integer, primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("generation_outages")
    op.drop_table("workspaces")
    op.drop_index("llm_calls_workspace_month", table_name="llm_calls")
    for column in ("preview", "kind", "workspace_id"):
        op.drop_column("llm_calls", column)
    for column in ("max_similarity", "embedding_model", "embedding"):
        op.drop_column("generated_emails", column)
