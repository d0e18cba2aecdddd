"""The provincial adapters' front door (LGSP) over real HTTP, on SQLite and PostgreSQL: the
client-credentials token, pushes of bare arrays by URL, shares by GET, the same answers, limits
and message log as the integration endpoint."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select, update

from lienthong.demo import dossiers
from lienthong.hub.app import Hub
from lienthong.hub.lgsp import lgsp_prefix, parse_aliases, query_pairs
from lienthong.hub.settings import HubSettings
from lienthong.store.tables import HubSession, MessageLog
from tests.hub.conftest import OTHER_UNIT, PASSWORD, UNIT, RunningHub, free_port, serve

PREFIX = HubSettings().lgsp_prefix
FORM = {"content-type": "application/x-www-form-urlencoded"}
SUCCESS_WORDS = "thành công"


def _basic(username: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {**FORM, "authorization": f"Basic {encoded}"}


def _token(running: RunningHub, username: str = "tinh_thanhhoa") -> str:
    answer = running.client.post(
        f"{PREFIX}/token",
        content=b"grant_type=client_credentials",
        headers=_basic(username, PASSWORD),
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def _push(
    running: RunningHub, token: str, service: str, records: Any, **query: str
) -> httpx.Response:
    return running.client.post(
        f"{PREFIX}/{service}", params=query, json=records, headers=_bearer(token)
    )


def _share(running: RunningHub, token: str, service: str, **query: str) -> httpx.Response:
    return running.client.get(
        f"{PREFIX}/KetNoiMotCuaQuocGia/{service}", params=query, headers=_bearer(token)
    )


def _dossier(sequence: int) -> dict[str, Any]:
    return copy.deepcopy(dossiers(sequence)[sequence - 1])


def _integration(running: RunningHub, envelope: dict[str, Any]) -> dict[str, Any]:
    session = running.login()
    answer: dict[str, Any] = running.call({"session": session, "madonvi": UNIT, **envelope}).json()
    return answer


def _success_code(running: RunningHub) -> str:
    """The hub's own success code, as the integration endpoint answers it."""
    return str(_integration(running, {"service": "LayDanhMucGioiTinh"})["error_code"])


def _refusal(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["error_code"] == code, body
    assert body["message"] and body["message_en"] and isinstance(body["retryable"], bool)
    assert SUCCESS_WORDS not in body["message"].lower()
    return body


def _oauth_refusal(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == error, body
    assert body["error_description"] and body["error_description_en"]
    assert isinstance(body["retryable"], bool)
    assert response.headers["cache-control"] == "no-store"
    return body


# -- the token ---------------------------------------------------------------------------------


def test_a_token_by_basic_and_by_form_fields(running: RunningHub) -> None:
    by_basic = running.client.post(
        f"{PREFIX}/token",
        content=b"grant_type=client_credentials",
        headers=_basic("tinh_thanhhoa", PASSWORD),
    )
    assert by_basic.status_code == 200
    assert by_basic.headers["cache-control"] == "no-store"
    body = by_basic.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == running.settings.session_ttl_seconds
    by_form = running.client.post(
        f"{PREFIX}/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "tinh_thanhhoa",
            "client_secret": PASSWORD,
        },
    )
    assert by_form.status_code == 200, by_form.text
    for token in (body["access_token"], by_form.json()["access_token"]):
        listing = _share(running, token, "LayDanhMucGioiTinh")
        assert listing.status_code == 200 and json.loads(listing.json()["message"])
    # the token is a hub session: the envelope endpoints take it too
    envelope = {"session": body["access_token"], "madonvi": UNIT, "service": "LayDanhSachTTHC"}
    assert running.call(envelope).status_code == 200
    with running.hub.sessions() as db:
        rows = db.scalars(select(MessageLog).where(MessageLog.endpoint == "lgsp_token")).all()
    assert [(r.account, r.http_status, r.raw_body) for r in rows] == [
        ("tinh_thanhhoa", 200, None),
        ("tinh_thanhhoa", 200, None),
    ]


def test_token_refusals_say_why(running: RunningHub) -> None:
    url = f"{PREFIX}/token"
    grant = b"grant_type=client_credentials"
    wrong = running.client.post(url, content=grant, headers=_basic("tinh_thanhhoa", "sai"))
    _oauth_refusal(wrong, 401, "invalid_client")
    assert wrong.headers["www-authenticate"] == 'Basic realm="lienthong"'
    running.hub.accounts.disable("chi_tra_cuu")
    disabled = running.client.post(url, content=grant, headers=_basic("chi_tra_cuu", PASSWORD))
    assert "khóa" in _oauth_refusal(disabled, 401, "invalid_client")["error_description"]
    other_grant = running.client.post(
        url, content=b"grant_type=password", headers=_basic("tinh_thanhhoa", PASSWORD)
    )
    _oauth_refusal(other_grant, 400, "unsupported_grant_type")
    no_grant = running.client.post(url, content=b"", headers=_basic("tinh_thanhhoa", PASSWORD))
    assert "grant_type" in _oauth_refusal(no_grant, 400, "invalid_request")["error_description"]
    for header in ("Basic %%%", "Basic " + base64.b64encode(b"no-colon").decode(), "Digest x"):
        malformed = running.client.post(
            url, content=grant, headers={**FORM, "authorization": header}
        )
        _oauth_refusal(malformed, 400, "invalid_request")
    both = running.client.post(
        url,
        content=grant + b"&client_id=tinh_thanhhoa&client_secret=x",
        headers=_basic("tinh_thanhhoa", PASSWORD),
    )
    _oauth_refusal(both, 400, "invalid_request")
    none = running.client.post(url, content=grant, headers=FORM)
    _oauth_refusal(none, 400, "invalid_request")
    twice = running.client.post(url, content=grant + b"&" + grant, headers=FORM)
    _oauth_refusal(twice, 400, "invalid_request")
    as_json = running.client.post(url, json={"grant_type": "client_credentials"})
    _oauth_refusal(as_json, 400, "invalid_request")
    by_get = running.client.get(url)
    _oauth_refusal(by_get, 405, "invalid_request")
    assert by_get.headers["allow"] == "POST"
    nul = running.client.post(url, content=grant + b"&client_id=a%00&client_secret=x", headers=FORM)
    _oauth_refusal(nul, 400, "invalid_request")
    # the login's limits: the failures of one account within the window (3 in this fixture)
    for _ in range(3):
        again = running.client.post(url, content=grant, headers=_basic("tinh_lamdong", "sai"))
        assert again.status_code in (401, 429)
    limited = running.client.post(url, content=grant, headers=_basic("tinh_lamdong", PASSWORD))
    assert _oauth_refusal(limited, 429, "invalid_client")["retryable"] is True
    assert limited.headers["retry-after"] == str(running.settings.login_window_seconds)
    with running.hub.sessions() as db:
        codes = db.scalars(
            select(MessageLog.error_code)
            .where(MessageLog.endpoint == "lgsp_token")
            .order_by(MessageLog.id)
        ).all()
    assert codes[:3] == ["20", "24", "12"] and codes[-1] == "21"
    assert "17" in codes


# -- pushes -------------------------------------------------------------------------------------


def test_a_bare_array_is_pushed_then_updated(running: RunningHub) -> None:
    token = _token(running)
    success = _success_code(running)
    record = _dossier(1)
    created = _push(running, token, "DongBoHoSoMC", [record], MaDinhDanhDV=UNIT, isUpdating="False")
    assert created.status_code == 200
    body = created.json()
    assert body["error_code"] == success
    assert body["message"] == "Đồng bộ thành công 1/1 bản ghi"
    assert body["message_en"] == "Synced 1/1 records"
    assert [r["status"] for r in body["records"]] == ["accepted"]
    record["TrangThaiHoSo"] = "4"
    exists = _push(running, token, "DongBoHoSoMC", [record], MaDinhDanhDV=UNIT, isUpdating="false")
    body = exists.json()
    assert exists.status_code == 200 and body["error_code"] == "3"
    assert SUCCESS_WORDS not in body["message"].lower()
    assert (
        body["message"].startswith("Có 1/1 bản ghi bị từ chối") and "đã tồn tại" in body["message"]
    )
    updated = _push(running, token, "DongBoHoSoMC", [record], MaDinhDanhDV=UNIT, isUpdating="True")
    body = updated.json()
    assert body["error_code"] == success and SUCCESS_WORDS in body["message"]
    assert [r["status"] for r in body["records"]] == ["updated"]
    # the same through the integration endpoint: nothing left to change
    same = _integration(
        running,
        {"service": "DongBoHoSoMC", "isUpdating": "True", "data": [record]},
    )
    assert [r["status"] for r in same["records"]] == ["unchanged"]
    # 1 and 0, one object taken as one record, the unit from the account's only one
    record["TrangThaiHoSo"] = "5"
    one = _push(running, token, "DongBoHoSoMC", record, isUpdating="1")
    assert [r["status"] for r in one.json()["records"]] == ["updated"]
    bad_flag = _push(running, token, "DongBoHoSoMC", [record], isUpdating="maybe")
    assert "isUpdating" in _refusal(bad_flag, 400, "12")["message"]


def test_the_aliases_of_clients_with_one_url_per_action(running: RunningHub) -> None:
    token = _token(running)
    record = _dossier(2)
    added = _push(running, token, "ThemMoiHoSo", [record], MaDinhDanhDV=UNIT)
    assert [r["status"] for r in added.json()["records"]] == ["accepted"], added.text
    record["TrangThaiHoSo"] = "4"
    changed = _push(running, token, "CapNhatHoSo", [record], MaDinhDanhDV=UNIT)
    assert [r["status"] for r in changed.json()["records"]] == ["updated"], changed.text
    step = {
        "MaHoSo": record["MaHoSo"],
        "NguoiXuLy": "Lê Thị Bình",
        "ChucDanh": "Chuyên viên",
        "ThoiDiemXuLy": "20260303090000",
        "PhongBanXuLy": "Phòng Tư pháp",
        "NoiDungXuLy": "Thẩm định hồ sơ",
        "TrangThai": "4",
        "NgayBatDau": "20260302080000",
        "NgayKetThucTheoQuyDinh": "20260305170000",
    }
    progress = _push(running, token, "CapNhatTienDo", [step], MaDinhDanhDV=UNIT)
    assert progress.status_code == 200, progress.text
    assert [r["status"] for r in progress.json()["records"]] == ["accepted"]
    assert SUCCESS_WORDS in progress.json()["message"]
    with running.hub.sessions() as db:
        services = db.scalars(
            select(MessageLog.service).where(MessageLog.endpoint == "lgsp").order_by(MessageLog.id)
        ).all()
    assert services == ["DongBoHoSoMC", "DongBoHoSoMC", "CapNhatTienDoHoSoMC"]


def test_success_words_only_when_every_record_is_taken(running: RunningHub) -> None:
    token = _token(running)
    records = [copy.deepcopy(r) for r in dossiers(3)]
    good = _push(running, token, "DongBoHoSoMC", records[:2], MaDinhDanhDV=UNIT, isUpdating="False")
    assert good.json()["message"] == "Đồng bộ thành công 2/2 bản ghi"
    records[1]["NgayHenTra"] = "20240230000000"
    mixed = _push(running, token, "DongBoHoSoMC", records, MaDinhDanhDV=UNIT, isUpdating="True")
    body = mixed.json()
    assert mixed.status_code == 200 and body["error_code"] == "01"
    assert body["message"].startswith("Có 1/3 bản ghi bị từ chối")
    assert SUCCESS_WORDS not in body["message"].lower()
    assert body["message_en"].startswith("1/3 records were refused")
    assert [r["status"] for r in body["records"]] == ["unchanged", "rejected", "accepted"]
    # the hub's per-record outcomes, unchanged: their paths name the envelope's data
    assert body["records"][1]["issues"][0]["path"] == "$.data[1].NgayHenTra"
    every = _push(running, token, "DongBoHoSoMC", [records[1]], isUpdating="True")
    body = every.json()
    assert every.status_code == 200 and body["error_code"] == "15"
    assert body["message"].startswith("Có 1/1 bản ghi bị từ chối")
    # isUpdating is the envelope's required parameter of DongBoHoSoMC: the hub names it
    unsaid = _push(running, token, "DongBoHoSoMC", records[:1])
    assert "isUpdating" in _refusal(unsaid, 422, "15")["message"]


# -- shares ---------------------------------------------------------------------------------------


def test_a_share_by_get_answers_the_integration_result_as_json_text(running: RunningHub) -> None:
    token = _token(running)
    listing = _integration(running, {"service": "LayDanhSachTTHC"})
    code = listing["result"][0]["MATTHC"]
    expected = _integration(running, {"service": "LayThuTuc", "maTTHC": code})
    for name in ("maTTHC", "MATTHC"):  # parameter names in any case
        answer = (
            _share(running, token, "LayThuTuc", maTTHC=code)
            if name == "maTTHC"
            else (_share(running, token, "LayThuTuc", MATTHC=code))
        )
        assert answer.status_code == 200
        body = answer.json()
        assert set(body) == {"error_code", "message"}
        assert body["error_code"] == expected["error_code"]
        assert json.loads(body["message"]) == expected["result"] and expected["result"]
    missing = _share(running, token, "LayThuTuc")
    assert "maTTHC" in _refusal(missing, 400, "12")["message"]


def test_a_lookup_over_the_adapter_after_a_push(running: RunningHub) -> None:
    token = _token(running)
    record = _dossier(3)
    code = record["MaHoSo"]
    before = _share(running, token, "TraCuuHoSo", MaHoSo=code, MaDinhDanhDV=UNIT)
    assert json.loads(before.json()["message"]) == []
    _push(running, token, "DongBoHoSoMC", [record], MaDinhDanhDV=UNIT, isUpdating="False")
    after = _share(running, token, "TraCuuHoSo", mahoso=code, MaDinhDanhDV=UNIT)
    found = json.loads(after.json()["message"])
    assert found == _integration(running, {"service": "TraCuuHoSo", "mahoso": code})["result"]
    assert found and found[0]["MaHoSo"] == code


# -- the message log and the bearer token ------------------------------------------------------


def test_one_log_row_per_adapter_request(running: RunningHub) -> None:
    token = _token(running)
    _push(running, token, "DongBoHoSoMC", [_dossier(4)], MaDinhDanhDV=UNIT, isUpdating="False")
    _share(running, token, "LayDanhMucGioiTinh", MaDinhDanhDV=UNIT)
    _share(running, token, "LayDanhMucGioiTinh", MaDinhDanhDV=OTHER_UNIT)
    running.client.post(f"{PREFIX}/KhongCo", json=[], headers=_bearer(token))
    with running.hub.sessions() as db:
        rows = db.scalars(
            select(MessageLog).where(MessageLog.endpoint == "lgsp").order_by(MessageLog.id)
        ).all()
    assert [(r.service, r.unit, r.account, r.http_status, r.error_code) for r in rows] == [
        ("DongBoHoSoMC", UNIT, "tinh_thanhhoa", 200, rows[0].error_code),
        ("LayDanhMucGioiTinh", UNIT, "tinh_thanhhoa", 200, rows[0].error_code),
        ("LayDanhMucGioiTinh", OTHER_UNIT, "tinh_thanhhoa", 403, "30"),
        ("KhongCo", None, None, 400, "13"),
    ]
    assert (rows[0].records, rows[0].accepted, rows[0].rejected) == (1, 1, 0)
    kept = rows[0].raw_body
    assert kept is not None and json.loads(kept)[0]["MaHoSo"] == _dossier(4)["MaHoSo"]
    assert all(token.encode() not in (row.raw_body or b"") for row in rows)


def test_a_missing_unknown_or_expired_bearer_is_401(running: RunningHub, engine: Engine) -> None:
    path = f"{PREFIX}/KetNoiMotCuaQuocGia/LayDanhMucGioiTinh"
    for headers, code in (({}, "22"), (_bearer("khong-co"), "22"), ({"authorization": "x"}, "22")):
        refused = running.client.get(path, params={"MaDinhDanhDV": UNIT}, headers=headers)
        assert _refusal(refused, 401, code)["retryable"] is True
        assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    token = _token(running)
    with engine.begin() as connection:
        connection.execute(
            update(HubSession).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    for response in (
        _share(running, token, "LayDanhMucGioiTinh"),  # the unit from the account: a lookup
        _share(running, token, "LayDanhMucGioiTinh", MaDinhDanhDV=UNIT),
        _push(running, token, "DongBoHoSoMC", [_dossier(5)], isUpdating="False"),
    ):
        _refusal(response, 401, "23")
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


# -- bad input ------------------------------------------------------------------------------------


def test_bad_input_gets_a_clear_answer(running: RunningHub) -> None:
    token = _token(running)
    auth = _bearer(token)
    unknown = running.client.get(f"{PREFIX}/KetNoiMotCuaQuocGia/LayGiDo", headers=auth)
    assert "LayGiDo" in _refusal(unknown, 400, "13")["message"]
    share_by_post = running.client.post(
        f"{PREFIX}/KetNoiMotCuaQuocGia/LayThuTuc", json=[], headers=auth
    )
    assert "GET" in _refusal(share_by_post, 405, "17")["message"]
    assert share_by_post.headers["allow"] == "GET"
    push_by_get = running.client.get(f"{PREFIX}/DongBoHoSoMC", headers=auth)
    assert "POST" in _refusal(push_by_get, 405, "17")["message_en"]
    assert push_by_get.headers["allow"] == "POST"
    for query in (b"maTTHC=%00", b"maTTHC=%ED%A0%80", b"ma%00TTHC=1", b"maTTHC=%FF"):
        bad = running.client.get(
            f"{PREFIX}/KetNoiMotCuaQuocGia/LayThuTuc?{query.decode()}", headers=auth
        )
        assert "invalid character" in _refusal(bad, 400, "12")["message_en"]
    twice = _share(running, token, "LayThuTuc")
    twice = running.client.get(
        f"{PREFIX}/KetNoiMotCuaQuocGia/LayThuTuc?maTTHC=1&MATTHC=2", headers=auth
    )
    _refusal(twice, 400, "12")
    push = f"{PREFIX}/DongBoHoSoMC?isUpdating=False"
    not_json = running.client.post(
        push, content=b"[{", headers={**auth, "content-type": "application/json"}
    )
    _refusal(not_json, 400, "10")
    text = running.client.post(push, json="x", headers=auth)
    assert "array" in _refusal(text, 400, "12")["message_en"]
    wrong_type = running.client.post(
        push, content=b"[]", headers={**auth, "content-type": "text/plain"}
    )
    _refusal(wrong_type, 415, "11")
    nested = running.client.post(push, json=[[1, 2], 3], headers=auth)
    assert nested.status_code in (200, 422) and nested.json()["error_code"] != "99"
    huge = running.client.post(
        push, content=b"[" + b" " * running.settings.max_body_bytes + b"]", headers=auth
    )
    assert "at most" in _refusal(huge, 413, "14")["message_en"]
    many = running.client.post(push, json=[{}] * 5001, headers=auth)
    _refusal(many, 413, "16")
    other_unit = _push(running, token, "DongBoHoSoMC", [_dossier(6)], MaDinhDanhDV=OTHER_UNIT)
    _refusal(other_unit, 403, "30")
    lookup_only = _token(running, "chi_tra_cuu")
    not_granted = _push(running, lookup_only, "DongBoHoSoMC", [_dossier(6)], isUpdating="False")
    _refusal(not_granted, 403, "31")


# -- settings -----------------------------------------------------------------------------------


@pytest.fixture
def moved(engine: Engine) -> Iterator[RunningHub]:
    settings = HubSettings(
        port=free_port(), lgsp_prefix="/tinh/lgsp/", lgsp_aliases="GuiHoSo=DongBoHoSoMC"
    )
    hub = Hub(settings, engine=engine)
    hub.accounts.add("tinh_thanhhoa", PASSWORD, [UNIT])
    with serve(hub, settings) as running:
        yield running


def test_the_prefix_moves_the_routes(moved: RunningHub) -> None:
    grant = b"grant_type=client_credentials"
    headers = _basic("tinh_thanhhoa", PASSWORD)
    assert moved.client.post(f"{PREFIX}/token", content=grant, headers=headers).status_code == 404
    token = moved.client.post("/tinh/lgsp/token", content=grant, headers=headers)
    assert token.status_code == 200
    record = _dossier(7)
    pushed = moved.client.post(
        "/tinh/lgsp/GuiHoSo",
        params={"isUpdating": "False"},
        json=[record],
        headers=_bearer(token.json()["access_token"]),
    )
    assert [r["status"] for r in pushed.json()["records"]] == ["accepted"]
    # the default aliases gave way to the setting's
    old = moved.client.post("/tinh/lgsp/ThemMoiHoSo", json=[record], headers=_bearer("x"))
    _refusal(old, 400, "13")


def test_an_empty_prefix_closes_the_door(engine: Engine) -> None:
    settings = HubSettings(port=free_port(), lgsp_prefix="")
    hub = Hub(settings, engine=engine)
    hub.accounts.add("tinh_thanhhoa", PASSWORD, [UNIT])
    with serve(hub, settings) as running:
        token = running.client.post(
            f"{PREFIX}/token",
            content=b"grant_type=client_credentials",
            headers=_basic("tinh_thanhhoa", PASSWORD),
        )
        assert token.status_code == 404
        assert running.client.get(f"{PREFIX}/KetNoiMotCuaQuocGia/LayThuTuc").status_code == 404


def test_settings_that_name_no_path_or_no_service_stop_the_start() -> None:
    assert lgsp_prefix(HubSettings(lgsp_prefix="")) == ""
    assert lgsp_prefix(HubSettings(lgsp_prefix="/a/b/")) == "/a/b"
    for prefix in ("lgsp", "/", "/{x}"):
        with pytest.raises(ValueError, match="LIENTHONG_LGSP_PREFIX"):
            lgsp_prefix(HubSettings(lgsp_prefix=prefix))
    aliases = parse_aliases(HubSettings().lgsp_aliases)
    assert {name: (a.service, a.updating) for name, a in aliases.items()} == {
        "ThemMoiHoSo": ("DongBoHoSoMC", "False"),
        "CapNhatHoSo": ("DongBoHoSoMC", "True"),
        "CapNhatTienDo": ("CapNhatTienDoHoSoMC", None),
    }
    for text in ("A", "A=B:maybe", "=B", "A B=C"):
        with pytest.raises(ValueError, match="LIENTHONG_LGSP_ALIASES"):
            parse_aliases(text)


@pytest.mark.parametrize("aliases", ["X=LayThuTuc", "X=KhongCo", "LayThuTuc=DongBoHoSoMC"])
def test_an_alias_must_name_a_push_service(aliases: str, engine: Engine) -> None:
    hub = Hub(HubSettings(lgsp_aliases=aliases), engine=engine)
    from lienthong.hub.lgsp import Adapter

    with pytest.raises(ValueError, match="LIENTHONG_LGSP_ALIASES"):
        Adapter(hub)


def test_query_pairs_decode_utf8_and_refuse_what_cannot_be_stored() -> None:
    assert query_pairs(b"a=1&&b=x+y&c=%C4%90%E1%BB%93ng&d") == [
        ("a", "1"),
        ("b", "x y"),
        ("c", "Đồng"),
        ("d", ""),
    ]
    from lienthong.hub.errors import HubError

    for raw in (b"a=%00", b"a=%ED%A0%80", b"%FF=1", b"&".join([b"a=1"] * 65)):
        with pytest.raises(HubError):
            query_pairs(raw)
