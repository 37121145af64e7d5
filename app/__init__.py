"""The webapp service: a small JSON items API on Starlette, SQLAlchemy and SQLite (or PostgreSQL)."""
