import sqlalchemy as sa

from servicekit.migrations import run_env

run_env(sa.MetaData())
