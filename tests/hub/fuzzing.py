"""A seeded mutation fuzzer of the hub: valid samples of every packet and endpoint, then mutated.

Every request is derived from ``(seed, index)`` alone, so one failing request can be made again;
a failure is reported with the seed and the exact bytes sent.
"""

from __future__ import annotations

import base64
import json
import random
import socket
from dataclasses import dataclass, field
from typing import Any

from lienthong.spec import load_catalog
from lienthong.spec.samples import sample

#: The largest answer allowed for a request: a constant part plus a part per record sent.
ANSWER_BASE_BYTES = 128 * 1024
ANSWER_BYTES_PER_RECORD = 1024

#: Answer codes of a success or a partial success: HTTP 200 whatever the code's table says.
SUCCESS_CODES = ("00", "01", "3")

UNIT = "000.00.00.H56"


@dataclass(frozen=True)
class Raw:
    """JSON text written as is (numbers JSON cannot hold, NaN, escapes orjson refuses)."""

    text: str


@dataclass
class FuzzRequest:
    kind: str
    """``json`` (an API endpoint), ``adapter`` (the adapters' door: a share's success has its
    result as ``message`` and no ``message_en``), ``token`` (its token), ``form`` (a form post)
    or ``page``."""
    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    records: int = 0
    raw_length: str | None = None
    """A Content-Length header to send instead of the body's length (sent over a raw socket)."""

    def replay(self, seed: int, index: int) -> str:
        return (
            f"seed={seed} index={index}: {self.method} {self.path} headers={self.headers!r} "
            f"content_length={self.raw_length!r} body={self.body[:2000]!r}"
            + (f" ... ({len(self.body)} bytes)" if len(self.body) > 2000 else "")
        )


def dumps(value: Any) -> str:
    """JSON text of ``value``; :class:`Raw` parts as is, strings with ASCII escapes (so a lone
    surrogate becomes ``\\ud800``)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=True)


def _hostile_value(rng: random.Random) -> Any:
    choices: list[Any] = [
        Raw("9" * rng.choice([20, 400, 5000])),
        Raw("-" + "9" * rng.choice([3, 30, 3000])),
        Raw("1e400"),
        Raw("NaN"),
        Raw("Infinity"),
        Raw("-Infinity"),
        Raw('"\\ud800"'),
        Raw('"a\\udfffb"'),
        Raw('"\\u0000"'),
        "\x00",
        "\x1b[2J",
        "".join(chr(rng.randrange(0, 32)) for _ in range(8)),
        "x" * rng.choice([65, 300, 20_000]),
        "9" * rng.choice([15, 4000]),
        "0",
        "-1",
        "10000",
        "1000000001",
        "",
        " ",
        None,
        True,
        0,
        -1,
        2**63,
        1.5,
        [],
        {},
        [1, "a", None],
        {"a": {"b": []}},
        "🙂" * 50,
        "' OR 1=1 --",
        "<script>alert(1)</script>",
    ]
    return rng.choice(choices)


def _signature_header(rng: random.Random) -> str:
    """A hostile ``X-Lienthong-Signature``: garbage, truncated, of another format, too long."""
    noise = base64.b64encode(rng.randbytes(rng.choice([0, 3, 64, 900]))).decode("ascii")
    # a DER SEQUENCE header that claims more than follows, and a CMS-shaped prefix
    claimed = base64.b64encode(bytes([0x30, 0x82, 0xFF, 0xFF]) + rng.randbytes(40)).decode()
    # values an HTTP client can send (no control characters, no surrounding blanks)
    return rng.choice(
        [
            f"cades; {noise}",
            f"cades; {noise[: max(1, len(noise) // 2)]}",
            f"cades; {claimed}",
            "cades;",
            f"jws; {noise}..{noise}",
            "jws; eyJhbGciOiJub25lIn0..",
            "jws; eyJhbGciOiJIUzI1NiIsImI2NCI6ZmFsc2V9..AAAA",
            f"xades; {noise}",
            "cades; " + "A" * 12_000,
            "; cades",
        ]
    ).strip()  # what an HTTP client can send: no control characters, no surrounding blanks


def _deep(depth: int) -> Raw:
    return Raw("[" * depth + "]" * depth)


def mutate(value: Any, rng: random.Random, budget: int = 3) -> Any:
    """``value`` with one to ``budget`` random changes deep inside it."""
    for _ in range(rng.randint(1, budget)):
        value = _mutate_once(value, rng)
    return value


def _mutate_once(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict) and value and rng.random() < 0.7:
        key = rng.choice(list(value))
        action = rng.random()
        copy = dict(value)
        if action < 0.15:
            del copy[key]
        elif action < 0.25:
            copy[_hostile_key(rng)] = _hostile_value(rng)
        elif action < 0.7:
            copy[key] = _hostile_value(rng)
        else:
            copy[key] = _mutate_once(copy[key], rng)
        return copy
    if isinstance(value, list) and value and rng.random() < 0.7:
        action = rng.random()
        items = list(value)
        if action < 0.2:
            return items * rng.choice([2, 50, 1500])
        if action < 0.3:
            return []
        index = rng.randrange(len(items))
        items[index] = _mutate_once(items[index], rng) if action < 0.8 else _hostile_value(rng)
        return items
    if rng.random() < 0.05:
        return _deep(rng.choice([100, 1000, 20_000]))
    return _hostile_value(rng)


def _hostile_key(rng: random.Random) -> str | Raw:
    return rng.choice(["", "\x00", "x" * 500, "__proto__", "data", "service"])


def _with_raw_keys(text: str, rng: random.Random) -> str:
    """Duplicated or surrogate keys, written in the text (a dict cannot hold them)."""
    if not text.startswith("{"):
        return text
    extra = rng.choice(
        [
            '"service":"KhongCo",',
            '"madonvi":"000.00.00.H60",',
            '"session":"x",',
            '"\\ud800":1,',
            '"data":[],',
        ]
    )
    return "{" + extra + text[1:] if rng.random() < 0.5 else text[:-1] + "," + extra[:-1] + "}"


def _byte_mutation(body: bytes, rng: random.Random) -> bytes:
    action = rng.random()
    if action < 0.25 and body:
        return body[: rng.randrange(len(body))]
    if action < 0.5:
        at = rng.randrange(len(body) + 1)
        return (
            body[:at]
            + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\xfe\xff"])
            + body[at:]
        )
    if action < 0.6:
        return b"\xef\xbb\xbf" + body
    if action < 0.8:
        return rng.choice([b"", b"null", b"[]", b'"x"', b"1", b"{", b"}", b"{}" * 3, b"[" * 5000])
    return body


class Fuzzer:
    """Builds the ``index``-th request of the run of ``seed``."""

    def __init__(self, seed: int, session: str, paths: dict[str, str]) -> None:
        self.seed = seed
        self.session = session
        self.paths = paths
        catalog = load_catalog()
        self.envelopes: dict[str, dict[str, Any]] = {}
        for name, packet in catalog.packets.items():
            request = dict(sample(packet, catalog)["request"])
            request.update(session=session, madonvi=UNIT)
            self.envelopes[name] = request
        self.citizen = {
            "/api/cong-dan/pakn": {
                "MaDonViXuLy": UNIT,
                "TieuDe": "Đường hỏng",
                "NoiDungPAKN": "Đường trước nhà bị hỏng.",
                "Ten": "Nguyễn Văn An",
                "Email": "an@example.vn",
            },
            "/api/cong-dan/hoi-dap": {
                "MADONVI": UNIT,
                "NOIDUNG": "Thủ tục cấp giấy phép xây dựng cần giấy tờ gì?",
                "HOVATEN": "Nguyễn Văn An",
                "THUDIENTU": "an@example.vn",
            },
        }
        self.forms = {
            "/pakn/gui": self.citizen["/api/cong-dan/pakn"],
            "/hoi-dap/gui": self.citizen["/api/cong-dan/hoi-dap"],
        }

    def request(self, index: int) -> FuzzRequest:
        rng = random.Random(f"{self.seed}:{index}")
        roll = rng.random()
        if roll < 0.45:
            return self._envelope(rng)
        if roll < 0.55:
            return self._adapter(rng)
        if roll < 0.65:
            return self._login(rng)
        if roll < 0.8:
            return self._citizen_api(rng)
        if roll < 0.9:
            return self._form(rng)
        return self._page(rng)

    def _json_request(self, rng: random.Random, path: str, value: Any) -> FuzzRequest:
        records = (
            len(value.get("data", []))
            if isinstance(value, dict) and isinstance(value.get("data"), list)
            else 0
        )
        if rng.random() < 0.05:
            value = rng.choice([[value], "x", 1, None, [], _deep(5000)])
        text = dumps(value)
        if rng.random() < 0.1:
            text = _with_raw_keys(text, rng)
        body = text.encode("utf-8", "surrogatepass")
        if rng.random() < 0.1:
            body = _byte_mutation(body, rng)
        headers = {"content-type": "application/json"}
        roll = rng.random()
        if roll < 0.04:
            headers["content-type"] = rng.choice(
                ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "\x7f"]
            )
        elif roll < 0.06:
            del headers["content-type"]
        if rng.random() < 0.08:
            headers["x-lienthong-signature"] = _signature_header(rng)
        raw_length = None
        if rng.random() < 0.03:
            raw_length = rng.choice([str(2**31), str(2**63), str(2**64 + 5)])  # h11 refuses others
        return FuzzRequest("json", "POST", path, body, headers, records, raw_length)

    def _envelope(self, rng: random.Random) -> FuzzRequest:
        name = rng.choice(sorted(self.envelopes))
        value: Any = dict(self.envelopes[name])
        if rng.random() < 0.9:
            value = mutate(value, rng)
        if rng.random() < 0.05 and isinstance(value, dict):
            value["data"] = [{} for _ in range(rng.choice([0, 2000]))]
        path = self.paths["integration"] if rng.random() < 0.8 else self.paths["share"]
        return self._json_request(rng, path, value)

    def _adapter(self, rng: random.Random) -> FuzzRequest:
        """The provincial adapters' door: a token, a push of a bare array, a share by GET."""
        from urllib.parse import quote

        prefix = self.paths["lgsp"]
        roll = rng.random()
        if roll < 0.2:
            form = {
                "grant_type": "client_credentials",
                "client_id": "khong_co",
                "client_secret": "x",
            }
            value = mutate(form, rng, 2)
            body = "&".join(
                f"{quote(str(k), errors='surrogatepass')}="
                f"{quote(v if isinstance(v, str) else dumps(v), errors='surrogatepass')}"
                for k, v in (value.items() if isinstance(value, dict) else [])
            ).encode("ascii")
            if rng.random() < 0.2:
                body = _byte_mutation(body, rng)
            headers = {"content-type": "application/x-www-form-urlencoded"}
            if rng.random() < 0.3:
                headers["authorization"] = rng.choice(
                    ["Basic %%%", "Basic " + "QQ==", "Bearer x", "Basic a2hvbmc6eA==", "\x7f"]
                )
            if rng.random() < 0.1:
                headers["content-type"] = rng.choice(["application/json", "text/plain", ""])
            method = "POST" if rng.random() < 0.9 else rng.choice(["GET", "PUT", "DELETE"])
            return FuzzRequest("token", method, f"{prefix}/token", body, headers)
        name = rng.choice([*sorted(self.envelopes), "ThemMoiHoSo", "CapNhatTienDo", "KhongCo"])
        if rng.random() < 0.05:
            name = rng.choice(["%00", "%ed%a0%80", "x" * 300, "%ff", "token%20"])
        envelope = self.envelopes.get(name, {})
        query = {
            key: value
            for key, value in envelope.items()
            if key not in ("session", "madonvi", "service", "data")
        }
        query["MaDinhDanhDV"] = UNIT
        if rng.random() < 0.6:
            key = rng.choice([*query, "isUpdating", "MADINHDANHDV", "x"])
            query[key] = rng.choice(
                ["%00", "%ed%a0%80", "%ff", "", "9" * 400, "x" * 5000, "maybe", "1", "%1b[2J"]
            )
        text = "&".join(
            f"{quote(str(k))}={v if isinstance(v, str) and '%' in v else quote(str(v))}"
            for k, v in query.items()
        )
        headers = {"authorization": f"Bearer {self.session}"}
        if rng.random() < 0.1:
            headers["authorization"] = rng.choice(["Bearer", "Bearer x", "Basic x", ""])
        share = rng.random() < 0.5
        path = f"{prefix}/KetNoiMotCuaQuocGia/{name}" if share else f"{prefix}/{name}"
        data = envelope.get("data", [{}])
        value: Any = mutate(data, rng) if rng.random() < 0.8 else data
        request = self._json_request(rng, f"{path}?{text}", value)
        request.headers.update(headers)
        request.kind = "adapter"
        request.method = "GET" if share and rng.random() < 0.9 else "POST"
        request.records = len(value) if isinstance(value, list) else 1
        return request

    def _login(self, rng: random.Random) -> FuzzRequest:
        if rng.random() < 0.3:  # a logout, never of the fuzzer's own session
            token: Any = {"session": "khong_co_" + str(rng.randrange(10**6))}
            return self._json_request(rng, self.paths["logout"], mutate(token, rng, 2))
        value: Any = {"username": "khong_co_" + str(rng.randrange(10**6)), "password": "sai"}
        value = mutate(value, rng, 2)
        return self._json_request(rng, self.paths["login"], value)

    def _citizen_api(self, rng: random.Random) -> FuzzRequest:
        path = rng.choice(sorted(self.citizen))
        value = mutate(dict(self.citizen[path]), rng) if rng.random() < 0.9 else self.citizen[path]
        return self._json_request(rng, path, value)

    def _form(self, rng: random.Random) -> FuzzRequest:
        from urllib.parse import quote

        path = rng.choice(sorted(self.forms))
        values: dict[str, Any] = dict(self.forms[path])
        key = rng.choice(list(values))
        hostile = rng.choice(["\x00", "\ud800", "x" * 20_000, "%ff", "", "\x1b[2J", "9" * 500])
        values[key] = hostile
        body = "&".join(
            f"{quote(str(k))}={quote(str(v), errors='surrogatepass')}"
            if isinstance(v, str)
            else f"{k}=1"
            for k, v in values.items()
        ).encode("ascii", "surrogateescape")
        if rng.random() < 0.2:
            body = _byte_mutation(body, rng)
        headers = {"content-type": "application/x-www-form-urlencoded"}
        if rng.random() < 0.1:
            headers["content-type"] = rng.choice(["application/json", "multipart/form-data", "x"])
        return FuzzRequest("form", "POST", path, body, headers)

    def _page(self, rng: random.Random) -> FuzzRequest:
        path, param = rng.choice(
            [("/tra-cuu", "mahoso"), ("/pakn", "tukhoa"), ("/pakn", "trang"), ("/hoi-dap", "nguon"),
             ("/hoi-dap", "trang"), ("/hoi-dap", "tukhoa")]
        )  # fmt: skip
        value = rng.choice(
            ["%00", "%ff%fe", "%ed%a0%80", "9" * 400, "-1", "0", "x" * 5000, "%1b%5b2J", "'%22<>",
             "1e9", "99999999999999999999", "%20"]
        )  # fmt: skip
        return FuzzRequest("page", "GET", f"{path}?{param}={value}")


def send_raw(host: str, port: int, request: FuzzRequest) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` with its own Content-Length header over a plain socket."""
    head = (
        f"{request.method} {request.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Length: {request.raw_length}\r\nConnection: close\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
        + "\r\n"
    )
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(head.encode("latin-1") + request.body)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    header_bytes, _, body = raw.partition(b"\r\n\r\n")
    lines = header_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body
