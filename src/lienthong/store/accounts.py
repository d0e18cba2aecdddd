"""Accounts of one-stop systems: scrypt password hashes, units, granted services.

An account belongs to one or more agency codes (it may also act for the units under them in
the code hierarchy; the hub decides that) and may call only the services granted to it
(``["*"]``: all). Passwords are hashed with scrypt and never stored, printed or logged.

>>> accounts = Accounts(session_factory(engine))
>>> accounts.add("mcdt-hanoi", "a long secret", units=["000.00.00.H26"])
>>> accounts.authenticate("mcdt-hanoi", "a long secret")
Account(username='mcdt-hanoi', ...)
"""

from __future__ import annotations

import base64
import binascii
import builtins
import hashlib
import hmac
import ipaddress
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from lienthong.spec.identifiers import WARNING_CODES, check_agency_code
from lienthong.store.tables import Account, HubSession

__all__ = [
    "ALL_SERVICES",
    "SIGNATURE_MODES",
    "SUCCESS_CODE_FORMS",
    "AccountError",
    "Accounts",
    "certificate_fingerprint",
    "hash_password",
    "verify_password",
]

#: The service grant that means "every service".
ALL_SERVICES = "*"

_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_SALT_BYTES = 16
_KEY_BYTES = 32
#: Upper bounds accepted when *verifying*, so that a forged hash cannot make us burn memory.
_MAX_N = 2**20
_MAX_R = 32
_MAX_P = 16
#: Longer passwords are refused (hashing cost grows with length; nobody types 1 KiB).
MAX_PASSWORD_LENGTH = 1024
_USERNAME_MAX = 128
_SERVICE_MAX = 64
#: The widest networks an account may be bound to: a binding exempts its logins from the
#: per-account failure limit, so it must name a system's own addresses, not a whole provider's.
MIN_PREFIX = {4: 16, 6: 32}
#: At most this many networks per account.
MAX_NETWORKS = 32
#: At most this many client certificates per account (a renewal overlaps the old one).
MAX_CERTIFICATES = 8
#: How an answer may spell success, by name: the string "0" (what one real client compares
#: with, and what an integer parser also reads), the string "00" (QCVN 120's table), or the
#: JSON integer 0. The hub's default is a setting; an account may have its own.
SUCCESS_CODE_FORMS = ("0", "00", "integer")
#: Whether an account's envelopes must be signed (lienthong.security.policy.SignatureMode).
SIGNATURE_MODES = ("required", "if-present", "off")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        dklen=dklen,
        maxmem=128 * r * (n + p + 2) + 1024 * 1024,
    )


def hash_password(password: str) -> str:
    """``scrypt$16384$8$1$<salt b64>$<hash b64>`` (random 16-byte salt, 32-byte key)."""
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _KEY_BYTES)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches ``encoded``; False for a malformed encoding (never raises)."""
    if not isinstance(password, str) or not isinstance(encoded, str):
        return False
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return False
    if not all(x.isascii() and x.isdigit() and len(x) <= 8 for x in parts[1:4]):
        return False
    n, r, p = (int(x) for x in parts[1:4])
    try:
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        return False
    if not (1 < n <= _MAX_N and n & (n - 1) == 0 and 0 < r <= _MAX_R and 0 < p <= _MAX_P):
        return False
    if not salt or not 16 <= len(expected) <= 64:
        return False
    try:
        actual = _scrypt(password, salt, n, r, p, len(expected))
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(actual, expected)


@cache
def _dummy_hash() -> str:
    """A hash to verify against for unknown users, so that they take as long as known ones."""
    return hash_password(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A refused account operation, with a stable ``code`` and a Vietnamese and English message.

    ``str(error)`` is ``"<vi> / <en>"``; ``error.vi`` and ``error.en`` are the two halves.
    Codes: ``account.unknown``, ``account.exists``, ``account.username``,
    ``account.password``, ``account.unit``, ``account.service``, ``account.success_code``,
    ``account.network``, ``account.certificate``, ``account.signature_mode``.
    """

    def __init__(self, code: str, vi: str, en: str) -> None:
        super().__init__(f"{vi} / {en}")
        self.code = code
        self.vi = vi
        self.en = en


def _check_username(username: str) -> str:
    if (
        not isinstance(username, str)
        or not username
        or len(username) > _USERNAME_MAX
        or any(unicodedata.category(ch)[0] in "CZ" for ch in username)
    ):
        raise AccountError(
            "account.username",
            f"tên tài khoản không hợp lệ: {username!r} (1 đến {_USERNAME_MAX} ký tự, "
            "không có khoảng trắng hay ký tự điều khiển)",
            f"invalid username: {username!r} (1 to {_USERNAME_MAX} characters, "
            "no spaces or control characters)",
        )
    return username


def _check_password(password: str) -> str:
    if not isinstance(password, str) or not password:
        raise AccountError("account.password", "mật khẩu trống", "the password is empty")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(
            "account.password",
            f"mật khẩu dài quá {MAX_PASSWORD_LENGTH} ký tự",
            f"the password is longer than {MAX_PASSWORD_LENGTH} characters",
        )
    return password


def _as_list(values: Iterable[str] | str | None) -> builtins.list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        return [values]
    return builtins.list(values)


def _dedupe(values: Iterable[str]) -> builtins.list[str]:
    return builtins.list(dict.fromkeys(values))


def _check_units(units: Iterable[str] | str) -> builtins.list[str]:
    checked = []
    for unit in _as_list(units):
        if not isinstance(unit, str):
            raise AccountError(
                "account.unit",
                f"mã đơn vị không hợp lệ: {unit!r}",
                f"invalid unit code: {unit!r}",
            )
        problem = check_agency_code(unit)
        if problem is not None and problem.code not in WARNING_CODES:
            raise AccountError(
                "account.unit",
                f"mã đơn vị {unit!r} không hợp lệ: {problem.vi}",
                f"invalid unit code {unit!r}: {problem.en}",
            )
        checked.append(unit)
    return _dedupe(checked)


def _check_services(services: Iterable[str] | str) -> builtins.list[str]:
    checked = []
    for service in _as_list(services):
        if (
            not isinstance(service, str)
            or not service
            or len(service) > _SERVICE_MAX
            or not (service == ALL_SERVICES or (service.isascii() and service.isidentifier()))
        ):
            raise AccountError(
                "account.service",
                f"tên dịch vụ không hợp lệ: {service!r}",
                f"invalid service name: {service!r}",
            )
        checked.append(service)
    return _dedupe(checked)


def _check_networks(networks: Iterable[str] | str) -> builtins.list[str]:
    """Client networks as CIDR text (a bare address is its /32 or /128), normalized."""
    checked = []
    for text in _as_list(networks):
        try:
            network = ipaddress.ip_network(str(text).strip(), strict=False)
        except ValueError:
            raise AccountError(
                "account.network",
                f"không phải địa chỉ hoặc mạng IP: {text!r}",
                f"not an IP address or network: {text!r}",
            ) from None
        widest = MIN_PREFIX[network.version]
        if network.prefixlen < widest:
            raise AccountError(
                "account.network",
                f"mạng {network} quá rộng (tối thiểu /{widest})",
                f"network {network} is too wide (at least /{widest})",
            )
        checked.append(str(network))
    return _dedupe(checked)


def certificate_fingerprint(certificate: bytes) -> str:
    """SHA-256 of an X.509 certificate's DER bytes, in lower-case hex (the form accounts bind).

    ``certificate``: PEM (the first certificate) or DER. Raises ValueError when it is neither."""
    if b"-----BEGIN CERTIFICATE-----" in certificate:
        parsed = x509.load_pem_x509_certificate(certificate)
    else:
        parsed = x509.load_der_x509_certificate(certificate)
    return hashlib.sha256(parsed.public_bytes(Encoding.DER)).hexdigest()


_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


def _check_fingerprint(text: str) -> str:
    """A SHA-256 fingerprint as bound: lower-case hex, colons and spaces (as tools print it)
    left out."""
    normal = text.replace(":", "").replace(" ", "").lower()
    if not _FINGERPRINT.fullmatch(normal):
        raise AccountError(
            "account.certificate",
            f"không phải dấu vân tay SHA-256 (64 chữ số hex): {text!r}",
            f"not a SHA-256 fingerprint (64 hex digits): {text!r}",
        )
    return normal


def _check_choice(
    code: str, what_vi: str, what_en: str, value: str | None, choices: Sequence[str]
) -> None:
    """AccountError ``code`` unless ``value`` is None (the default) or one of ``choices``."""
    if value is not None and value not in choices:
        listed = ", ".join(choices)
        raise AccountError(
            code,
            f"{what_vi} {value!r} không hợp lệ; chọn {listed}",
            f"{what_en} {value!r} is unknown; choose {listed}",
        )


def _unknown(username: str) -> AccountError:
    return AccountError(
        "account.unknown",
        f"không có tài khoản {username!r}",
        f"no such account: {username!r}",
    )


class Accounts:
    """Account operations, each in its own transaction. Returned accounts are detached copies."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def _session(self) -> Session:
        # Returned objects must stay readable after commit whatever the factory's setting.
        return self._sessions(expire_on_commit=False)

    @staticmethod
    def _find(session: Session, username: str) -> Account | None:
        return session.scalars(select(Account).where(Account.username == username)).one_or_none()

    def _load(self, session: Session, username: str) -> Account:
        account = self._find(session, username)
        if account is None:
            raise _unknown(username)
        return account

    def add(
        self,
        username: str,
        password: str,
        units: Sequence[str],
        services: Sequence[str] | None = None,
    ) -> Account:
        """Create an account; ``services`` defaults to all (``["*"]``).

        Raises :class:`AccountError` for a taken or malformed username, an empty password, no
        unit or an invalid agency code (an unknown level-1 code is only a warning and is
        accepted), or a malformed service name.
        """
        username = _check_username(username)
        password = _check_password(password)
        unit_list = _check_units(units)
        if not unit_list:
            raise AccountError(
                "account.unit",
                "tài khoản phải thuộc ít nhất một đơn vị",
                "an account needs at least one unit",
            )
        service_list = _check_services([ALL_SERVICES] if services is None else services)
        if ALL_SERVICES in service_list:
            service_list = [ALL_SERVICES]
        account = Account(
            username=username,
            password_hash=hash_password(password),
            units=unit_list,
            services=service_list,
            disabled=False,
        )
        exists = AccountError(
            "account.exists",
            f"tài khoản {username!r} đã tồn tại",
            f"account {username!r} already exists",
        )
        with self._session() as session:
            if self._find(session, username) is not None:
                raise exists
            session.add(account)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                raise exists from None
        return account

    def get(self, username: str) -> Account | None:
        """The account named ``username`` (exact match), or None."""
        with self._session() as session:
            return self._find(session, username)

    def list(self) -> builtins.list[Account]:
        """Every account, by username."""
        with self._session() as session:
            return builtins.list(session.scalars(select(Account).order_by(Account.username)))

    def _update(self, username: str, change: Callable[[Account], None]) -> Account:
        """Apply ``change``; every change of password, units, services or state also ends the
        account's sessions, in the same transaction (a session never outlives what granted it)."""
        with self._session() as session, session.begin():
            account = self._load(session, username)
            change(account)
            session.execute(delete(HubSession).where(HubSession.account_id == account.id))
        return account

    def disable(self, username: str) -> Account:
        """Refuse every login of the account from now on; its sessions end now."""

        def change(account: Account) -> None:
            account.disabled = True

        return self._update(username, change)

    def enable(self, username: str) -> Account:
        def change(account: Account) -> None:
            account.disabled = False

        return self._update(username, change)

    def grant(
        self, username: str, services: Sequence[str] = (), units: Sequence[str] = ()
    ) -> Account:
        """Add services and units (kept once each, in order); granting ``"*"`` means all."""
        new_services = _check_services(services)
        new_units = _check_units(units)

        def change(account: Account) -> None:
            if ALL_SERVICES in new_services or ALL_SERVICES in account.services:
                account.services = [ALL_SERVICES]
            else:
                account.services = _dedupe([*account.services, *new_services])
            account.units = _dedupe([*account.units, *new_units])

        return self._update(username, change)

    def revoke(
        self, username: str, services: Sequence[str] = (), units: Sequence[str] = ()
    ) -> Account:
        """Remove services and units. Revoking ``"*"`` removes the grant of all services.

        A single service cannot be revoked from an account that holds ``"*"`` (there is no
        "all but" grant): revoke ``"*"`` and grant the services it keeps.
        """
        gone_services = _as_list(services)
        gone_units = _as_list(units)

        def change(account: Account) -> None:
            if (
                ALL_SERVICES in account.services
                and ALL_SERVICES not in gone_services
                and gone_services
            ):
                raise AccountError(
                    "account.service",
                    f"tài khoản {username!r} được dùng mọi dịch vụ ('*'): thu hồi '*' rồi cấp "
                    "lại từng dịch vụ",
                    f"account {username!r} holds every service ('*'): revoke '*', then grant "
                    "the services it keeps",
                )
            account.services = [s for s in account.services if s not in gone_services]
            account.units = [u for u in account.units if u not in gone_units]

        return self._update(username, change)

    def bind(self, username: str, networks: Sequence[str]) -> Account:
        """Bind the account to client networks: its logins from them are exempt from the
        per-account failure limit (the per-client one still applies)."""
        added = _check_networks(networks)

        def change(account: Account) -> None:
            merged = _dedupe([*(account.networks or []), *added])
            if len(merged) > MAX_NETWORKS:
                raise AccountError(
                    "account.network",
                    f"tối đa {MAX_NETWORKS} mạng cho một tài khoản",
                    f"at most {MAX_NETWORKS} networks per account",
                )
            account.networks = merged

        return self._update(username, change)

    def unbind(self, username: str, networks: Sequence[str]) -> Account:
        """Remove bound networks (as given or as normalized)."""
        gone = set(_check_networks(networks))

        def change(account: Account) -> None:
            kept = [n for n in account.networks or [] if n not in gone]
            account.networks = kept or None

        return self._update(username, change)

    def bind_certificate(self, username: str, certificate: bytes) -> tuple[Account, str]:
        """Bind a client certificate (PEM or DER) to the account; returns it and the
        certificate's fingerprint. From then on the account logs in and calls only over TLS
        connections that present a bound certificate; its sessions end now."""
        try:
            fingerprint = certificate_fingerprint(certificate)
        except ValueError:
            raise AccountError(
                "account.certificate",
                "không phải chứng thư số X.509 (PEM hoặc DER)",
                "not an X.509 certificate (PEM or DER)",
            ) from None

        def change(account: Account) -> None:
            merged = _dedupe([*(account.client_certificates or []), fingerprint])
            if len(merged) > MAX_CERTIFICATES:
                raise AccountError(
                    "account.certificate",
                    f"tối đa {MAX_CERTIFICATES} chứng thư cho một tài khoản",
                    f"at most {MAX_CERTIFICATES} certificates per account",
                )
            account.client_certificates = merged

        return self._update(username, change), fingerprint

    def unbind_certificate(self, username: str, fingerprint: str) -> Account:
        """Remove a bound client certificate by its SHA-256 fingerprint (hex, colons allowed);
        with none left, the account logs in without a client certificate again."""
        gone = _check_fingerprint(fingerprint)

        def change(account: Account) -> None:
            bound = account.client_certificates or []
            if gone not in bound:
                raise AccountError(
                    "account.certificate",
                    f"tài khoản {username!r} không gắn chứng thư {gone}",
                    f"account {username!r} has no bound certificate {gone}",
                )
            account.client_certificates = [f for f in bound if f != gone] or None

        return self._update(username, change)

    def _set_policy(self, username: str, **values: object) -> Account:
        """Change how the account is answered or checked (not what it may do): its sessions go
        on, unlike :meth:`_update`'s changes."""
        with self._session() as session, session.begin():
            account = self._load(session, username)
            for name, value in values.items():
                setattr(account, name, value)
        return account

    def set_success_code(self, username: str, form: str | None) -> Account:
        """Answer this account's successes in ``form`` (one of :data:`SUCCESS_CODE_FORMS`), or
        in the hub's default form when None."""
        _check_choice("account.success_code", "mã thành công", "success code form", form,
                      SUCCESS_CODE_FORMS)  # fmt: skip
        return self._set_policy(username, success_code=form)

    def set_signature_mode(self, username: str, mode: str | None) -> Account:
        """Whether the account's envelopes must be signed: ``required``, ``if-present``,
        ``off``, or None for the service's or the hub's mode."""
        _check_choice("account.signature_mode", "chế độ chữ ký", "signature mode", mode,
                      SIGNATURE_MODES)  # fmt: skip
        return self._set_policy(username, signature_mode=mode)

    def set_strict(self, username: str, strict: bool) -> Account:
        """Validate the account's pushes in strict mode (or not)."""
        return self._set_policy(username, strict=strict)

    def set_password(self, username: str, password: str) -> Account:
        password = _check_password(password)
        encoded = hash_password(password)

        def change(account: Account) -> None:
            account.password_hash = encoded

        return self._update(username, change)

    def check(self, username: str, password: str) -> tuple[Account | None, bool]:
        """The account named ``username`` (or None) and whether ``password`` is its password.

        Exactly one password hash is computed whatever the case (unknown user, wrong password,
        disabled account), so that the cases cannot be told apart by time.
        """
        account = self.get(username) if isinstance(username, str) else None
        if account is None:
            verify_password(password, _dummy_hash())
            return None, False
        return account, verify_password(password, account.password_hash)

    def authenticate(self, username: str, password: str) -> Account | None:
        """The account if the password is right and the account is enabled; otherwise None.

        Unknown usernames are verified against a dummy hash, so all failures take about as
        long as a success.
        """
        account, right = self.check(username, password)
        if account is None or not right or account.disabled:
            return None
        return account
