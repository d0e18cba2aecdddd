"""The key that protects a sealed file's content key (:mod:`lienthong.security.sealed_files`: a
backup, an evidence archive's segment): a key file, or an AES key on a PKCS#11 token.

Every backup (and every encrypted segment) is encrypted with a fresh random content key
(AES-256); only that key, wrapped (AES Key Wrap, RFC 3394), goes into the manifest, with the
wrapping key's id: its key check value (the first 3 bytes of AES-ECB over a zero block, as banks
and HSMs show it), which names the key without revealing it. The wrapping key itself never goes into a backup.

- :class:`KeyFile`: 32 random bytes as 64 hexadecimal characters in a file (``lienthong backup
  key FILE``, or ``openssl rand -hex 32``).
- :class:`TokenKey`: an AES-256 key that never leaves a token or HSM (``CKM_AES_KEY_WRAP``);
  the content key passes through the token as a session object only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from lienthong.security.sealed_files import SealedFileError
from lienthong.security.signers import SignerError, open_token

__all__ = [
    "CONTENT_KEY_BYTES",
    "KeyFile",
    "KeyWrapper",
    "TokenKey",
    "create_token_key",
    "key_check_value",
    "wrong_key",
]

CONTENT_KEY_BYTES = 32
"""AES-256."""


class KeyWrapper(Protocol):
    """What wraps and unwraps a backup's content key."""

    method: str
    """``key-file`` or ``pkcs11`` (written in the manifest)."""
    label: str | None
    """The token key's label (``pkcs11``), else None."""

    def key_id(self) -> str: ...

    def wrap(self, content_key: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes) -> bytes: ...


def key_check_value(key: bytes) -> str:
    """The key check value of an AES key: AES-ECB over 16 zero bytes, first 3 bytes, hex."""
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return (encryptor.update(bytes(16)) + encryptor.finalize())[:3].hex()


def wrong_key(expected: str, given: str) -> SealedFileError:
    return SealedFileError(
        "backup.wrong_key",
        f"sai khóa: bản sao lưu được mã hóa bằng khóa có mã kiểm tra {expected}, khóa đã cho "
        f"có mã {given}",
        f"wrong key: the backup was encrypted under the key with check value {expected}, the "
        f"key given has {given}",
    )


def _unwrap_failed() -> SealedFileError:
    return SealedFileError(
        "backup.wrong_key",
        "không mở được khóa nội dung của bản sao lưu bằng khóa đã cho (sai khóa hoặc tệp bị sửa)",
        "the backup's content key cannot be unwrapped with the key given (a wrong key, or the "
        "file was altered)",
    )


class KeyFile:
    """An AES-256 wrapping key read from a file (64 hex characters)."""

    method: str = "key-file"
    label: str | None = None

    def __init__(self, key: bytes) -> None:
        if len(key) != CONTENT_KEY_BYTES:
            raise ValueError("a backup key is 32 bytes")
        self._key = key

    @classmethod
    def read(cls, path: Path) -> KeyFile:
        try:
            text = path.read_text("ascii").strip()
            return cls(bytes.fromhex(text))
        except OSError as exc:
            raise SealedFileError(
                "backup.key_file",
                f"không đọc được tệp khóa {path}: {exc.strerror or exc}",
                f"cannot read the key file {path}: {exc.strerror or exc}",
            ) from None
        except ValueError:
            raise SealedFileError(
                "backup.key_file",
                f"tệp khóa {path} phải chứa đúng 64 ký tự hexa (32 byte; openssl rand -hex 32)",
                f"the key file {path} must hold exactly 64 hexadecimal characters (32 bytes; "
                "openssl rand -hex 32)",
            ) from None

    @classmethod
    def generate(cls, path: Path) -> KeyFile:
        """A new random key written to ``path`` (mode 0600); never over an existing file."""
        key = cls(os.urandom(CONTENT_KEY_BYTES))
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise SealedFileError(
                "backup.key_exists",
                f"tệp {path} đã có: không ghi đè một khóa (mất khóa là mất các bản sao lưu)",
                f"{path} exists: a key is never overwritten (losing it loses the backups)",
            ) from None
        except OSError as exc:
            raise SealedFileError(
                "backup.key_file",
                f"không ghi được tệp khóa {path}: {exc.strerror or exc}",
                f"cannot write the key file {path}: {exc.strerror or exc}",
            ) from None
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(key._key.hex() + "\n")
        return key

    def key_id(self) -> str:
        return key_check_value(self._key)

    def wrap(self, content_key: bytes) -> bytes:
        return aes_key_wrap(self._key, content_key)

    def unwrap(self, wrapped: bytes) -> bytes:
        try:
            return aes_key_unwrap(self._key, wrapped)
        except (InvalidUnwrap, ValueError):
            raise _unwrap_failed() from None


def _token_problem(problem: SignerError) -> SealedFileError:
    return SealedFileError(problem.code, problem.vi, problem.en)


class TokenKey:
    """An AES key on a PKCS#11 token (its label), wrapping with ``CKM_AES_KEY_WRAP``."""

    method: str = "pkcs11"

    def __init__(self, module: str | None, token_label: str, pin: str, key_label: str) -> None:
        import pkcs11
        from pkcs11 import KeyType, ObjectClass

        self.label: str | None = key_label
        try:
            self._session = open_token(module, token_label, pin)
        except SignerError as problem:
            raise _token_problem(problem) from None
        try:
            # a runtime mixin of the library's key types (EncryptMixin, WrapMixin, UnwrapMixin)
            self._key: Any = self._session.get_key(
                object_class=ObjectClass.SECRET_KEY, key_type=KeyType.AES, label=key_label
            )
        except (pkcs11.NoSuchKey, pkcs11.MultipleObjectsReturned) as exc:
            self._session.close()
            raise SealedFileError(
                "pkcs11.no_key",
                f"token {token_label!r} không có đúng một khóa AES nhãn {key_label!r} "
                f"({type(exc).__name__}); tạo bằng lienthong backup key --token",
                f"token {token_label!r} has not exactly one AES key labelled {key_label!r} "
                f"({type(exc).__name__}); create one with lienthong backup key --token",
            ) from None

    def close(self) -> None:
        self._session.close()

    def key_id(self) -> str:
        from pkcs11 import Mechanism

        return bytes(self._key.encrypt(bytes(16), mechanism=Mechanism.AES_ECB))[:3].hex()

    def _content_key_object(self, content_key: bytes) -> Any:
        from pkcs11 import Attribute, KeyType, ObjectClass

        return self._session.create_object(
            {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.AES,
                Attribute.VALUE: content_key,
                Attribute.TOKEN: False,  # a session object: gone when the session closes
                Attribute.EXTRACTABLE: True,
                Attribute.SENSITIVE: False,
            }
        )

    def wrap(self, content_key: bytes) -> bytes:
        from pkcs11 import Mechanism

        carrier = self._content_key_object(content_key)
        try:
            return bytes(self._key.wrap_key(carrier, mechanism=Mechanism.AES_KEY_WRAP))
        finally:
            carrier.destroy()

    def unwrap(self, wrapped: bytes) -> bytes:
        import pkcs11
        from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

        try:
            carrier = self._key.unwrap_key(
                ObjectClass.SECRET_KEY,
                KeyType.AES,
                wrapped,
                mechanism=Mechanism.AES_KEY_WRAP,
                store=False,
                template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True},
            )
        except pkcs11.PKCS11Error:
            raise _unwrap_failed() from None
        try:
            return bytes(carrier[Attribute.VALUE])
        finally:
            carrier.destroy()


def create_token_key(module: str | None, token_label: str, pin: str, key_label: str) -> str:
    """Generate on the token an AES-256 key ``key_label`` that can wrap and unwrap but never
    leaves it (sensitive, not extractable); returns its key check value."""
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

    try:
        session = open_token(module, token_label, pin, rw=True)
    except SignerError as problem:
        raise _token_problem(problem) from None
    try:
        if list(
            session.get_objects(
                {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: key_label}
            )
        ):
            raise SealedFileError(
                "backup.key_exists",
                f"token {token_label!r} đã có khóa nhãn {key_label!r}: không tạo khóa thứ hai",
                f"token {token_label!r} already holds a key labelled {key_label!r}: no second "
                "one is made",
            )
        key: Any = session.generate_key(
            KeyType.AES,
            256,
            label=key_label,
            store=True,
            template={
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.WRAP: True,
                Attribute.UNWRAP: True,
                Attribute.ENCRYPT: True,  # the key check value
            },
        )
        return bytes(key.encrypt(bytes(16), mechanism=Mechanism.AES_ECB))[:3].hex()
    finally:
        session.close()
