"""Alembic migrations of the loudong database (a package so that it ships with an installed `storage`).

In-process: `storage.db.migrate(engine)`. From a shell, every alembic command works through
`python -m storage.migrations` with LOUDONG_DATABASE_URL set, e.g.::

    LOUDONG_DATABASE_URL=sqlite:///data/loudong.db python -m storage.migrations current
    LOUDONG_DATABASE_URL=sqlite:///data/loudong.db python -m storage.migrations upgrade head
    LOUDONG_DATABASE_URL=sqlite:///tmp/scratch.db python -m storage.migrations \\
        revision --autogenerate --rev-id 0002 -m "requests"
"""
