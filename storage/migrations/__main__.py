"""`python -m storage.migrations <alembic command>`: the alembic CLI without an alembic.ini.

The configuration is built in code (storage.db.alembic_config), so this works from any directory and
from an installed package; env.py reads the database URL from LOUDONG_DATABASE_URL."""

from __future__ import annotations

import sys

from alembic.config import CommandLine

from storage.db import alembic_config


def main(argv: list[str] | None = None) -> None:
    cli = CommandLine(prog="python -m storage.migrations")
    options = cli.parser.parse_args(argv)
    if not hasattr(options, "cmd"):
        cli.parser.error("too few arguments")
    cli.run_cmd(alembic_config(), options)


if __name__ == "__main__":
    main(sys.argv[1:])
