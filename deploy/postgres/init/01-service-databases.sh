#!/bin/sh
# Runs once, when the data volume is empty: one database per service, owned by the app role.
# content_generator gets pgvector here because creating an extension needs a superuser.
set -eu

for database in campaign_api scheduler content_generator mailer; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -c "CREATE DATABASE $database OWNER \"$POSTGRES_USER\""
done

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname content_generator \
  -c "CREATE EXTENSION IF NOT EXISTS vector"
