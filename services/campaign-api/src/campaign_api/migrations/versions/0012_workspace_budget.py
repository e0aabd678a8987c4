"""The workspace's monthly LLM budget, kept where the workspace's other settings are.

Revision ID: 0012
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # workspace.updated carries the whole of the settings; the content generator takes its
    # budget from it, so campaign-api must hold the budget to publish it unchanged.
    op.add_column("workspaces", sa.Column("monthly_llm_budget", sa.Numeric(18, 10)))
    op.create_check_constraint("workspaces_budget", "workspaces", "monthly_llm_budget >= 0")


def downgrade() -> None:
    op.drop_column("workspaces", "monthly_llm_budget")
