"""`lienthong verify FILE SIGNATURE`: the report, and the exit code says valid (0), not valid
(1) or a usage or read error (2)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from lienthong.cli.main import app
from tests.security.openssl_pki import UNIT, OpensslPki, make_jws, openssl_pki

__all__ = ["openssl_pki"]

BODY = '{"service":"DongBoHoSoMC","madonvi":"000.00.00.H56","data":[{"MaHoSo":"Hồ sơ 1"}]}'


def _files(pki: OpensslPki, tmp_path: Path) -> tuple[Path, list[str]]:
    body = tmp_path / "goi-tin.json"
    body.write_bytes(BODY.encode())
    crls = []
    for ca in ("root", "intermediate"):
        crl = tmp_path / f"{ca}.crl"
        crl.write_bytes(pki.crl(ca))
        crls += ["--crl", str(crl)]
    return body, ["--anchor", str(pki.path("root")), *crls, "--offline"]


def test_an_openssl_signature_verifies_with_the_report(
    openssl_pki: OpensslPki, tmp_path: Path
) -> None:
    body, options = _files(openssl_pki, tmp_path)
    signature = tmp_path / "goi-tin.json.p7s"
    signature.write_bytes(openssl_pki.sign_cms("rsa", body.read_bytes()))
    result = CliRunner().invoke(
        app, ["verify", str(body), str(signature), "--unit", UNIT, *options]
    )
    assert result.exit_code == 0, result.output
    assert "HỢP LỆ" in result.output and "Người ký" in result.output
    assert "Signer" in result.output and "Sở Thử nghiệm (rsa)" in result.output
    # One changed byte: exit 1 and the report says why.
    body.write_bytes(BODY.replace("1", "2").encode())
    result = CliRunner().invoke(app, ["verify", str(body), str(signature), *options])
    assert result.exit_code == 1 and "đã bị thay đổi" in result.output


def test_jws_pem_json_and_wrong_unit(openssl_pki: OpensslPki, tmp_path: Path) -> None:
    body, options = _files(openssl_pki, tmp_path)
    token = tmp_path / "goi-tin.json.jws"
    token.write_text(make_jws(openssl_pki, "ecdsa", body.read_bytes(), "ES256"))
    result = CliRunner().invoke(app, ["verify", str(body), str(token), "--json", *options])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["status"] == "valid" and report["verification"]["format"] == "jws"
    # A PEM CMS with no telling extension is recognised by its content.
    pem = tmp_path / "signature"
    pem.write_bytes(openssl_pki.sign_cms("rsa", body.read_bytes(), pem=True))
    result = CliRunner().invoke(
        app, ["verify", str(body), str(pem), "--unit", "000.00.00.H60", "--json", *options]
    )
    assert result.exit_code == 1
    assert json.loads(result.output)["status"] == "wrong_unit"


def test_usage_and_read_errors_exit_2(openssl_pki: OpensslPki, tmp_path: Path) -> None:
    body, options = _files(openssl_pki, tmp_path)
    signature = tmp_path / "goi-tin.json.p7s"
    signature.write_bytes(openssl_pki.sign_cms("rsa", body.read_bytes()))
    runner = CliRunner()
    no_anchor = runner.invoke(app, ["verify", str(body), str(signature)])
    assert no_anchor.exit_code == 2 and "trust anchor" in " ".join(no_anchor.output.split())
    missing = runner.invoke(app, ["verify", str(tmp_path / "none"), str(signature), *options])
    assert missing.exit_code == 2 and "cannot read" in " ".join(missing.output.split())
    bad_unit = runner.invoke(
        app, ["verify", str(body), str(signature), "--unit", "not-a-code", *options]
    )
    assert bad_unit.exit_code == 2
    bad_anchor = runner.invoke(app, ["verify", str(body), str(signature), "--anchor", str(body)])
    assert bad_anchor.exit_code == 2 and "no certificate" in " ".join(bad_anchor.output.split())
    garbage = tmp_path / "garbage.p7s"
    garbage.write_bytes(b"not a signature")
    result = runner.invoke(app, ["verify", str(body), str(garbage), *options])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "KHÔNG HỢP LỆ" in result.output
