"""RFC 3161 time-stamps against the test PKI's real TSA, checked offline and by openssl."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest

from lienthong.security.pki import TestPki
from lienthong.security.timestamps import TimestampError, request_timestamp, verify_timestamp
from tests.servers import free_port


def test_a_stamp_from_the_tsa_verifies_offline_and_with_openssl(
    test_pki: TestPki, pki_services: str, openssl: str, tmp_path: Path
) -> None:
    data = b"merkle root \x00\x01"
    stamp = request_timestamp(test_pki.tsa_url, data)
    assert abs(stamp.time - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    assert "tsa" in stamp.tsa.lower() or stamp.tsa

    root = test_pki.root.certificate
    checked = verify_timestamp(stamp.response, data, [root], test_pki.chain_of(test_pki.tsa))
    assert checked.time == stamp.time and checked.imprint == stamp.imprint

    # other data, another anchor, a changed byte: each refused with its code
    with pytest.raises(TimestampError) as other:
        verify_timestamp(stamp.response, data + b"!", [root], test_pki.chain_of(test_pki.tsa))
    assert other.value.code == "timestamp.imprint" and not other.value.retryable
    with pytest.raises(TimestampError) as stranger:
        verify_timestamp(stamp.response, data, [test_pki.hub.certificate])
    assert stranger.value.code == "timestamp.invalid"
    # a root among the intermediates (as an untrusted container carries it) is no anchor
    with pytest.raises(TimestampError) as smuggled:
        verify_timestamp(
            stamp.response,
            data,
            [test_pki.hub.certificate],
            [root, *test_pki.chain_of(test_pki.tsa)],
        )
    assert smuggled.value.code == "timestamp.invalid"
    changed = bytearray(stamp.response)
    changed[len(changed) // 2] ^= 0x01
    with pytest.raises(TimestampError) as flipped:
        verify_timestamp(bytes(changed), data, [root], test_pki.chain_of(test_pki.tsa))
    assert flipped.value.code in ("timestamp.invalid", "timestamp.malformed", "timestamp.imprint")

    # the independent verifier agrees on the kept answer as it is
    (tmp_path / "stamp.tsr").write_bytes(stamp.response)
    (tmp_path / "data.bin").write_bytes(data)
    untrusted = tmp_path / "chain.pem"
    untrusted.write_bytes(
        test_pki.tsa.certificate_path.read_bytes() + test_pki.chain_path.read_bytes()
    )
    done = subprocess.run(
        [
            openssl,
            "ts",
            "-verify",
            "-in",
            str(tmp_path / "stamp.tsr"),
            "-data",
            str(tmp_path / "data.bin"),
            "-CAfile",
            str(test_pki.root.certificate_path),
            "-untrusted",
            str(untrusted),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stderr


def test_a_tsa_out_of_reach_is_a_retryable_error() -> None:
    with pytest.raises(TimestampError) as down:
        request_timestamp(f"http://127.0.0.1:{free_port()}/tsa", b"x", timeout=2)
    assert down.value.code == "timestamp.unreachable" and down.value.retryable
    assert "máy chủ dấu thời gian" in down.value.vi
