"""Alembic revision scripts (ignored by Alembic itself; makes the folder a package)."""
