"""The hub's tables (SQLAlchemy 2 typed declarative).

Conventions:

- Timestamps are timezone-aware :class:`~datetime.datetime` values. They are stored in UTC and
  always come back as aware UTC datetimes, on SQLite too (:class:`UtcDateTime`). A naive
  datetime is refused rather than guessed at.
- JSON columns are ``JSON`` on SQLite and ``JSONB`` on PostgreSQL (:data:`JsonType`); records
  are kept in wire form (values as strings, names as the standard spells them).
- ``record_hash`` columns hold :func:`lienthong.store.hashing.record_hash` of the record: the
  SHA-256 of its canonical JSON.
- Every change of schema goes through a migration in ``migrations/versions``; a test checks
  that the migrations and these classes agree.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = [
    "Account",
    "Base",
    "BigId",
    "DataKey",
    "Dossier",
    "DossierEvent",
    "DossierMonthStats",
    "EvidenceArchive",
    "EvidenceBatch",
    "EvidenceEntry",
    "EvidenceHead",
    "EvidenceKey",
    "HubSession",
    "JsonType",
    "LoginFailure",
    "MessageLog",
    "Petition",
    "PetitionFile",
    "PublicSubmission",
    "Question",
    "ReferenceEntry",
    "UnitReport",
    "UtcDateTime",
    "utcnow",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that stores UTC and returns aware UTC datetimes everywhere.

    SQLite has no time-zone type: the value is stored as naive UTC text and read back with
    ``tzinfo=UTC``. PostgreSQL stores ``timestamptz``; values are converted to UTC on the way
    out whatever the session's ``TimeZone``. Naive datetimes raise ``ValueError``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: give it a time zone")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: JSON on SQLite (and elsewhere), JSONB on PostgreSQL.
JsonType: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")

#: 64-bit ids on PostgreSQL; ``INTEGER PRIMARY KEY`` (the rowid, also 64-bit) on SQLite.
BigId: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Account(Base):
    """A one-stop system's login: the agency codes it may act for and the services it may call."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(128), unique=True)
    #: ``scrypt$16384$8$1$<salt b64>$<hash b64>`` (:func:`lienthong.store.accounts.hash_password`)
    password_hash: Mapped[str] = mapped_column(String(256))
    #: Agency codes; the account may also act for the units under them in the code hierarchy.
    units: Mapped[list[str]] = mapped_column(JsonType)
    #: Service names, or ``["*"]`` for every service.
    services: Mapped[list[str]] = mapped_column(JsonType)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: Client networks (CIDR) the account logs in from; a login from one of them is exempt
    #: from the per-account failure limit, so that no stranger can lock a machine account out.
    networks: Mapped[list[str] | None] = mapped_column(JsonType, nullable=True)
    #: How answers to this account spell success (``"0"``, ``"00"`` or ``"integer"``, see
    #: :data:`lienthong.store.accounts.SUCCESS_CODE_FORMS`); None: the hub's setting.
    success_code: Mapped[str | None] = mapped_column(String(8), nullable=True)
    #: Its pushes are validated in strict mode: the deviations tolerated from real clients (and
    #: unknown fields) are errors, for a system that wants to be told before the portal does.
    strict: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: Whether its envelopes must be signed (``required``, ``if-present``, ``off``); None: the
    #: service's or the hub's mode (lienthong.hub.signatures).
    signature_mode: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: SHA-256 (hex) of the client certificates bound to the account: when there are any, it
    #: logs in and calls only over TLS connections that present one of them (mutual TLS).
    client_certificates: Mapped[list[str] | None] = mapped_column(JsonType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return (
            f"Account(username={self.username!r}, units={self.units!r}, "
            f"services={self.services!r}, disabled={self.disabled!r})"
        )


class HubSession(Base):
    """A login session. Only the SHA-256 (hex) of the token is stored, never the token."""

    __tablename__ = "hub_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    client: Mapped[str | None] = mapped_column(String(64))


class LoginFailure(Base):
    """A failed login, for rate limiting per account and per client address."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index(None, "username", "at"),
        Index(None, "client", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str | None] = mapped_column(String(128))
    client: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)


class Dossier(Base):
    """The current state of one dossier (hồ sơ), as last pushed with ``DongBoHoSoMC``."""

    __tablename__ = "dossiers"
    __table_args__ = (Index(None, "unit", "received_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ma_ho_so: Mapped[str] = mapped_column(String(64), unique=True)
    #: The envelope ``madonvi`` that pushed it (indexed through ``(unit, received_at)``).
    unit: Mapped[str] = mapped_column(String(40))
    ma_tthc: Mapped[str] = mapped_column(String(64))
    #: The current status: that of the latest claim, the record's or a step's
    #: (:func:`lienthong.hub.dossiers.current_status`); the record keeps what was sent.
    status: Mapped[str] = mapped_column(String(4))
    #: The own time of the claim that set ``status``: the record's latest processing date
    #: (:func:`lienthong.hub.dossiers.record_time_text`) or the step's ``ThoiDiemXuLy``.
    status_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: The record's own ``TrangThaiHoSo`` (``status`` follows the steps too): what the monthly
    #: statistics read, kept so that an update can take back the dossier's old share of them.
    record_status: Mapped[str | None] = mapped_column(String(4))
    received_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    returned_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: The dossier in wire form.
    record: Mapped[dict[str, Any]] = mapped_column(JsonType)
    record_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class DossierEvent(Base):
    """One entry of a dossier's processing history (``CapNhatTienDoHoSoMC``).

    ``(dossier_id, record_hash)`` is unique, so re-sending the same update adds nothing.
    """

    __tablename__ = "dossier_events"
    __table_args__ = (UniqueConstraint("dossier_id", "record_hash"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(BigId, ForeignKey("dossiers.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(4))
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    record: Mapped[dict[str, Any]] = mapped_column(JsonType)
    record_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class DossierMonthStats(Base):
    """The monthly statistics of dossiers (DongBoThongKeHoSo) kept as they are written: what the
    dossiers of a unit and the units under it change in one month (Asia/Ho_Chi_Minh).

    ``unit_path`` is the unit's levels from level 1 down, joined by ``.`` (``H22.10.05``, the
    same for both agency-code formats); every dossier counts in the row of its unit and of each
    unit above it, so a unit's figures read its own rows only. ``received``,
    ``processed_on_time`` and ``processed_late`` are the month's events; ``pending`` and
    ``overdue`` are changes (opened minus closed), whose sum over the months up to one is what
    is open at its end (:mod:`lienthong.hub.month_stats`). Updated in the transaction that
    writes the dossiers.
    """

    __tablename__ = "dossier_month_stats"

    unit_path: Mapped[str] = mapped_column(String(64), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    received: Mapped[int] = mapped_column(Integer, default=0)
    processed_on_time: Mapped[int] = mapped_column(Integer, default=0)
    processed_late: Mapped[int] = mapped_column(Integer, default=0)
    pending: Mapped[int] = mapped_column(Integer, default=0)
    overdue: Mapped[int] = mapped_column(Integer, default=0)


class MessageLog(Base):
    """One request and its response. Secrets and session tokens are never written here.

    Authorization refusals are rows too, with the refusal's ``error_code``. ``raw_body`` keeps
    the request bytes of accepted pushes (evidence).
    """

    __tablename__ = "message_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    endpoint: Mapped[str] = mapped_column(String(32))
    service: Mapped[str | None] = mapped_column(String(64))
    account: Mapped[str | None] = mapped_column(String(128))
    unit: Mapped[str | None] = mapped_column(String(40))
    client: Mapped[str | None] = mapped_column(String(64))
    dstcode: Mapped[str | None] = mapped_column(String(128))
    request_bytes: Mapped[int] = mapped_column(Integer, default=0)
    response_bytes: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms: Mapped[float] = mapped_column(Float)
    http_status: Mapped[int] = mapped_column(Integer)
    error_code: Mapped[str] = mapped_column(String(8))
    records: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    raw_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    note: Mapped[str | None] = mapped_column(Text)
    #: The signed receipt of a push answer, its exact bytes (JSON), and its signature (DER, or
    #: the compact JWS's ASCII), as sent in the answer's headers (issue 12).
    receipt: Mapped[bytes | None] = mapped_column(LargeBinary)
    receipt_signature: Mapped[bytes | None] = mapped_column(LargeBinary)


class MessageSignature(Base):
    """The verification of a signed request (issue 12), kept with its message-log row: the
    signature as received and the result (Circular 15/2025/TT-BKHCN asks a verifier to keep the
    signer certificate, the revocation data used and the result). Certificates and revocation
    answers are kept once each, by digest (:class:`KeptCertificate`, :class:`KeptRevocation`),
    and named in ``result``."""

    __tablename__ = "message_signatures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    log_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("message_log.id", ondelete="CASCADE"), index=True
    )
    format: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    signer_sha256: Mapped[str | None] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(40))
    signing_time: Mapped[datetime | None] = mapped_column(UtcDateTime())
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    result: Mapped[dict[str, Any]] = mapped_column(JsonType)


class KeptCertificate(Base):
    """A certificate some verification used (DER), kept once by its SHA-256."""

    __tablename__ = "kept_certificates"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class KeptRevocation(Base):
    """An OCSP response or CRL some verification used (DER), kept once by its SHA-256."""

    __tablename__ = "kept_revocations"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    der: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ReferenceEntry(Base):
    """One row of the reference data the hub shares: a procedure (``kind`` LayThuTuc), a
    publication decision (LayQDCB), or a row of a category list (the LayDanhMuc* service name)."""

    __tablename__ = "reference_entries"
    __table_args__ = (UniqueConstraint("kind", "code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(128))
    position: Mapped[int] = mapped_column(Integer, default=0)
    #: The row in wire form, as the share service returns it.
    record: Mapped[dict[str, Any]] = mapped_column(JsonType)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class UnitReport(Base):
    """A periodic report a unit pushed: satisfaction survey (``DongBoDanhGia``) or dossier
    statistics (``DongBoThongKeHoSo``), one current row per (kind, unit, period)."""

    __tablename__ = "unit_reports"
    __table_args__ = (UniqueConstraint("kind", "unit", "period"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(40))
    #: ``YYYY-MM`` for a month, ``YYYY`` for a year.
    period: Mapped[str] = mapped_column(String(16))
    record: Mapped[dict[str, Any]] = mapped_column(JsonType)
    record_hash: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class Petition(Base):
    """A petition (phản ánh, kiến nghị, PAKN): submitted by a citizen through the hub (``source``
    ``portal``) or handled by a unit and pushed with ``DongBoPAKNDiaPhuong`` (``local``).

    ``status`` is a TrangThaiPAKN code: 1 pending, 2 processing, 3 answered, 4 published,
    5 refused. ``record`` is the petition in wire form (DongBoPAKNDiaPhuong field names),
    ``answer`` the unit's DongBoKetQuaXuLyPAKN record once answered.
    """

    __tablename__ = "petitions"
    __table_args__ = (
        Index(None, "unit", "status"),
        Index(None, "published", "created_at"),
        Index(None, "status", "unit_path"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: ``PAKN-000123`` for a citizen submission, ``<unit>-<MaPAKN>`` for a local one.
    pakn_id: Mapped[str] = mapped_column(String(128), unique=True)
    #: The unit that must handle it (``MaDonViXuLy``).
    unit: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(4))
    record: Mapped[dict[str, Any]] = mapped_column(JsonType)
    record_hash: Mapped[str] = mapped_column(String(64))
    answer: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    published: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
    #: What the keyword search reads: ``TieuDe`` and ``NoiDungPAKN``, casefolded
    #: (:func:`lienthong.hub.petitions.search_text`), written with every change of ``record``.
    search_text: Mapped[str | None] = mapped_column(Text)
    #: The levels of ``unit`` joined by dots (``H56.13``; None when ``unit`` does not parse),
    #: so that the units under a scope are one prefix (:func:`lienthong.hub.petitions.unit_path`).
    unit_path: Mapped[str | None] = mapped_column(String(40))
    #: When it was sent: ``NgayGuiPAKN``, else ``created_at`` (the date window of the lists).
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class PetitionFile(Base):
    """A document attached to a petition: its bytes, or a link to it."""

    __tablename__ = "petition_files"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    petition_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("petitions.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(128))
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    url: Mapped[str | None] = mapped_column(String(1000))


class Question(Base):
    """A question and its answer (hỏi đáp): sent by a citizen on the portal (``source``
    ``portal``, answered with ``DongBoKetQuaHoiDapGuiTuDVCQG``), compiled by a unit
    (``unit``, ``DongBoHoiDap``) or compiled by a ministry per procedure (``ministry``,
    ``LayDanhSachHoiDapBoCoQuan``). ``status``: 1 pending, 3 answered."""

    __tablename__ = "questions"
    #: ``HOIDAPID`` is unique per source and unit: a unit's ids never meet the portal's or
    #: another unit's (the portal's own are unique by construction).
    __table_args__ = (
        Index(None, "source", "unit", "status"),
        UniqueConstraint("source", "unit", "hoidap_id"),
        Index(None, "status", "updated_at"),
        Index(None, "source", "status", "unit_path"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    hoidap_id: Mapped[int] = mapped_column(BigInteger)
    unit: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(4))
    record: Mapped[dict[str, Any]] = mapped_column(JsonType)
    record_hash: Mapped[str] = mapped_column(String(64))
    answer: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
    #: What the public keyword search reads: ``TIEUDE``, ``NOIDUNG`` and the answer's text,
    #: casefolded; None while there is no answer text (nothing of it is public).
    search_text: Mapped[str | None] = mapped_column(Text)
    #: As :attr:`Petition.unit_path`.
    unit_path: Mapped[str | None] = mapped_column(String(40))
    #: When it was sent: ``NGAYGUI``, else ``created_at``.
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


# --------------------------------------------------------------------------------------------
# The one-stop agent (lienthong.agent): durable outbox, dead-letter audit, small state store
# --------------------------------------------------------------------------------------------


class AgentOutbox(Base):
    """One record a local system handed to the agent, kept until the portal has taken it.

    ``id`` is the global sequence: rows are delivered in ``id`` order per ``order_key``.
    ``state``: ``pending`` (to send, or to retry at ``next_attempt_at``), ``delivered``,
    ``dead`` (refused for good; kept with the portal's answer for the dead-letter store) or
    ``dropped`` (an operator gave up on a dead row).
    """

    __tablename__ = "agent_outbox"
    __table_args__ = (
        Index(None, "state", "id"),
        Index(None, "order_key", "state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    service: Mapped[str] = mapped_column(String(64))
    #: The envelope's ``madonvi``.
    unit: Mapped[str] = mapped_column(String(40))
    #: ``MaHoSo`` for dossier services, the natural id for the others (None when unreadable).
    record_key: Mapped[str | None] = mapped_column(String(200))
    #: Rows with the same order key are delivered in ``id`` order (None: no constraint).
    order_key: Mapped[str | None] = mapped_column(String(255))
    #: The record in wire form, as submitted.
    record: Mapped[dict[str, Any]] = mapped_column(JsonType)
    #: The envelope's parameters other than session, madonvi, service and data (``isUpdating``).
    params: Mapped[dict[str, Any]] = mapped_column(JsonType)
    #: The name of the local API key that submitted it.
    submitter: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    #: The portal's per-record outcome (or envelope answer) of the last attempt.
    last_answer: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    #: The hub's signed receipt of the last answer with per-record outcomes (one per envelope,
    #: shared by its rows); None: no receipt came.
    receipt_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("agent_receipts.id", ondelete="SET NULL"), index=True
    )


class AgentReceipt(Base):
    """A hub's signed receipt of one delivered envelope (issue 12), as received, with the
    agent's check of it: the signature (against the configured anchors), the request's digest
    and the per-record outcomes against the answer. The envelope's outbox rows name it."""

    __tablename__ = "agent_receipts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    service: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(40))
    #: The outbox rows the envelope carried.
    rows: Mapped[int] = mapped_column(Integer)
    #: SHA-256 (hex) of the exact bytes the agent sent.
    request_sha256: Mapped[str | None] = mapped_column(String(64))
    #: The receipt's exact bytes (JSON); None: required but missing.
    receipt: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: Its signature: DER (``cades``) or the compact JWS's ASCII (``jws``).
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    format: Mapped[str | None] = mapped_column(String(8))
    #: ``valid`` or ``invalid``.
    status: Mapped[str] = mapped_column(String(16))
    #: Why (``receipt.valid``, ``receipt.signature``, ``receipt.digest``, ...), the messages,
    #: and the signature's verification (:meth:`Verification.as_dict`).
    result: Mapped[dict[str, Any]] = mapped_column(JsonType)


class AgentDeadLetterAction(Base):
    """Audit of the dead-letter store: who replayed or dropped which outbox row, and when."""

    __tablename__ = "agent_dead_letter_actions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("agent_outbox.id", ondelete="CASCADE"), index=True
    )
    #: ``replay`` or ``drop``.
    action: Mapped[str] = mapped_column(String(16))
    by: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)
    #: For a replay with a corrected record: the record as it was before (evidence).
    previous_record: Mapped[dict[str, Any] | None] = mapped_column(JsonType)


class AgentState(Base):
    """Small key/value facts of the agent (last success, last error, portal session state)."""

    __tablename__ = "agent_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JsonType)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class AgentPulledItem(Base):
    """Something the portal shares, pulled by the agent (pending PAKN, portal questions,
    ministry Q&A sets, procedures, category rows), kept as last seen.

    ``(service, unit, item_key)`` is unique; ``record_hash`` tells a changed item from a
    re-pulled one, so that the local system is notified only of what is new or changed.
    """

    __tablename__ = "agent_pulled_items"
    __table_args__ = (
        UniqueConstraint("service", "unit", "item_key"),
        Index(None, "service", "updated_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    service: Mapped[str] = mapped_column(String(64))
    #: The ``madonvi`` the pull was made for.
    unit: Mapped[str] = mapped_column(String(40))
    item_key: Mapped[str] = mapped_column(String(200))
    record: Mapped[dict[str, Any]] = mapped_column(JsonType)
    record_hash: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class AgentWebhookDelivery(Base):
    """A notification to the local system's webhook, retried until it answers 2xx.

    ``state``: ``pending`` (to send, or to retry at ``next_attempt_at``) or ``delivered``.
    """

    __tablename__ = "agent_webhook_deliveries"
    __table_args__ = (Index(None, "state", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: e.g. ``pulled.new``, ``pulled.changed``
    event: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)


class AgentDossier(Base):
    """The latest ``DongBoHoSoMC`` record the agent took for a dossier: the input of the
    monthly statistics the agent computes and sends itself (the hub computes the same)."""

    __tablename__ = "agent_dossiers"
    __table_args__ = (Index(None, "unit", "received_at"),)

    ma_ho_so: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: The envelope ``madonvi`` it was submitted for.
    unit: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    returned_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    record: Mapped[dict[str, Any]] = mapped_column(JsonType)
    #: The outbox row that carried this version.
    outbox_id: Mapped[int | None] = mapped_column(BigId)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class PublicSubmission(Base):
    """An anonymous request counted per client address across workers: a citizen's submission
    attempt (PAKN or question, form or API; ``kind`` ``submit``) or a public lookup
    (``lookup``). Rows older than the window are purged as new ones come."""

    __tablename__ = "public_submissions"
    #: (kind, client, at) counts a client's requests; (kind, at) finds a kind's expired rows
    __table_args__ = (Index(None, "kind", "client", "at"), Index(None, "kind", "at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="submit", server_default="submit")
    #: The client address, an IPv6 client's /64 network (:func:`lienthong.hub.limits.client_key`).
    client: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)


class FormNonce(Base):
    """The nonce of a form token already used (a form token is single-use). Kept until the
    token would have expired anyway, then purged."""

    __tablename__ = "form_nonces"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class HubSecret(Base):
    """A secret the hub generated for itself because none was configured (e.g. the key that
    signs form tokens), shared by every worker through the database."""

    __tablename__ = "hub_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class DataKey(Base):
    """A data key of encryption at rest (issue 13), wrapped by a master key that is never in
    the database (:mod:`lienthong.store.sealing`): a backup holds only wrapped keys.

    The newest key with no ``retired_at`` seals new values; retired keys still open theirs.
    ``lienthong keys rotate`` re-wraps every row under a new master in one transaction."""

    __tablename__ = "data_keys"

    #: The 4-byte id sealed values name after their prefix.
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The key wrapped with AES key wrap (RFC 3394) by the master.
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    #: :func:`lienthong.security.sealing.master_key_id` of the master that wrapped it.
    master_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


# --------------------------------------------------------------------------------------------
# The evidence store (issue 13; lienthong.evidence): a hash-linked log of every message, per side
# --------------------------------------------------------------------------------------------


class EvidenceEntry(Base):
    """One message kept as evidence: its exact bytes, their signature and its verification, the
    receipt, and the link to the entry before it (``prev_digest``), so that no entry can be
    changed, removed or reordered unseen (docs/evidence.md). ``log_id`` has no foreign key:
    archives move entries away from the rows they name."""

    __tablename__ = "evidence_entries"
    __table_args__ = (
        UniqueConstraint("side", "seq"),
        # the stamper's and the fail-closed check's question: the side's entries not covered yet
        Index(None, "side", "batch_id", "seq"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: ``hub`` or ``agent``: one chain per side.
    side: Mapped[str] = mapped_column(String(8))
    #: 1, 2, 3 ... per side, gapless (assigned under the lock of the side's ``evidence_head``).
    seq: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: ``push``, ``share`` (hub), ``sent`` (agent).
    kind: Mapped[str] = mapped_column(String(16))
    log_id: Mapped[int | None] = mapped_column(BigInteger)
    service: Mapped[str | None] = mapped_column(String(64))
    origin_unit: Mapped[str | None] = mapped_column(String(40))
    origin_account: Mapped[str | None] = mapped_column(String(128))
    destination: Mapped[str | None] = mapped_column(String(255))
    #: The exact bytes, in stored form (:func:`lienthong.evidence.store.stored_body`).
    body: Mapped[bytes] = mapped_column(LargeBinary)
    #: SHA-256 (hex) of the exact plaintext bytes.
    body_sha256: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    signature_format: Mapped[str | None] = mapped_column(String(8))
    #: SHA-256 (hex) of the DER in ``kept_certificates`` (the path the verification used).
    certificates: Mapped[list[str]] = mapped_column(JsonType)
    #: SHA-256 (hex) of the DER in ``kept_revocations`` (the OCSP answers and CRLs used).
    revocations: Mapped[list[str]] = mapped_column(JsonType)
    #: The verification as ``message_signatures.result`` keeps it (no DER).
    validation: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    receipt: Mapped[bytes | None] = mapped_column(LargeBinary)
    receipt_signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    prev_digest: Mapped[str] = mapped_column(String(64))
    #: :func:`lienthong.evidence.chain.entry_digest` of this entry.
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    #: The time-stamped batch covering it, once there is one.
    batch_id: Mapped[int | None] = mapped_column(BigInteger, index=True)


class EvidenceKey(Base):
    """A record key (dossier code, petition or question id) a message carried, to find its
    entries by dossier."""

    __tablename__ = "evidence_keys"

    side: Mapped[str] = mapped_column(String(8), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)


class EvidenceBatch(Base):
    """A run of a side's entries (``first_seq`` .. ``last_seq``) whose Merkle root (RFC 9162)
    an RFC 3161 time-stamp authority stamped: ``response`` is its whole ``TimeStampResp``."""

    __tablename__ = "evidence_batches"
    __table_args__ = (UniqueConstraint("side", "first_seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    side: Mapped[str] = mapped_column(String(8))
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(Integer)
    #: The Merkle root (hex); the time-stamp is over its 32 bytes.
    root: Mapped[str] = mapped_column(String(64))
    response: Mapped[bytes] = mapped_column(LargeBinary)
    gen_time: Mapped[datetime] = mapped_column(UtcDateTime())
    tsa_url: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class EvidenceHead(Base):
    """The newest entry of a side's chain. Appending takes this row's lock, so that the chain
    stays gapless and totally ordered with any number of workers."""

    __tablename__ = "evidence_head"

    side: Mapped[str] = mapped_column(String(8), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class EvidenceArchive(Base):
    """A segment file the entries ``first_seq`` .. ``last_seq`` of a side were moved to
    (:mod:`lienthong.evidence.archive`): the chain of files, each naming the SHA-256 of the one
    before, and the last archived digest the first entry left in the database links to."""

    __tablename__ = "evidence_archives"
    __table_args__ = (UniqueConstraint("side", "first_seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    side: Mapped[str] = mapped_column(String(8))
    #: The file's name in the archive folder.
    name: Mapped[str] = mapped_column(String(255))
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    #: SHA-256 (hex) of the whole file as written (encrypted, when it is).
    sha256: Mapped[str] = mapped_column(String(64))
    #: The previous segment file's SHA-256; None for a side's first.
    previous_sha256: Mapped[str | None] = mapped_column(String(64))
    #: The digest of the entry ``last_seq``: what the next entry's ``prev_digest`` must be.
    last_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    #: When its entries had all left the database (None: a run was cut short; the next finishes).
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
