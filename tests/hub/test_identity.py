"""The operator's identity on every public page, from the settings; the logo's checks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from lienthong.hub.app import Hub
from lienthong.hub.identity import MAX_LOGO_BYTES, image_type, load_logo
from lienthong.hub.settings import HubSettings
from tests.hub import sample_files
from tests.hub.conftest import UNIT, RunningHub, free_port, serve

NAME = "Trung tâm Phục vụ hành chính công tỉnh Thanh Hóa"
NAME_EN = "Thanh Hoa Public Administrative Service Centre"
HOTLINE = "0237 3 720 720"
ADDRESS = "28 Đại lộ Lê Lợi, phường Hạc Thành, tỉnh Thanh Hóa"
#: Every page of the portal a citizen can open with a GET.
PAGES = ("/", "/tra-cuu", "/tra-cuu?mahoso=abc", "/pakn", "/pakn/gui", "/hoi-dap", "/hoi-dap/gui",
         "/tinh-trang")  # fmt: skip


@pytest.fixture
def branded(engine: Engine, tmp_path: Path) -> Iterator[RunningHub]:
    logo = tmp_path / "logo.png"
    logo.write_bytes(sample_files.png())
    settings = HubSettings(
        port=free_port(),
        agency_name=NAME,
        agency_name_en=NAME_EN,
        agency_hotline=HOTLINE,
        agency_address=ADDRESS,
        agency_logo=str(logo),
    )
    hub = Hub(settings, engine=engine)
    hub.accounts.add("tinh_thanhhoa", "mat-khau-thu-nghiem", [UNIT])
    with serve(hub, settings) as running:
        yield running


def test_every_page_carries_the_operator_from_the_settings(branded: RunningHub) -> None:
    for path in PAGES:
        branded.client.cookies.clear()  # the language chosen below is kept in a cookie
        page = branded.client.get(path)
        assert page.status_code in (200, 400), path
        text = page.text
        assert text.count(NAME) >= 2, path  # header and footer
        assert HOTLINE in text and 'href="tel:02373720720"' in text, path
        assert ADDRESS in text, path
        assert '<img class="emblem" src="/logo"' in text, path
        assert "(mẫu)" not in text, path  # no placeholder left
        english = branded.client.get(path, params={"lang": "en"}).text
        assert english.count(NAME_EN) >= 2 and NAME not in english, path
        assert HOTLINE in english and ADDRESS in english, path
    logo = branded.client.get("/logo")
    assert logo.status_code == 200 and logo.content == sample_files.png()
    assert logo.headers["content-type"] == "image/png"
    assert logo.headers["x-content-type-options"] == "nosniff"
    assert "img-src 'self'" in branded.client.get("/").headers["content-security-policy"]
    # the address never names a file: nothing else is served beside the logo
    for probe in ("/logo/../../etc/passwd", "/logo?file=/etc/passwd", "/logo.png"):
        answer = branded.client.get(probe)
        assert answer.status_code == 404 or answer.content == sample_files.png(), probe


def test_the_defaults_are_marked_as_placeholders(running: RunningHub) -> None:
    home = running.client.get("/").text
    defaults = HubSettings()
    for value in (defaults.agency_name, defaults.agency_hotline, defaults.agency_address):
        assert "(tên mẫu)" in value or "(số mẫu)" in value or "(địa chỉ mẫu)" in value
        assert value in home
    assert '<svg class="emblem"' in home and 'src="/logo"' not in home  # the built-in emblem
    assert running.client.get("/logo").status_code == 404


def test_identity_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIENTHONG_AGENCY_NAME", NAME)
    monkeypatch.setenv("LIENTHONG_AGENCY_HOTLINE", HOTLINE)
    monkeypatch.setenv("LIENTHONG_AGENCY_ADDRESS", ADDRESS)
    monkeypatch.setenv("LIENTHONG_AGENCY_LOGO", "/srv/logo.png")
    settings = HubSettings.from_env()
    assert (settings.agency_name, settings.agency_hotline) == (NAME, HOTLINE)
    assert (settings.agency_address, settings.agency_logo) == (ADDRESS, "/srv/logo.png")
    assert settings.agency_name_en == ""


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(32)
GIF = b"GIF89a" + bytes(32)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(32)


def test_a_logo_is_a_real_image_of_bounded_size(tmp_path: Path) -> None:
    assert load_logo("") is None
    for content, media_type in ((sample_files.png(), "image/png"), (JPEG, "image/jpeg"),
                                (GIF, "image/gif"), (WEBP, "image/webp")):  # fmt: skip
        path = tmp_path / "logo"
        path.write_bytes(content)
        logo = load_logo(str(path))
        assert logo is not None and logo.media_type == media_type and logo.content == content
        assert image_type(content) == media_type

    def refused(path: str) -> str:
        with pytest.raises(ValueError, match=r"^LIENTHONG_AGENCY_LOGO: ") as caught:
            load_logo(path)
        return str(caught.value)

    svg = tmp_path / "logo.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    assert "is not a PNG, JPEG, GIF or WebP image" in refused(str(svg))
    named_png = tmp_path / "trang.png"  # the name says PNG, the content is HTML
    named_png.write_text("<html>")
    assert "is not a PNG" in refused(str(named_png))
    big = tmp_path / "big.png"
    big.write_bytes(sample_files.png() + bytes(MAX_LOGO_BYTES))
    assert f"larger than {MAX_LOGO_BYTES} bytes" in refused(str(big))
    assert "cannot be read" in refused(str(tmp_path / "missing.png"))
    assert "cannot be read" in refused(str(tmp_path))  # a folder
    if os.path.exists("/dev/zero"):  # endless: read no further than the bound
        assert "not a regular file" in refused("/dev/zero")
