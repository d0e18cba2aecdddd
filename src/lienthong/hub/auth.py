"""Login, sessions and authorization: who may act for which unit and which service."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import secrets
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from lienthong.hub.errors import HubError
from lienthong.hub.settings import HubSettings
from lienthong.spec.identifiers import parse_agency_code
from lienthong.store.accounts import Accounts
from lienthong.store.db import begin_sqlite_write, purge_expired
from lienthong.store.tables import Account, HubSession, LoginFailure


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """The account behind a valid session."""

    account_id: int
    username: str
    units: tuple[str, ...]
    services: frozenset[str]
    success_code: str | None = None
    """How the account's answers spell success (``store.accounts.SUCCESS_CODE_FORMS``); None:
    the hub's setting."""
    strict: bool = False
    """The account's pushes are validated in strict mode."""
    signature_mode: str | None = None
    """Whether the account's envelopes must be signed (lienthong.hub.signatures); None: the
    service's or the hub's mode."""

    def may_use(self, service: str) -> bool:
        return "*" in self.services or service in self.services

    def may_act_for(self, unit: str) -> bool:
        """True when ``unit`` is one of the account's units or lies under one of them."""
        return _within_any(unit, self.units)


@lru_cache(maxsize=8192)
def _within_any(unit: str, units: tuple[str, ...]) -> bool:
    target = parse_agency_code(unit)
    if target is None:
        return False
    for own in units:
        parsed = parse_agency_code(own)
        if parsed is not None and target.is_within(parsed):
            return True
    return False


def check_certificate(bound: list[str] | None, presented: str | None) -> None:
    """HubError 25 unless the account has no bound client certificate or the connection
    presented one of them (``presented``: its SHA-256 fingerprint, None without one)."""
    if not bound or presented in bound:
        return
    if presented is None:
        raise HubError(
            "25",
            "tài khoản chỉ dùng qua HTTPS với chứng thư số máy khách đã gắn; kết nối này không có",
            "the account is used only over HTTPS with its bound client certificate; this "
            "connection presented none",
        )
    raise HubError(
        "25",
        f"chứng thư {presented} không gắn với tài khoản",
        f"the certificate {presented} is not bound to the account",
    )


def _lock_key(kind: str, value: str) -> int:
    digest = hashlib.sha256(f"lienthong:login:{kind}:{value}".encode("utf-8", "replace")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def bound_to(networks: list[str] | None, client: str) -> bool:
    """True when the client address lies in one of the account's bound networks."""
    if not networks:
        return False
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for text in networks:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            continue
        if address.version == network.version and address in network:
            return True
    return False


def _admit_attempt(
    db: Session, settings: HubSettings, username: str, client: str, exempt: bool, now: dt.datetime
) -> int:
    """Count one login attempt before its password is checked, atomically, and return the id of
    the row that records it (a failure until the check says otherwise), or raise 21.

    Attempts of one account and of one client are serialized across processes, so that
    concurrent attempts cannot pass the limit together: on PostgreSQL by transaction-level
    advisory locks (account first, then client: one order, no deadlock), on SQLite by the
    database's write lock. An attempt whose check is still running counts as a failure.
    ``exempt``: the client is in the account's bound networks, so the per-account count (which
    strangers can raise) does not apply; the per-client one does.
    """
    begin_sqlite_write(db.connection())
    if db.get_bind().dialect.name == "postgresql":
        db.execute(select(func.pg_advisory_xact_lock(_lock_key("account", username))))
        db.execute(select(func.pg_advisory_xact_lock(_lock_key("client", client))))
    window_start = now - dt.timedelta(seconds=settings.login_window_seconds)
    purge_expired(db, LoginFailure.id, LoginFailure.at, window_start)
    per_account: int | None = 0
    if not exempt:
        per_account = db.scalar(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.username == username, LoginFailure.at > window_start)
        )
    per_client = db.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.client == client, LoginFailure.at > window_start)
    )
    if (per_account or 0) >= settings.login_failures_per_account or (
        per_client or 0
    ) >= settings.login_failures_per_client:
        db.commit()
        raise HubError(
            "21",
            f"chờ {settings.login_window_seconds} giây",
            f"wait up to {settings.login_window_seconds} s",
        )
    attempt = LoginFailure(username=username[:128], client=client[:64], at=now)
    db.add(attempt)
    db.commit()
    return attempt.id


def login(
    db: Session,
    accounts: Accounts,
    settings: HubSettings,
    username: str,
    password: str,
    client: str,
    certificate: str | None = None,
) -> tuple[str, int, str | None]:
    """Check credentials (rate-limited per account and per client); returns (token, ttl, the
    account's success code form or None). ``certificate``: the SHA-256 fingerprint of the
    client certificate the connection presented (an account with bound ones needs one of them).

    The attempt is counted before the password is checked (:func:`_admit_attempt`), so the
    limit holds however many attempts run at once; a right password then removes its count.
    """
    now = _now()
    known = accounts.get(username)
    exempt = known is not None and bound_to(known.networks, client)
    attempt_id = _admit_attempt(db, settings, username, client, exempt, now)
    found, right = accounts.check(username, password)  # one password hash on every path
    if found is None or not right or found.disabled:
        # the attempt stays counted; "disabled" only to whoever knows the password: it must
        # not reveal the account
        if found is not None and found.disabled and right:
            raise HubError("24")
        raise HubError("20")
    # after the password, so that only who knows it learns of the binding; the attempt stays
    # counted
    check_certificate(found.client_certificates, certificate)
    account = db.get(Account, found.id)
    if account is None:  # deleted since the check
        raise HubError("20")
    begin_sqlite_write(db.connection())
    db.execute(delete(LoginFailure).where(LoginFailure.id == attempt_id))
    token = secrets.token_urlsafe(32)
    db.add(
        HubSession(
            token_hash=token_hash(token),
            account_id=account.id,
            created_at=now,
            expires_at=now + dt.timedelta(seconds=settings.session_ttl_seconds),
            client=client[:64],
        )
    )
    db.execute(delete(HubSession).where(HubSession.expires_at < now - dt.timedelta(days=1)))
    db.commit()
    return token, settings.session_ttl_seconds, account.success_code


def logout(db: Session, token: object) -> bool:
    """End the session of ``token``; True when there was one. Commits."""
    if not isinstance(token, str) or not token or len(token) > 512:
        return False
    begin_sqlite_write(db.connection())
    ended = db.execute(delete(HubSession).where(HubSession.token_hash == token_hash(token)))
    db.commit()
    return bool(getattr(ended, "rowcount", 0))


def principal_for(db: Session, token: object, certificate: str | None) -> Principal:
    """The account of a session token, or HubError 22 (unknown) / 23 (expired) / 24 (disabled)
    / 25 (the account has bound client certificates and ``certificate``, the fingerprint of the
    one this connection presented, is none of them: a session is no way around the binding)."""
    if not isinstance(token, str) or not token or len(token) > 512:
        raise HubError("22")
    row = db.get(HubSession, token_hash(token))
    if row is None:
        raise HubError("22")
    if row.expires_at <= _now():
        raise HubError("23")
    account = db.get(Account, row.account_id)
    if account is None:
        raise HubError("22")
    if account.disabled:
        raise HubError("24")
    check_certificate(account.client_certificates, certificate)
    return Principal(
        account.id,
        account.username,
        tuple(account.units),
        frozenset(account.services),
        account.success_code,
        account.strict,
        account.signature_mode,
    )
