"""The mail outbox: emails written with what they announce and sent by the mailer's loop

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 19:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mails",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("recipient_id", sa.Integer(), sa.ForeignKey("recipients.id", ondelete="SET NULL"), nullable=True),
        sa.Column("to_address", sa.String(320), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(255), nullable=False, unique=True),
        sa.Column("after_operation_id", sa.Integer(), sa.ForeignKey("operations.id"), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_mails_status_next_attempt_at", "mails", ["status", "next_attempt_at"])
    op.create_index("ix_mails_recipient_id", "mails", ["recipient_id"])
    op.create_index("ix_mails_after_operation_id", "mails", ["after_operation_id"])


def downgrade() -> None:
    op.drop_table("mails")
