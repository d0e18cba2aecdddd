"""Encryption at rest (issue 13): AES-256-GCM values under data keys, data keys wrapped by a
master key kept in a file or on a PKCS#11 token. Pure: no database (``lienthong.store.sealing``
keeps the wrapped data keys and seals the columns).

A sealed value is ``PREFIX || key id (4 bytes, big-endian) || nonce (12 random bytes) ||
ciphertext || tag (16 bytes)``. The additional authenticated data is the 8-byte header and
the purpose (e.g. ``message_log.raw_body``), so a value moved to another column, or relabelled
with another key id, fails to open instead of opening wrong.

Data keys are wrapped with AES key wrap (RFC 3394) by the master: cryptography's
``aes_key_wrap`` for a file, ``CKM_AES_KEY_WRAP`` on the token (the master never leaves it).
Both give the same bytes for the same master, so a master moved from a file onto a token
keeps opening its data keys. A master is named by an id that proves which key it is without
saying anything of it: the first 8 bytes (hex) of SHA-256 over the wrap of a fixed, public
value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from lienthong.security.signers import SignerError, open_token

__all__ = [
    "DATA_KEY_BYTES",
    "PREFIX",
    "FileMasterKey",
    "MasterKey",
    "MasterKeySettings",
    "Pkcs11MasterKey",
    "SealingError",
    "generate_master_key_file",
    "is_sealed",
    "master_key_id",
    "master_key_of",
    "new_data_key",
    "open_master_key",
    "open_value",
    "seal_value",
    "sealed_key_id",
]

PREFIX = b"\x00LS1"
"""Starts every sealed value: a NUL (no JSON or text body starts so), then "LS1" (lienthong
sealed, version 1)."""
HEADER_BYTES = len(PREFIX) + 4
NONCE_BYTES = 12
TAG_BYTES = 16
DATA_KEY_BYTES = 32
"""AES-256: the data keys and the master."""
MAX_KEY_ID = 2**32 - 1

#: The fixed value whose wrap names a master key (public; any 32 bytes would do).
_KEY_ID_PROBE = hashlib.sha256(b"lienthong: master key id / ma khoa chu").digest()


class SealingError(ValueError):
    """A key or sealed value that cannot be used, with a stable code and both languages."""

    def __init__(self, code: str, vi: str, en: str) -> None:
        super().__init__(f"{vi} / {en}")
        self.code, self.vi, self.en = code, vi, en


# -- values -------------------------------------------------------------------------------------


def new_data_key() -> bytes:
    """32 random bytes (``os.urandom``)."""
    return os.urandom(DATA_KEY_BYTES)


def is_sealed(stored: bytes) -> bool:
    """Whether ``stored`` is a sealed value (by its prefix)."""
    return stored[: len(PREFIX)] == PREFIX


def key_header(key_id: int) -> bytes:
    """The 8 bytes a value sealed under data key ``key_id`` starts with (what
    ``lienthong keys status`` counts)."""
    if not 0 < key_id <= MAX_KEY_ID:
        raise ValueError(f"data key id {key_id} out of range")
    return PREFIX + key_id.to_bytes(4, "big")


def sealed_key_id(stored: bytes) -> int | None:
    """The data key id a sealed value names; None for a value that is not sealed."""
    if not is_sealed(stored) or len(stored) < HEADER_BYTES:
        return None
    return int.from_bytes(stored[len(PREFIX) : HEADER_BYTES], "big")


def _aad(header: bytes, purpose: str) -> bytes:
    return header + purpose.encode()


def seal_value(data_key: bytes, key_id: int, plaintext: bytes, purpose: str) -> bytes:
    """``plaintext`` sealed under ``data_key`` (id ``key_id``) for ``purpose``."""
    header = key_header(key_id)
    nonce = os.urandom(NONCE_BYTES)
    return header + nonce + AESGCM(data_key).encrypt(nonce, plaintext, _aad(header, purpose))


def open_value(data_key: bytes, stored: bytes, purpose: str, where: str = "") -> bytes:
    """The plaintext of a value :func:`seal_value` made with ``data_key`` for ``purpose``;
    :class:`SealingError` ``sealed.corrupt`` when it was changed, moved from another purpose or
    relabelled (``where`` names the value in the message, e.g. ``message_log 42``)."""
    header = stored[:HEADER_BYTES]
    nonce = stored[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES]
    body = stored[HEADER_BYTES + NONCE_BYTES :]
    try:
        if len(body) < TAG_BYTES or not is_sealed(header):
            raise InvalidTag
        return AESGCM(data_key).decrypt(nonce, body, _aad(header, purpose))
    except InvalidTag:
        at = f" ({where})" if where else ""
        raise SealingError(
            "sealed.corrupt",
            f"giá trị mã hóa{at} không mở được: đã bị sửa, bị chép từ chỗ khác ({purpose}?) "
            "hoặc không thuộc khóa dữ liệu nó ghi",
            f"the sealed value{at} does not open: it was altered, copied from elsewhere (not "
            f"{purpose}?) or is not of the data key it names",
        ) from None


# -- master keys --------------------------------------------------------------------------------


@runtime_checkable
class MasterKey(Protocol):
    """A key-encryption key: wraps and unwraps data keys, and is named by :attr:`key_id`."""

    key_id: str
    """16 hex characters naming the key (never the key): :func:`master_key_id`."""
    description: str
    """Where it is, for messages (a file name, a token and a label)."""

    def wrap(self, data_key: bytes) -> bytes:
        """``data_key`` wrapped (RFC 3394)."""
        ...

    def unwrap(self, wrapped: bytes) -> bytes:
        """The data key of ``wrapped``; :class:`SealingError` ``master.wrong`` when it was
        wrapped by another master (or altered)."""
        ...

    def close(self) -> None:
        """Let go of the key (a token session)."""
        ...


def master_key_id(wrap: bytes) -> str:
    """The id of a master from its wrap of the fixed probe value."""
    return hashlib.sha256(wrap).digest()[:8].hex()


def _wrong_master(description: str) -> SealingError:
    return SealingError(
        "master.wrong",
        f"khóa chủ {description} không mở được khóa dữ liệu: không phải khóa chủ đã bọc nó",
        f"the master key {description} does not unwrap the data key: it is not the master "
        "that wrapped it",
    )


class FileMasterKey:
    """A master key in a file: 32 bytes, as they are or written in hex or base64 (``lienthong
    keys generate`` writes hex). A file others than its owner may read is refused: the key
    would be no secret."""

    def __init__(self, path: Path) -> None:
        self.description = str(path)
        try:
            mode = path.stat().st_mode
            raw = path.read_bytes()
        except OSError as exc:
            raise SealingError(
                "master.unreadable",
                f"không đọc được tệp khóa chủ {path}: {exc.strerror}",
                f"cannot read the master key file {path}: {exc.strerror}",
            ) from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SealingError(
                "master.permissions",
                f"tệp khóa chủ {path} để nhóm hoặc người khác đọc được (quyền "
                f"{stat.S_IMODE(mode):o}): chạy chmod 600 {path}",
                f"the master key file {path} may be read by its group or others (mode "
                f"{stat.S_IMODE(mode):o}): run chmod 600 {path}",
            )
        self._key = _key_bytes(raw, path)
        self.key_id = master_key_id(self.wrap(_KEY_ID_PROBE))

    def __repr__(self) -> str:  # never the key
        return f"FileMasterKey({self.description!r}, id {self.key_id})"

    def wrap(self, data_key: bytes) -> bytes:
        return aes_key_wrap(self._key, data_key)

    def unwrap(self, wrapped: bytes) -> bytes:
        try:
            return aes_key_unwrap(self._key, wrapped)
        except (InvalidUnwrap, ValueError):
            raise _wrong_master(self.description) from None

    def close(self) -> None:
        pass


def _key_bytes(raw: bytes, path: Path) -> bytes:
    """32 key bytes from a file's content: raw, hex or base64 (surrounding blanks ignored)."""
    if len(raw) == DATA_KEY_BYTES:
        return raw
    text = raw.strip()
    for decode in (binascii.unhexlify, lambda t: base64.b64decode(t, validate=True)):
        try:
            key = decode(text)
        except (binascii.Error, ValueError):
            continue
        if len(key) == DATA_KEY_BYTES:
            return key
    raise SealingError(
        "master.format",
        f"tệp khóa chủ {path} phải chứa đúng 32 byte (nguyên dạng, hex hoặc base64)",
        f"the master key file {path} must hold exactly 32 bytes (raw, hex or base64)",
    )


def generate_master_key_file(path: Path) -> FileMasterKey:
    """Write a new master key (32 random bytes, hex) to ``path``, readable by its owner only
    (mode 0600); an existing file is never overwritten (``SealingError`` ``master.exists``)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SealingError(
            "master.exists",
            f"tệp {path} đã có: không ghi đè một khóa chủ",
            f"{path} exists: a master key is never overwritten",
        ) from None
    except OSError as exc:
        raise SealingError(
            "master.unwritable",
            f"không tạo được tệp {path}: {exc.strerror}",
            f"cannot create {path}: {exc.strerror}",
        ) from None
    with os.fdopen(descriptor, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)  # whatever the umask
        handle.write(new_data_key().hex() + "\n")
    return FileMasterKey(path)


class Pkcs11MasterKey:
    """An AES-256 master key on a PKCS#11 token or HSM, found by its label. Data keys are
    wrapped and unwrapped on the token (``CKM_AES_KEY_WRAP``): the master never leaves it. The
    key needs ``CKA_WRAP`` and ``CKA_UNWRAP``. One session is kept open; calls are serialized."""

    def __init__(self, module: str | None, token_label: str, pin: str, key_label: str) -> None:
        import pkcs11
        from pkcs11 import ObjectClass, UnwrapMixin, WrapMixin

        self.description = f"{key_label!r} (token {token_label!r})"
        try:
            session = open_token(module, token_label, pin)
        except SignerError as problem:
            raise SealingError(problem.code, problem.vi, problem.en) from None
        try:
            key = session.get_key(object_class=ObjectClass.SECRET_KEY, label=key_label)
            assert isinstance(key, WrapMixin) and isinstance(key, UnwrapMixin), "an AES key"
            self._key = key
        except (pkcs11.NoSuchKey, pkcs11.MultipleObjectsReturned) as exc:
            session.close()
            raise SealingError(
                "pkcs11.no_key",
                f"token {token_label!r} không có đúng một khóa bí mật nhãn {key_label!r} "
                f"({type(exc).__name__})",
                f"token {token_label!r} has not exactly one secret key labelled {key_label!r} "
                f"({type(exc).__name__})",
            ) from None
        self._session, self._lock = session, threading.Lock()
        try:
            self.key_id = master_key_id(self.wrap(_KEY_ID_PROBE))
        except Exception:
            session.close()
            raise

    def __repr__(self) -> str:
        return f"Pkcs11MasterKey({self.description}, id {self.key_id})"

    def wrap(self, data_key: bytes) -> bytes:
        from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass, PKCS11Error, SecretKey

        try:
            with self._lock:
                # the data key enters the token as a session object, only to be wrapped there
                loaded = self._session.create_object(
                    {
                        Attribute.CLASS: ObjectClass.SECRET_KEY,
                        Attribute.KEY_TYPE: KeyType.AES,
                        Attribute.VALUE: data_key,
                        Attribute.TOKEN: False,
                        Attribute.EXTRACTABLE: True,
                        Attribute.SENSITIVE: False,
                    }
                )
                assert isinstance(loaded, SecretKey), "a secret key object"
                try:
                    return bytes(self._key.wrap_key(loaded, mechanism=Mechanism.AES_KEY_WRAP))
                finally:
                    loaded.destroy()
        except PKCS11Error as exc:
            raise SealingError(
                "pkcs11.wrap",
                f"token không bọc được khóa dữ liệu bằng {self.description} "
                f"({type(exc).__name__}): khóa cần thuộc tính CKA_WRAP",
                f"the token cannot wrap a data key with {self.description} "
                f"({type(exc).__name__}): the key needs CKA_WRAP",
            ) from None

    def unwrap(self, wrapped: bytes) -> bytes:
        from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass, PKCS11Error

        try:
            with self._lock:
                key = self._key.unwrap_key(
                    ObjectClass.SECRET_KEY,
                    KeyType.AES,
                    wrapped,
                    mechanism=Mechanism.AES_KEY_WRAP,
                    template={
                        Attribute.TOKEN: False,
                        Attribute.EXTRACTABLE: True,
                        Attribute.SENSITIVE: False,
                    },
                )
                try:
                    return bytes(key[Attribute.VALUE])
                finally:
                    key.destroy()
        except PKCS11Error:
            raise _wrong_master(self.description) from None

    def close(self) -> None:
        self._session.close()


def open_master_key(
    *,
    key_file: str = "",
    pkcs11_token: str = "",
    pkcs11_label: str = "",
    pin_file: str = "",
    pkcs11_module: str = "",
    setting: str = "LIENTHONG_MASTER_KEY",
) -> MasterKey | None:
    """The master key named by a file or by a token and label (with a PIN file and,
    optionally, the PKCS#11 library); None when neither is given. ``setting`` names them in
    the messages: ``LIENTHONG_MASTER_KEY`` (``_FILE``, ``_PKCS11_TOKEN``, ...) or an option
    (``--master-key``: ``-file``, ``-pkcs11-token``, ...)."""

    def name(suffix: str) -> str:
        if setting.startswith("--"):
            return f"{setting}-{suffix.lower().replace('_', '-')}"
        return f"{setting}_{suffix}"

    file_name, token_name, label_name = name("FILE"), name("PKCS11_TOKEN"), name("PKCS11_LABEL")
    if key_file and pkcs11_token:
        raise SealingError(
            "master.choice",
            f"chọn một khóa chủ: tệp ({file_name}) hoặc token ({token_name}), không cả hai",
            f"choose one master key: a file ({file_name}) or a token ({token_name}), not both",
        )
    if key_file:
        return FileMasterKey(Path(key_file))
    if not pkcs11_token:
        return None
    if not pkcs11_label:
        raise SealingError(
            "master.choice",
            f"{token_name} cần {label_name} (nhãn khóa AES trên token)",
            f"{token_name} needs {label_name} (the AES key's label)",
        )
    pin = ""
    if pin_file:
        try:
            pin = Path(pin_file).read_text("utf-8").splitlines()[0].strip()
        except (OSError, IndexError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "empty"
            raise SealingError(
                "master.pin_file",
                f"{name('PIN_FILE')}: không đọc được {pin_file}: {reason}",
                f"{name('PIN_FILE')}: cannot read {pin_file}: {reason}",
            ) from None
    return Pkcs11MasterKey(pkcs11_module or None, pkcs11_token, pin, pkcs11_label)


class MasterKeySettings(Protocol):
    """Settings naming a master key the way the hub's (``LIENTHONG_MASTER_KEY_*``) and the
    agent's ``[sealing]`` table do."""

    @property
    def master_key_file(self) -> str: ...
    @property
    def master_key_pkcs11_token(self) -> str: ...
    @property
    def master_key_pkcs11_label(self) -> str: ...
    @property
    def master_key_pin_file(self) -> str: ...
    @property
    def master_key_pkcs11_module(self) -> str: ...


def master_key_of(
    settings: MasterKeySettings, setting: str = "LIENTHONG_MASTER_KEY"
) -> MasterKey | None:
    """:func:`open_master_key` of what ``settings`` name (``setting``: their name in messages)."""
    return open_master_key(
        key_file=settings.master_key_file,
        pkcs11_token=settings.master_key_pkcs11_token,
        pkcs11_label=settings.master_key_pkcs11_label,
        pin_file=settings.master_key_pin_file,
        pkcs11_module=settings.master_key_pkcs11_module,
        setting=setting,
    )
