"""A backup's content key wrapped by an AES key on a SoftHSM2 token (the content key passes
through the token as a session object; the token's key never leaves it): the backup is verified
and restored with it (the key file: tests/security/test_file_keys.py)."""

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
    restore_backup,
    verify_backup,
)
from lienthong.security.pki import TestPki
from lienthong.security.signers import FileSigner
from lienthong.store import upgrade
from lienthong.store.testing import temporary_database
from tests.security.openssl_chain import TOKEN_LABEL, TOKEN_PIN, openssl_chain, softhsm_token

__all__ = ["openssl_chain", "softhsm_token"]


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
