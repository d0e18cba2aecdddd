"""Storage: SQLAlchemy 2 tables, Alembic migrations, accounts.

SQLite (WAL) is the embedded default; PostgreSQL (psycopg 3) is the production database. The
store imports the spec layer (agency codes) and nothing else of the package.
"""

from lienthong.store.accounts import (
    ALL_SERVICES,
    AccountError,
    Accounts,
    hash_password,
    verify_password,
)
from lienthong.store.db import (
    DEFAULT_URL,
    current_revision,
    head_revision,
    make_engine,
    redact_url,
    session_factory,
    upgrade,
)
from lienthong.store.hashing import canonical_json, record_hash
from lienthong.store.tables import (
    Account,
    Base,
    Dossier,
    DossierEvent,
    HubSession,
    LoginFailure,
    MessageLog,
    UtcDateTime,
    utcnow,
)

__all__ = [
    "ALL_SERVICES",
    "DEFAULT_URL",
    "Account",
    "AccountError",
    "Accounts",
    "Base",
    "Dossier",
    "DossierEvent",
    "HubSession",
    "LoginFailure",
    "MessageLog",
    "UtcDateTime",
    "canonical_json",
    "current_revision",
    "hash_password",
    "head_revision",
    "make_engine",
    "record_hash",
    "redact_url",
    "session_factory",
    "upgrade",
    "utcnow",
    "verify_password",
]
