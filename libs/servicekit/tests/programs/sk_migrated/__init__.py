"""A package with two alembic revisions, for the readiness check's migration test."""
