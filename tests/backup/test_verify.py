"""The faults of issue 13 on one backup (SQLite: the database does not matter here): cut short,
a byte changed in a part, in the manifest or its signature, a manifest rewritten, a wrong key;
each a clear answer in both languages. And a time-stamp authority out of reach at creation: a
retryable error, no file left."""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from lienthong.backup import BackupError, KeyFile, create_backup, restore_backup, verify_backup
from lienthong.security.pki import TestPki
from lienthong.security.signers import FileSigner
from lienthong.security.verify import Status
from lienthong.store.testing import temporary_database
from tests.backup.conftest import fill
from tests.servers import free_port


@dataclass(frozen=True)
class Made:
    path: Path
    key: KeyFile
    pki: TestPki


@pytest.fixture(scope="module")
def made(
    tmp_path_factory: pytest.TempPathFactory,
    test_pki: TestPki,
    pki_services: str,
    signer: FileSigner,
) -> Made:
    directory = tmp_path_factory.mktemp("backup")
    key = KeyFile.generate(directory / "backup.key")
    with temporary_database("sqlite", directory / "db") as engine:
        from lienthong.store import upgrade

        upgrade(engine)
        fill(engine, dossiers=10)
        path = directory / "hub.backup"
        create_backup(
            path, engine, key, signer, test_pki.tsa_url, anchors=[test_pki.root.certificate]
        )
    return Made(path, key, test_pki)


def _copy(made: Made, tmp_path: Path) -> Path:
    copy = tmp_path / "copy.backup"
    shutil.copyfile(made.path, copy)
    return copy


def _member_offset(path: Path, name: str) -> int:
    """Where the bytes of ``name`` start in the file."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
    with path.open("rb") as handle:
        handle.seek(info.header_offset + 26)
        lengths = handle.read(4)
    return (
        info.header_offset
        + 30
        + int.from_bytes(lengths[:2], "little")
        + int.from_bytes(lengths[2:], "little")
    )


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_changed_byte_anywhere_is_found(made: Made, tmp_path: Path) -> None:
    anchors = [made.pki.root.certificate]
    assert verify_backup(made.path, anchors, made.key).ok

    # in a part: that part is reported, the others and the signature stay good
    part = _copy(made, tmp_path)
    _flip(part, _member_offset(part, "parts/database.sqlite") + 5000)
    report = verify_backup(part, anchors)
    assert not report.ok and report.signature.status is Status.VALID
    [damaged] = [check for check in report.parts if not check.ok]
    assert damaged.problem is not None and damaged.problem.code == "backup.part_damaged"
    assert "database.sqlite" in damaged.problem.en and "bị hỏng" in damaged.problem.vi
    with pytest.raises(BackupError) as refused:
        restore_backup(part, f"sqlite:///{tmp_path / 'r.db'}", anchors, made.key)
    assert refused.value.code == "backup.not_verified" and not (tmp_path / "r.db").exists()

    # in the manifest, in its signature: the file's own checksums fail first
    for member in ("manifest.json", "manifest.json.p7s"):
        flipped = _copy(made, tmp_path)
        _flip(flipped, _member_offset(flipped, member) + 40)
        with pytest.raises(BackupError) as unreadable:
            verify_backup(flipped, anchors)
        assert unreadable.value.code == "backup.unreadable" and member in unreadable.value.en

    # cut short: at any length
    for length in (100, made.path.stat().st_size // 2, made.path.stat().st_size - 10):
        cut = tmp_path / "cut.backup"
        cut.write_bytes(made.path.read_bytes()[:length])
        with pytest.raises(BackupError) as short:
            verify_backup(cut, anchors)
        assert short.value.code == "backup.unreadable" and "cắt ngắn" in short.value.vi


def test_a_rewritten_manifest_fails_its_signature_and_time_stamp(
    made: Made, tmp_path: Path
) -> None:
    """A manifest changed by someone who rebuilt the ZIP (its checksums right): the signature
    and the time-stamp no longer cover it."""
    forged = tmp_path / "forged.backup"
    with zipfile.ZipFile(made.path) as source, zipfile.ZipFile(forged, "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "manifest.json":
                data = data.replace(b'"dossiers": 10', b'"dossiers": 11')
            target.writestr(info, data)
    report = verify_backup(forged, [made.pki.root.certificate])
    assert not report.ok
    assert report.signature.status is Status.INVALID
    assert report.timestamp is None and report.timestamp_problem is not None
    assert report.timestamp_problem.code == "timestamp.imprint"


def test_a_wrong_key_is_named_by_its_check_value(made: Made, tmp_path: Path) -> None:
    other = KeyFile.generate(tmp_path / "other.key")
    with pytest.raises(BackupError) as wrong:
        verify_backup(made.path, [made.pki.root.certificate], other)
    assert wrong.value.code == "backup.wrong_key"
    assert made.key.key_id() in wrong.value.en and other.key_id() in wrong.value.en
    assert "sai khóa" in wrong.value.vi
    with pytest.raises(BackupError) as refused:
        restore_backup(
            made.path, f"sqlite:///{tmp_path / 'r.db'}", [made.pki.root.certificate], other
        )
    assert refused.value.code == "backup.wrong_key" and not (tmp_path / "r.db").exists()


def test_a_tsa_out_of_reach_leaves_no_file(made: Made, signer: FileSigner, tmp_path: Path) -> None:
    with (
        temporary_database("sqlite", tmp_path / "db") as engine,
        pytest.raises(BackupError) as down,
    ):
        create_backup(
            tmp_path / "new.backup",
            engine,
            made.key,
            signer,
            f"http://127.0.0.1:{free_port()}/tsa",
            timeout=2,
        )
    assert down.value.retryable and down.value.code == "timestamp.unreachable"
    assert "thử lại" in down.value.vi and "try again" in down.value.en
    assert sorted(path.name for path in tmp_path.iterdir()) == ["db"]
