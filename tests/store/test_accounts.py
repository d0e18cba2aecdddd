"""Accounts: scrypt hashes, units and services, enable/disable, authentication (both databases)."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from lienthong.store import (
    Account,
    AccountError,
    Accounts,
    hash_password,
    verify_password,
)

HANOI = "000.00.00.H26"
HANOI_DISTRICT = "000.00.01.H26"
HCMC = "000.00.00.H29"


@pytest.fixture
def accounts(sessions: sessionmaker[Session]) -> Accounts:
    return Accounts(sessions)


# ------------------------------------------------------------------------------------------
# Password hashing
# ------------------------------------------------------------------------------------------


def test_hash_format() -> None:
    encoded = hash_password("mật khẩu dài 🔑")
    scheme, n, r, p, salt, key = encoded.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.b64decode(salt, validate=True)) == 16
    assert len(base64.b64decode(key, validate=True)) == 32
    assert len(encoded) <= 256


def test_every_hash_has_its_own_salt() -> None:
    assert hash_password("same") != hash_password("same")


def test_verify_right_and_wrong() -> None:
    encoded = hash_password("mật khẩu dài 🔑")
    assert verify_password("mật khẩu dài 🔑", encoded) is True
    assert verify_password("mat khau dai 🔑", encoded) is False
    assert verify_password("", encoded) is False
    assert verify_password("mật khẩu dài 🔑 ", encoded) is False


def _with(encoded: str, index: int, value: str) -> str:
    parts = encoded.split("$")
    parts[index] = value
    return "$".join(parts)


GOOD = hash_password("secret")


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "secret",
        "scrypt$",
        "scrypt$16384$8$1$abc",
        GOOD + "$extra",
        _with(GOOD, 0, "bcrypt"),
        _with(GOOD, 1, "16383"),  # not a power of two
        _with(GOOD, 1, "1"),
        _with(GOOD, 1, str(2**30)),  # would burn memory: refused before hashing
        _with(GOOD, 1, "١٦٣٨٤"),  # Arabic-Indic digits
        _with(GOOD, 1, "-16384"),
        _with(GOOD, 2, "0"),
        _with(GOOD, 3, "0"),
        _with(GOOD, 4, "not base64!"),
        _with(GOOD, 4, ""),
        _with(GOOD, 5, "not base64!"),
        _with(GOOD, 5, base64.b64encode(b"short").decode()),
        GOOD.replace("$", "#"),
    ],
    # fixed ids: GOOD has a random salt, and parallel workers must collect the same test names
    ids=[
        "empty",
        "plain",
        "prefix-only",
        "too-few-parts",
        "extra-part",
        "other-scheme",
        "n-not-power-of-two",
        "n-one",
        "n-huge",
        "n-arabic-digits",
        "n-negative",
        "r-zero",
        "p-zero",
        "salt-not-base64",
        "salt-empty",
        "hash-not-base64",
        "hash-short",
        "wrong-separator",
    ],
)
def test_verify_refuses_malformed_encodings(encoded: str) -> None:
    assert verify_password("secret", encoded) is False


def test_verify_refuses_non_strings_and_huge_passwords() -> None:
    assert verify_password(None, GOOD) is False  # type: ignore[arg-type]
    assert verify_password("secret", None) is False  # type: ignore[arg-type]
    assert verify_password("x" * 100_000, GOOD) is False


def test_verify_accepts_other_valid_parameters() -> None:
    import hashlib

    salt = b"0123456789abcdef"
    key = hashlib.scrypt(b"secret", salt=salt, n=2**10, r=4, p=2, dklen=32)
    encoded = f"scrypt$1024$4$2${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"
    assert verify_password("secret", encoded) is True


# ------------------------------------------------------------------------------------------
# Accounts
# ------------------------------------------------------------------------------------------


def test_add_get_list(accounts: Accounts) -> None:
    added = accounts.add("mcdt-hanoi", "secret-1", [HANOI, HANOI_DISTRICT, HANOI])
    assert isinstance(added, Account)
    assert added.id is not None
    assert added.units == [HANOI, HANOI_DISTRICT]
    assert added.services == ["*"]
    assert added.disabled is False
    assert added.password_hash.startswith("scrypt$16384$8$1$")
    assert "secret-1" not in added.password_hash
    assert "secret" not in repr(added) and "scrypt" not in repr(added)
    accounts.add("mcdt-hcm", "secret-2", [HCMC], ["DongBoHoSoMC", "CapNhatTienDoHoSoMC"])

    got = accounts.get("mcdt-hcm")
    assert got is not None
    assert got.services == ["DongBoHoSoMC", "CapNhatTienDoHoSoMC"]
    assert got.units == [HCMC]
    assert accounts.get("nobody") is None
    assert accounts.get("MCDT-HCM") is None  # exact match
    assert [a.username for a in accounts.list()] == ["mcdt-hanoi", "mcdt-hcm"]


def test_a_single_unit_string_is_one_unit(accounts: Accounts) -> None:
    account = accounts.add("a", "pw", HANOI)  # type: ignore[arg-type]
    assert account.units == [HANOI]


def test_granting_all_services_collapses_the_list(accounts: Accounts) -> None:
    assert accounts.add("a", "pw", [HANOI], ["DongBoHoSoMC", "*"]).services == ["*"]


def test_accounts_stay_readable_with_an_expiring_session_factory(engine: Engine) -> None:
    accounts = Accounts(sessionmaker(bind=engine))  # expire_on_commit=True
    account = accounts.add("a", "pw", [HANOI])
    assert account.username == "a" and account.units == [HANOI]
    assert accounts.disable("a").disabled is True
    listed = accounts.list()
    assert listed[0].disabled is True


def test_duplicate_usernames_are_refused(accounts: Accounts) -> None:
    accounts.add("mcdt-hanoi", "pw", [HANOI])
    with pytest.raises(AccountError) as caught:
        accounts.add("mcdt-hanoi", "other", [HCMC])
    assert caught.value.code == "account.exists"
    assert "đã tồn tại" in caught.value.vi and "already exists" in caught.value.en
    assert str(caught.value) == f"{caught.value.vi} / {caught.value.en}"
    assert isinstance(caught.value, ValueError)
    assert len(accounts.list()) == 1


@pytest.mark.parametrize(
    "unit", ["H2", "abc", "000.00.00.Z99", "000.01.00.H26", "", "000.00.00.h26"]
)
def test_invalid_unit_codes_are_refused(accounts: Accounts, unit: str) -> None:
    with pytest.raises(AccountError) as caught:
        accounts.add("a", "pw", [unit])
    assert caught.value.code == "account.unit"
    assert "mã đơn vị" in caught.value.vi and "unit code" in caught.value.en
    assert accounts.get("a") is None


def test_unknown_level1_codes_are_only_a_warning(accounts: Accounts) -> None:
    assert accounts.add("a", "pw", ["000.00.00.H99"]).units == ["000.00.00.H99"]


def test_both_agency_code_formats_are_accepted(accounts: Accounts) -> None:
    assert accounts.add("a", "pw", ["G22.102", HANOI]).units == ["G22.102", HANOI]


def test_an_account_needs_a_unit(accounts: Accounts) -> None:
    with pytest.raises(AccountError, match="at least one unit"):
        accounts.add("a", "pw", [])


@pytest.mark.parametrize("username", ["", " a", "a b", "a\n", "a\x00", "x" * 129, "tab\there"])
def test_malformed_usernames_are_refused(accounts: Accounts, username: str) -> None:
    with pytest.raises(AccountError) as caught:
        accounts.add(username, "pw", [HANOI])
    assert caught.value.code == "account.username"


def test_vietnamese_usernames_are_fine(accounts: Accounts) -> None:
    assert accounts.add("một-cửa.hà-nội", "pw", [HANOI]).username == "một-cửa.hà-nội"
    assert accounts.authenticate("một-cửa.hà-nội", "pw") is not None


@pytest.mark.parametrize("service", ["", "Dong Bo", "x" * 65, "DongBo;drop", "**"])
def test_malformed_service_names_are_refused(accounts: Accounts, service: str) -> None:
    with pytest.raises(AccountError) as caught:
        accounts.add("a", "pw", [HANOI], [service])
    assert caught.value.code == "account.service"


def test_empty_passwords_are_refused(accounts: Accounts) -> None:
    with pytest.raises(AccountError) as caught:
        accounts.add("a", "", [HANOI])
    assert caught.value.code == "account.password"
    accounts.add("a", "pw", [HANOI])
    with pytest.raises(AccountError):
        accounts.set_password("a", "")
    with pytest.raises(AccountError):
        accounts.set_password("a", "x" * 2000)


def test_disable_and_enable(accounts: Accounts) -> None:
    accounts.add("a", "pw", [HANOI])
    assert accounts.authenticate("a", "pw") is not None
    assert accounts.disable("a").disabled is True
    assert accounts.authenticate("a", "pw") is None
    stored = accounts.get("a")
    assert stored is not None and stored.disabled is True
    assert accounts.enable("a").disabled is False
    assert accounts.authenticate("a", "pw") is not None


def test_grant_adds_without_duplicates(accounts: Accounts) -> None:
    accounts.add("a", "pw", [HANOI], ["DongBoHoSoMC"])
    account = accounts.grant(
        "a", services=["CapNhatTienDoHoSoMC", "DongBoHoSoMC"], units=[HANOI, HANOI_DISTRICT]
    )
    assert account.services == ["DongBoHoSoMC", "CapNhatTienDoHoSoMC"]
    assert account.units == [HANOI, HANOI_DISTRICT]
    stored = accounts.get("a")
    assert stored is not None
    assert stored.services == ["DongBoHoSoMC", "CapNhatTienDoHoSoMC"]
    assert stored.units == [HANOI, HANOI_DISTRICT]
    assert accounts.grant("a", services=["*"]).services == ["*"]
    assert accounts.grant("a", services=["LayThuTuc"]).services == ["*"]


def test_grant_checks_units_and_services(accounts: Accounts) -> None:
    accounts.add("a", "pw", [HANOI], ["DongBoHoSoMC"])
    with pytest.raises(AccountError):
        accounts.grant("a", units=["nope"])
    with pytest.raises(AccountError):
        accounts.grant("a", services=["not a service"])
    stored = accounts.get("a")
    assert stored is not None and stored.units == [HANOI]


def test_revoke(accounts: Accounts) -> None:
    accounts.add("a", "pw", [HANOI, HANOI_DISTRICT], ["DongBoHoSoMC", "LayThuTuc"])
    account = accounts.revoke("a", services=["LayThuTuc", "NotGranted"], units=[HANOI_DISTRICT])
    assert account.services == ["DongBoHoSoMC"]
    assert account.units == [HANOI]
    stored = accounts.get("a")
    assert stored is not None
    assert (stored.services, stored.units) == (["DongBoHoSoMC"], [HANOI])


def test_revoking_one_service_from_all_is_refused(accounts: Accounts) -> None:
    accounts.add("a", "pw", [HANOI])
    with pytest.raises(AccountError) as caught:
        accounts.revoke("a", services=["DongBoHoSoMC"])
    assert caught.value.code == "account.service"
    stored = accounts.get("a")
    assert stored is not None and stored.services == ["*"]
    assert accounts.revoke("a", services=["*"]).services == []
    assert accounts.grant("a", services=["LayThuTuc"]).services == ["LayThuTuc"]


def test_set_password(accounts: Accounts) -> None:
    accounts.add("a", "old password", [HANOI])
    accounts.set_password("a", "new password")
    assert accounts.authenticate("a", "old password") is None
    assert accounts.authenticate("a", "new password") is not None


def test_authenticate(accounts: Accounts) -> None:
    accounts.add("a", "pw", [HANOI])
    account = accounts.authenticate("a", "pw")
    assert account is not None and account.username == "a" and account.units == [HANOI]
    assert accounts.authenticate("a", "PW") is None
    assert accounts.authenticate("a", "") is None
    assert accounts.authenticate("nobody", "pw") is None
    assert accounts.authenticate("", "") is None


@pytest.mark.parametrize(
    "operation",
    [
        lambda a: a.disable("nobody"),
        lambda a: a.enable("nobody"),
        lambda a: a.grant("nobody", services=["LayThuTuc"]),
        lambda a: a.revoke("nobody", units=[HANOI]),
        lambda a: a.set_password("nobody", "pw"),
    ],
    ids=["disable", "enable", "grant", "revoke", "set_password"],
)
def test_unknown_accounts(accounts: Accounts, operation: object) -> None:
    with pytest.raises(AccountError) as caught:
        operation(accounts)  # type: ignore[operator]
    assert caught.value.code == "account.unknown"
    assert "không có tài khoản" in caught.value.vi and "no such account" in caught.value.en


def test_the_password_is_stored_only_as_a_hash(
    accounts: Accounts, sessions: sessionmaker[Session]
) -> None:
    accounts.add("a", "very-secret-Ư", [HANOI])
    with sessions() as session:
        stored = session.scalars(select(Account.password_hash)).one()
    assert "very-secret" not in stored
    assert verify_password("very-secret-Ư", stored)
