"""The algorithm policy: Circular 15/2025/TT-BKHCN's keys and digests, nothing weaker."""

from __future__ import annotations

import pytest

from lienthong.security.policy import AlgorithmPolicy, AlgorithmProblem, SignatureMode

POLICY = AlgorithmPolicy()


@pytest.mark.parametrize("name", ["sha256", "SHA-384", "sha512", "sha3_256", "sha512_256"])
def test_sha2_and_sha3_are_allowed(name: str) -> None:
    POLICY.check_digest(name)


@pytest.mark.parametrize("name", ["sha1", "md5", "sha224x", ""])
def test_other_digests_are_refused_in_both_languages(name: str) -> None:
    with pytest.raises(AlgorithmProblem) as refused:
        POLICY.check_digest(name)
    assert "TT 15/2025" in refused.value.vi and "Circular 15/2025" in refused.value.en


@pytest.mark.parametrize(
    ("kind", "bits", "allowed"),
    [
        ("rsa", 2048, True),
        ("rsa", 4096, True),
        ("rsa", 1024, False),
        ("rsa", 2047, False),
        ("ec", 256, True),
        ("ec", 384, True),
        ("ec", 224, False),
        ("ed25519", 256, False),
        ("dsa", 2048, False),
    ],
)
def test_keys(kind: str, bits: int, allowed: bool) -> None:
    if allowed:
        POLICY.check_key(kind, bits)
    else:
        with pytest.raises(AlgorithmProblem):
            POLICY.check_key(kind, bits)


def test_a_policy_without_rsa_schemes_refuses_rsa() -> None:
    with pytest.raises(AlgorithmProblem):
        AlgorithmPolicy(rsa_pss=False, rsa_pkcs1v15=False).check_key("rsa", 4096)


def test_the_modes_are_the_documented_words() -> None:
    assert [mode.value for mode in SignatureMode] == ["required", "if-present", "off"]
