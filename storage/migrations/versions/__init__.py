"""Revisions, one file each, named NNNN_slug.py with revision id NNNN (alembic skips this file)."""
