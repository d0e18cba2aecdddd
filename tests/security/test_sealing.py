"""Encryption at rest, the pure part: sealed values (AES-256-GCM bound to their purpose and data
key), master keys in files and on a SoftHSM2 token, and their ids."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from lienthong.security.sealing import (
    PREFIX,
    FileMasterKey,
    Pkcs11MasterKey,
    SealingError,
    generate_master_key_file,
    is_sealed,
    new_data_key,
    open_master_key,
    open_value,
    seal_value,
    sealed_key_id,
)
from lienthong.security.softhsm import add_aes_key
from tests.security.openssl_chain import TOKEN_LABEL, TOKEN_PIN, openssl_chain, softhsm_token

__all__ = ["openssl_chain", "softhsm_token"]

BODY = '{"ChuHoSo": "Nguyễn Văn An", "SoCMND": "001090001234"}'.encode()
PURPOSE = "message_log.raw_body"


def key_file(directory: Path, content: bytes, mode: int = 0o600) -> Path:
    path = directory / f"master-{len(list(directory.iterdir()))}.key"
    path.write_bytes(content)
    path.chmod(mode)
    return path


def test_a_sealed_value_opens_only_unchanged_for_its_purpose_and_key() -> None:
    data_key = new_data_key()
    sealed = seal_value(data_key, 7, BODY, PURPOSE)
    assert is_sealed(sealed) and sealed.startswith(PREFIX) and sealed_key_id(sealed) == 7
    assert "Nguyễn".encode() not in sealed and len(sealed) == len(BODY) + 4 + 4 + 12 + 16
    assert seal_value(data_key, 7, BODY, PURPOSE) != sealed, "a new nonce every time"
    assert open_value(data_key, sealed, PURPOSE) == BODY
    assert not is_sealed(BODY) and sealed_key_id(BODY) is None

    flipped = bytearray(sealed)
    flipped[30] ^= 0x01
    with pytest.raises(SealingError) as altered:
        open_value(data_key, bytes(flipped), PURPOSE, "message_log 42")
    assert altered.value.code == "sealed.corrupt"
    assert "message_log 42" in altered.value.en and "message_log 42" in altered.value.vi
    with pytest.raises(SealingError) as moved:
        open_value(data_key, sealed, "evidence_entries.body")
    assert moved.value.code == "sealed.corrupt"
    relabelled = PREFIX + (8).to_bytes(4, "big") + sealed[8:]  # the key id is bound too
    with pytest.raises(SealingError):
        open_value(data_key, relabelled, PURPOSE)
    with pytest.raises(SealingError):
        open_value(new_data_key(), sealed, PURPOSE)
    with pytest.raises(SealingError):
        open_value(data_key, sealed[:20], PURPOSE)


def test_a_master_key_file_in_any_spelling_and_its_refusals(tmp_path: Path) -> None:
    key = os.urandom(32)
    spellings = [key, key.hex().encode() + b"\n", base64.b64encode(key) + b"\n"]
    masters = [FileMasterKey(key_file(tmp_path, content)) for content in spellings]
    assert len({master.key_id for master in masters}) == 1 and len(masters[0].key_id) == 16
    assert key.hex() not in repr(masters[0]) and masters[0].key_id not in key.hex()
    data_key = new_data_key()
    wrapped = masters[1].wrap(data_key)
    assert wrapped == aes_key_wrap(key, data_key), "RFC 3394"
    assert masters[2].unwrap(wrapped) == data_key

    other = FileMasterKey(key_file(tmp_path, os.urandom(32).hex().encode()))
    assert other.key_id != masters[0].key_id
    with pytest.raises(SealingError) as wrong:
        other.unwrap(wrapped)
    assert wrong.value.code == "master.wrong" and wrong.value.vi

    readable = key_file(tmp_path, key.hex().encode(), 0o644)
    with pytest.raises(SealingError) as exposed:
        FileMasterKey(readable)
    assert exposed.value.code == "master.permissions" and "chmod 600" in exposed.value.en
    with pytest.raises(SealingError) as short:
        FileMasterKey(key_file(tmp_path, b"abcd"))
    assert short.value.code == "master.format"
    with pytest.raises(SealingError) as missing:
        FileMasterKey(tmp_path / "absent.key")
    assert missing.value.code == "master.unreadable" and "absent.key" in missing.value.en


def test_a_generated_master_key_file_is_the_owners_and_never_overwritten(tmp_path: Path) -> None:
    os.umask(old := os.umask(0o022))  # whatever the umask, the file is 0600
    path = tmp_path / "master.key"
    master = generate_master_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(path.read_text().strip()) == 64
    assert FileMasterKey(path).key_id == master.key_id
    before = path.read_bytes()
    with pytest.raises(SealingError) as exists:
        generate_master_key_file(path)
    assert exists.value.code == "master.exists" and path.read_bytes() == before
    assert old is not None


def test_settings_name_one_master_key(tmp_path: Path) -> None:
    assert open_master_key() is None
    path = tmp_path / "m.key"
    generate_master_key_file(path)
    assert isinstance(open_master_key(key_file=str(path)), FileMasterKey)
    with pytest.raises(SealingError) as both:
        open_master_key(key_file=str(path), pkcs11_token="t")
    assert "LIENTHONG_MASTER_KEY_FILE" in both.value.en
    with pytest.raises(SealingError) as no_label:
        open_master_key(pkcs11_token="t", setting="--new-master-key")
    assert "--new-master-key-pkcs11-label" in no_label.value.en


def test_a_master_key_on_a_token_wraps_there_as_a_file_would(
    softhsm_token: str, tmp_path: Path
) -> None:
    value = os.urandom(32)
    label = f"master-{value[:4].hex()}"
    add_aes_key(TOKEN_LABEL, TOKEN_PIN, label, value, softhsm_token)
    add_aes_key(TOKEN_LABEL, TOKEN_PIN, label + "-generated", None, softhsm_token)
    in_file = FileMasterKey(key_file(tmp_path, value.hex().encode()))
    pin_file = tmp_path / "pin"
    pin_file.write_text(TOKEN_PIN + "\n")
    on_token = open_master_key(
        pkcs11_token=TOKEN_LABEL,
        pkcs11_label=label,
        pin_file=str(pin_file),
        pkcs11_module=softhsm_token,
    )
    assert isinstance(on_token, Pkcs11MasterKey)
    generated = Pkcs11MasterKey(softhsm_token, TOKEN_LABEL, TOKEN_PIN, label + "-generated")
    try:
        assert on_token.key_id == in_file.key_id != generated.key_id
        data_key = new_data_key()
        wrapped = on_token.wrap(data_key)
        assert wrapped == in_file.wrap(data_key) and on_token.unwrap(wrapped) == data_key
        assert generated.unwrap(generated.wrap(data_key)) == data_key
        with pytest.raises(SealingError) as wrong:
            generated.unwrap(wrapped)
        assert wrong.value.code == "master.wrong"
    finally:
        on_token.close()
        generated.close()
    with pytest.raises(SealingError) as no_key:
        Pkcs11MasterKey(softhsm_token, TOKEN_LABEL, TOKEN_PIN, "no-such-master")
    assert no_key.value.code == "pkcs11.no_key"
    with pytest.raises(SealingError) as pin:
        Pkcs11MasterKey(softhsm_token, TOKEN_LABEL, "000000", label)
    assert pin.value.code == "pkcs11.pin"
