"""The keys that wrap a backup's content key: a key file, and an AES key on a SoftHSM2 token
(the content key passes through the token as a session object; the token's key never leaves
it). A backup wrapped by the token is verified and restored with it."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from lienthong.backup import (
    BackupError,
    KeyFile,
    TokenKey,
    create_backup,
    create_token_key,
    key_check_value,
    restore_backup,
    verify_backup,
)
from lienthong.security.pki import TestPki
from lienthong.security.signers import FileSigner
from lienthong.store import upgrade
from lienthong.store.testing import temporary_database
from tests.security.openssl_chain import TOKEN_LABEL, TOKEN_PIN, openssl_chain, softhsm_token

__all__ = ["openssl_chain", "softhsm_token"]


def test_a_key_file_is_made_once_and_read_back(tmp_path: Path) -> None:
    # the key check value of the all-zero AES-256 key (FIPS 197 test vector's first 3 bytes)
    assert key_check_value(bytes(32)) == "dc95c0"
    path = tmp_path / "backup.key"
    made = KeyFile.generate(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert KeyFile.read(path).key_id() == made.key_id()
    assert KeyFile.read(path).unwrap(made.wrap(b"k" * 32)) == b"k" * 32
    with pytest.raises(BackupError) as again:
        KeyFile.generate(path)
    assert again.value.code == "backup.key_exists" and path.read_text().strip()
    path.write_text("not hex\n")
    with pytest.raises(BackupError) as bad:
        KeyFile.read(path)
    assert bad.value.code == "backup.key_file" and "64" in bad.value.en
    with pytest.raises(BackupError) as wrong:
        KeyFile.generate(tmp_path / "other.key").unwrap(made.wrap(b"k" * 32))
    assert wrong.value.code == "backup.wrong_key"


def test_a_token_key_wraps_a_backup(
    softhsm_token: str,
    signer: FileSigner,
    test_pki: TestPki,
    pki_services: str,
    tmp_path: Path,
) -> None:
    label = f"backup-{uuid.uuid4().hex[:8]}"
    check_value = create_token_key(softhsm_token, TOKEN_LABEL, TOKEN_PIN, label)
    with pytest.raises(BackupError) as twice:
        create_token_key(softhsm_token, TOKEN_LABEL, TOKEN_PIN, label)
    assert twice.value.code == "backup.key_exists"
    with pytest.raises(BackupError) as pin:
        TokenKey(softhsm_token, TOKEN_LABEL, "000000", label)
    assert pin.value.code == "pkcs11.pin"
    with pytest.raises(BackupError) as missing:
        TokenKey(softhsm_token, TOKEN_LABEL, TOKEN_PIN, "no-such-key")
    assert missing.value.code == "pkcs11.no_key"

    token = TokenKey(softhsm_token, TOKEN_LABEL, TOKEN_PIN, label)
    try:
        assert token.key_id() == check_value
        wrapped = token.wrap(b"c" * 32)
        assert len(wrapped) == 40 and token.unwrap(wrapped) == b"c" * 32
        anchors = [test_pki.root.certificate]
        with temporary_database("sqlite", tmp_path / "db") as engine:
            upgrade(engine)
            create_backup(tmp_path / "hub.backup", engine, token, signer, test_pki.tsa_url)
        report = verify_backup(tmp_path / "hub.backup", anchors, token)
        assert report.ok and report.contents.key["method"] == "pkcs11"
        assert report.contents.key["label"] == label
        restored = restore_backup(
            tmp_path / "hub.backup", f"sqlite:///{tmp_path / 'restored.db'}", anchors, token
        )
        assert restored.tables["alembic_version"] == 1
        # a key file is not the token's key
        with pytest.raises(BackupError) as other:
            verify_backup(tmp_path / "hub.backup", anchors, KeyFile(bytes(32)))
        assert other.value.code == "backup.wrong_key"
    finally:
        token.close()
