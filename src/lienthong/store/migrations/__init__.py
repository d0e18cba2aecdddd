"""Alembic migrations of the store (run them with :func:`lienthong.store.db.upgrade`)."""
