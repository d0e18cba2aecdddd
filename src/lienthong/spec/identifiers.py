"""Format checks for the identifiers carried by QCVN 120 packets.

Sources (see the steering repository's shared/spec/regulations.md §2):

* QCVN 102:2016/BTTTT (TT 10/2016/TT-BTTTT, amended by TT 01/2022/TT-BTTTT): agency code
  ``V1V2V3.Z1Z2.Y1Y2.MX1X2`` read right to left (level 1 ``MX1X2`` .. level 4 ``V1V2V3``),
  zero-filled where a level does not apply. Example ``000.00.12.H19``.
* QĐ 20/2020/QĐ-TTg, amended by QĐ 09/2025/QĐ-TTg: electronic identifier of agencies, at most
  35 characters from ``.``, ``0-9``, ``A-Z``; dot-separated groups growing from left to right,
  the leftmost group being the level-1 code. Example ``G09.20``. QĐ 09/2025 rewrote the
  level-1 table after the 2025 ministry mergers; the 2025 province merger closed 29 H codes.
  The level-1 table is data: ``spec/data/agencies.yaml`` (see :class:`AgencyRegistry`).
* TT 01/2018/TT-VPCP Art. 19 (under NĐ 61/2018/NĐ-CP Art. 26): dossier code
  ``<QCVN 102 unit>-YYMMDD-XXXX``. The later ``<QĐ 20 unit>-YYYYMMDD-NNNNNNN`` form seen on
  ministry portals in 2026 is accepted as well (legal basis not confirmed).
* NĐ 137/2015/NĐ-CP: 12-digit personal identification number ``PPP G YY RRRRRR``, where ``G``
  encodes the birth century and sex.
* Social insurance number (mã số BHXH): 10 digits, as routed by public lookup code.

Rules marked [INFER] in the regulations file (hierarchy rule, lenient level-2..4 characters,
sequence ``0000`` invalid) are implemented as proposed there.

Every ``check_*`` function returns ``None`` when the value is acceptable and an
:class:`IdentifierProblem` otherwise; it never raises on any ``str`` input. Problems whose
code is in :data:`WARNING_CODES` are warnings, the others are errors. Messages never repeat
personal data from the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import cache, lru_cache
from importlib import resources
from typing import Any, Literal

import yaml

try:  # libyaml is ten times faster; fall back to the pure-Python loader without it
    from yaml import CSafeLoader as _YamlLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _YamlLoader  # type: ignore[assignment]

__all__ = [
    "WARNING_CODES",
    "AgencyCode",
    "AgencyGroup",
    "AgencyRegistry",
    "DossierCode",
    "IdentifierProblem",
    "Level1Agency",
    "agency_is_within",
    "agency_registry",
    "check_agency_code",
    "check_agency_open",
    "check_dossier_code",
    "check_email",
    "check_linhvuc_code",
    "check_month_year",
    "check_percent",
    "check_personal_id",
    "check_phone",
    "check_social_insurance",
    "check_tthc_code",
    "check_url",
    "is_not_a_number",
    "parse_agency_code",
    "parse_dossier_code",
    "parse_percent",
    "personal_id_birth",
]


@dataclass(frozen=True, slots=True)
class IdentifierProblem:
    """One finding about an identifier: a stable code and a bilingual message."""

    code: str
    vi: str
    en: str


#: Problem codes that are warnings (the value may still be right); all others are errors.
WARNING_CODES: frozenset[str] = frozenset({"agency.unknown_level1", "percent.not_a_number"})

#: Vietnam has used UTC+7 without daylight saving since 1975; a fixed offset avoids a tzdata
#: dependency.
_VN_TZ = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")

_CACHE_SIZE = 4096

# --------------------------------------------------------------------------------------------
# Precompiled patterns. ASCII-only classes so that non-ASCII digits never pass; always used with
# fullmatch so that a trailing newline never passes either.
# --------------------------------------------------------------------------------------------

_AGENCY_MAX_LEN = 35
_QCVN102_RE = re.compile(r"([0-9A-Z]{3})\.([0-9A-Z]{2})\.([0-9A-Z]{2})\.([A-K][0-9]{2})")
_QD20_RE = re.compile(r"[A-K][0-9]{2}(?:\.[0-9A-Z]+)*")
_LEVEL1_RE = re.compile(r"[A-K][0-9]{2}")

_DOSSIER_MAX_LEN = _AGENCY_MAX_LEN + 1 + 8 + 1 + 7
_DOSSIER_TT01_RE = re.compile(
    r"([0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-K][0-9]{2})-([0-9]{2})([0-9]{2})([0-9]{2})-([0-9]{4})"
)
_DOSSIER_NEW_RE = re.compile(
    r"([A-K][0-9]{2}(?:\.[0-9A-Z]+)*)-([0-9]{4})([0-9]{2})([0-9]{2})-([0-9]{7})"
)

_TTHC_RE = re.compile(r"[0-9]\.[0-9]{6}(?:\.[0-9A-Z]{3}\.[0-9A-Z]{2}\.[0-9A-Z]{2}\.[A-K][0-9]{2})?")
_LINHVUC_RE = re.compile(r"[A-K][0-9]{2}-[0-9A-Z]{1,10}")
_PERSONAL_ID_RE = re.compile(r"[0-9]{12}")
_SOCIAL_INSURANCE_RE = re.compile(r"[0-9]{10}")

_EMAIL_MAX_LEN = 254
_EMAIL_LOCAL_MAX_LEN = 64
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?"
_EMAIL_RE = re.compile(
    rf"{_ATEXT}+(?:\.{_ATEXT}+)*@(?:{_LABEL}\.)+(?:[^\W\d_]{{2,63}}|xn--[A-Za-z0-9-]{{1,59}})"
)

_PHONE_MAX_LEN = 32
_PHONE_SEPARATORS = str.maketrans("", "", " .-()")
_PHONE_RE = re.compile(r"(?:0|\+84)[1-9][0-9]{8,9}|1[89]00[0-9]{4,6}")

_URL_RE = re.compile(
    rf"[Hh][Tt][Tt][Pp][Ss]?://"
    rf"(?:{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9A-Fa-f:.]+\])"
    r"(?::[0-9]{1,5})?"
    r"(?:[/?#][^\s\x00-\x1f\x7f\ud800-\udfff]*)?"
)

# Fast-accept patterns: ASCII-only subsets of the full patterns above, tried first because most
# values are plain ASCII; a value they refuse still goes through the full pattern.
_HOST_ASCII = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL_FAST_RE = re.compile(
    rf"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@{_HOST_ASCII}(?:\.{_HOST_ASCII})*\.[A-Za-z]{{2,63}}"
)
_URL_FAST_RE = re.compile(
    rf"[Hh][Tt][Tt][Pp][Ss]?://{_HOST_ASCII}(?:\.{_HOST_ASCII})*(?::[0-9]{{1,5}})?(?:[/?#][!-~]*)?"
)

_PERCENT_RE = re.compile(r"([0-9]{1,3}(?:\.[0-9]{1,10})?)(?: ?%)?")
_MONTH_YEAR_RE = re.compile(r"(0?[1-9]|1[0-2])-([0-9]{4})")


# --------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------


def _problem(code: str, vi: str, en: str) -> IdentifierProblem:
    return IdentifierProblem(code=code, vi=vi, en=en)


_P_AGENCY_FORMAT = _problem(
    "agency.format",
    "Mã cơ quan không đúng định dạng QCVN 102 (000.00.00.G22) hoặc QĐ 20/2020 (G09.20)",
    "Agency code is neither QCVN 102 (000.00.00.G22) nor QĐ 20/2020 (G09.20, uppercase, "
    "at most 35 characters)",
)
_P_AGENCY_HIERARCHY = _problem(
    "agency.hierarchy",
    "Mã cơ quan sai phân cấp: cấp dưới chỉ có khi cấp trên khác 00 (ví dụ 000.00.12.H19)",
    "Agency code breaks the hierarchy: a lower level needs a non-zero parent level "
    "(e.g. 000.00.12.H19)",
)
_P_DOSSIER_FORMAT = _problem(
    "dossier_code.format",
    "Mã hồ sơ không đúng định dạng TT 01/2018 (000.00.12.H19-200101-0001) "
    "hoặc G09.20-20260609-0092637",
    "Dossier code is neither TT 01/2018 (000.00.12.H19-200101-0001) nor G09.20-20260609-0092637",
)
_P_DOSSIER_BAD_DATE = _problem(
    "dossier_code.date",
    "Ngày tiếp nhận trong mã hồ sơ không phải ngày hợp lệ (YYMMDD hoặc YYYYMMDD)",
    "The receipt date in the dossier code is not a real calendar date (YYMMDD or YYYYMMDD)",
)
_P_DOSSIER_FUTURE = _problem(
    "dossier_code.date",
    "Ngày tiếp nhận trong mã hồ sơ ở tương lai",
    "The receipt date in the dossier code is in the future",
)
_P_DOSSIER_SEQUENCE = _problem(
    "dossier_code.sequence",
    "Số thứ tự trong mã hồ sơ phải khác 0 (0001-9999 hoặc 0000001-9999999)",
    "The sequence number in the dossier code must not be zero (0001-9999 or 0000001-9999999)",
)
_P_TTHC_FORMAT = _problem(
    "tthc_code.format",
    "Mã thủ tục hành chính không đúng định dạng (1.001612 hoặc 3.000181.000.00.00.H22)",
    "Administrative procedure code must look like 1.001612 or 3.000181.000.00.00.H22",
)
_P_LINHVUC_FORMAT = _problem(
    "linhvuc_code.format",
    "Mã lĩnh vực không đúng định dạng mã cấp 1 + '-' + mã lĩnh vực (ví dụ G09-TL01)",
    "Field code must be a level-1 code, '-', and 1-10 uppercase letters or digits (e.g. G09-TL01)",
)
_P_PERSONAL_ID_FORMAT = _problem(
    "personal_id.format",
    "Số định danh cá nhân phải gồm đúng 12 chữ số",
    "Personal identification number must be exactly 12 digits",
)
_P_PERSONAL_ID_CENTURY = _problem(
    "personal_id.century",
    "Số định danh cá nhân không khớp năm sinh hoặc giới tính "
    "(chữ số thứ 4 là mã thế kỷ và giới tính, chữ số 5-6 là năm sinh)",
    "Personal identification number does not match the birth year or sex "
    "(digit 4 encodes century and sex, digits 5-6 the year)",
)
_P_SOCIAL_INSURANCE_FORMAT = _problem(
    "social_insurance.format",
    "Mã số bảo hiểm xã hội phải gồm đúng 10 chữ số",
    "Social insurance number must be exactly 10 digits",
)
_P_EMAIL_FORMAT = _problem(
    "email.format",
    "Địa chỉ thư điện tử không hợp lệ (ví dụ ten@coquan.gov.vn)",
    "Invalid e-mail address (e.g. name@agency.gov.vn)",
)
_P_PHONE_FORMAT = _problem(
    "phone.format",
    "Số điện thoại không hợp lệ (0 hoặc +84 và 9-10 chữ số, ví dụ 0912345678, 0237 3852 123)",
    "Invalid phone number (0 or +84 followed by 9-10 digits, e.g. 0912345678, 0237 3852 123)",
)
_P_URL_FORMAT = _problem(
    "url.format",
    "Địa chỉ URL không hợp lệ (http:// hoặc https://, không có khoảng trắng)",
    "Invalid URL (http:// or https://, no spaces)",
)
_P_PERCENT_FORMAT = _problem(
    "percent.format",
    "Tỷ lệ phần trăm phải là số từ 0 đến 100 (ví dụ 97.50 hoặc 71%)",
    "Percentage must be a number from 0 to 100 (e.g. 97.50 or 71%)",
)
_P_PERCENT_NOT_A_NUMBER = _problem(
    "percent.not_a_number",
    "Tỷ lệ không phải là số (NaN, Infinity: chia cho 0 ở một tháng không có hồ sơ); không lưu giá trị này",
    "The percentage is not a number (NaN, Infinity: 0/0 in a month without dossiers); no value is stored",
)
#: What a client's division by zero writes for a percentage (JavaScript, Java, .NET spellings).
NOT_A_NUMBER = frozenset(
    {"nan", "infinity", "+infinity", "-infinity", "inf", "+inf", "-inf", "∞", "-∞", "+∞"}
)
_P_MONTH_YEAR_FORMAT = _problem(
    "month_year.format",
    "Tháng-năm không đúng định dạng M-yyyy hoặc MM-yyyy (ví dụ 7-2024)",
    "Month-year must be M-yyyy or MM-yyyy (e.g. 7-2024)",
)


@lru_cache(maxsize=256)
def _p_unknown_level1(level1: str) -> IdentifierProblem:
    return _problem(
        "agency.unknown_level1",
        f"Mã cấp 1 {level1} không có trong danh mục mã định danh cấp 1",
        f"Level-1 code {level1} is not in the level-1 agency registry",
    )


def _p_closed(agency: Level1Agency, closed: date) -> IdentifierProblem:
    vi = f"Mã cấp 1 {agency.code} đã ngừng sử dụng từ ngày {closed:%d/%m/%Y}"
    en = f"Level-1 code {agency.code} closed on {closed.isoformat()}"
    if agency.successor:
        vi += f"; mã thay thế: {agency.successor}"
        en += f"; successor: {agency.successor}"
    return _problem("agency.closed", vi, en)


def _p_not_yet_valid(agency: Level1Agency, start: date) -> IdentifierProblem:
    # Reported under "agency.closed" too: the code is not open on that date.
    return _problem(
        "agency.closed",
        f"Mã cấp 1 {agency.code} chỉ có hiệu lực từ ngày {start:%d/%m/%Y}",
        f"Level-1 code {agency.code} is valid only from {start.isoformat()}",
    )


# --------------------------------------------------------------------------------------------
# Agency registry (level-1 codes)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgencyGroup:
    """A level-1 letter group (A..K)."""

    letter: str
    vi: str
    en: str


@dataclass(frozen=True, slots=True)
class Level1Agency:
    """One level-1 code with its validity interval [valid_from, valid_to)."""

    code: str
    vi: str
    en: str
    valid_from: date | None
    valid_to: date | None
    successor: str | None
    confidence: str
    source: str = ""
    note: str | None = None

    def is_open(self, on: date) -> bool:
        """True when the code is valid on ``on`` (``valid_to`` is the first invalid day)."""
        if self.valid_from is not None and on < self.valid_from:
            return False
        return self.valid_to is None or on < self.valid_to


def _as_date(value: object, where: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"{where}: not an ISO date: {value!r}") from exc
    raise ValueError(f"{where}: not an ISO date: {value!r}")


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a string, got {value!r}")
    return value


def _optional_text(value: object, where: str) -> str | None:
    return None if value is None else _text(value, where)


class AgencyRegistry:
    """The level-1 agency table (``agencies.yaml``): letter groups and level-1 codes."""

    __slots__ = ("_by_code", "_groups")

    def __init__(self, groups: Iterable[AgencyGroup], level1: Iterable[Level1Agency]) -> None:
        self._groups: tuple[AgencyGroup, ...] = tuple(groups)
        by_code: dict[str, Level1Agency] = {}
        for agency in level1:
            if agency.code in by_code:
                raise ValueError(f"duplicate level-1 code {agency.code}")
            by_code[agency.code] = agency
        self._by_code = by_code

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> AgencyRegistry:
        """Build a registry from the parsed YAML document; raises ``ValueError`` if malformed."""
        groups_raw = data.get("groups") or []
        level1_raw = data.get("level1") or []
        if not isinstance(groups_raw, list) or not isinstance(level1_raw, list):
            raise ValueError("agencies: 'groups' and 'level1' must be lists")
        groups: list[AgencyGroup] = []
        for i, item in enumerate(groups_raw):
            where = f"groups[{i}]"
            if not isinstance(item, Mapping):
                raise ValueError(f"{where}: expected a mapping")
            groups.append(
                AgencyGroup(
                    letter=_text(item.get("letter"), f"{where}.letter"),
                    vi=_text(item.get("vi"), f"{where}.vi"),
                    en=_text(item.get("en"), f"{where}.en"),
                )
            )
        agencies: list[Level1Agency] = []
        for i, item in enumerate(level1_raw):
            where = f"level1[{i}]"
            if not isinstance(item, Mapping):
                raise ValueError(f"{where}: expected a mapping")
            code = _text(item.get("code"), f"{where}.code")
            if _LEVEL1_RE.fullmatch(code) is None:
                raise ValueError(f"{where}.code: not a level-1 code: {code!r}")
            successor = _optional_text(item.get("successor"), f"{where}.successor")
            if successor is not None and _LEVEL1_RE.fullmatch(successor) is None:
                raise ValueError(f"{where}.successor: not a level-1 code: {successor!r}")
            agencies.append(
                Level1Agency(
                    code=code,
                    vi=_text(item.get("vi"), f"{where}.vi"),
                    en=_text(item.get("en"), f"{where}.en"),
                    valid_from=_as_date(item.get("valid_from"), f"{where}.valid_from"),
                    valid_to=_as_date(item.get("valid_to"), f"{where}.valid_to"),
                    successor=successor,
                    confidence=_text(item.get("confidence"), f"{where}.confidence"),
                    source=_optional_text(item.get("source"), f"{where}.source") or "",
                    note=_optional_text(item.get("note"), f"{where}.note"),
                )
            )
        return cls(groups, agencies)

    @classmethod
    def load_default(cls) -> AgencyRegistry:
        """Load the registry shipped in ``lienthong/spec/data/agencies.yaml``."""
        resource = resources.files("lienthong.spec") / "data" / "agencies.yaml"
        data = yaml.load(resource.read_text(encoding="utf-8"), Loader=_YamlLoader)
        if not isinstance(data, Mapping):
            raise ValueError("agencies.yaml: expected a mapping at the top level")
        return cls.from_mapping(data)

    def level1(self, code: str) -> Level1Agency | None:
        """The entry for a level-1 code such as ``"G22"``, or ``None`` when unknown."""
        return self._by_code.get(code)

    def is_open(self, code: str, on: date) -> bool:
        """True when ``code`` is a known level-1 code valid on ``on``; unknown codes are not."""
        agency = self._by_code.get(code)
        return agency is not None and agency.is_open(on)

    def closed_on(self, code: str) -> date | None:
        """First day on which ``code`` is no longer valid (``None``: open or unknown)."""
        agency = self._by_code.get(code)
        return None if agency is None else agency.valid_to

    def groups(self) -> list[AgencyGroup]:
        return list(self._groups)

    def all_level1(self) -> list[Level1Agency]:
        return list(self._by_code.values())

    def open_level1(self, on: date) -> list[Level1Agency]:
        """The level-1 codes valid on ``on``."""
        return [a for a in self._by_code.values() if a.is_open(on)]

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __len__(self) -> int:
        return len(self._by_code)


@cache
def agency_registry() -> AgencyRegistry:
    """The shipped level-1 registry, loaded once on first use."""
    return AgencyRegistry.load_default()


# --------------------------------------------------------------------------------------------
# Agency codes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgencyCode:
    """A parsed agency code in either format.

    ``levels`` runs from level 1 down and keeps only non-zero groups, so the same unit written
    in both formats compares equal: ``000.00.20.G09`` and ``G09.20`` both give
    ``("G09", "20")``.
    """

    text: str
    style: Literal["qcvn102", "qd20"]
    level1: str
    levels: tuple[str, ...]

    def is_within(self, other: AgencyCode) -> bool:
        """True if this unit is ``other`` or lies under it in the hierarchy (any format)."""
        n = len(other.levels)
        return len(self.levels) >= n and self.levels[:n] == other.levels


@lru_cache(maxsize=_CACHE_SIZE)
def _analyse_agency(value: str) -> tuple[AgencyCode | None, IdentifierProblem | None]:
    """Parse and check one agency code (value already known to be a str of sane length)."""
    match = _QCVN102_RE.fullmatch(value)
    code: AgencyCode
    if match is not None:
        l4, l3, l2, l1 = match.groups()
        z2, z3, z4 = l2 == "00", l3 == "00", l4 == "000"
        if (z2 and not (z3 and z4)) or (z3 and not z4):
            return None, _P_AGENCY_HIERARCHY
        levels: tuple[str, ...]
        if z2:
            levels = (l1,)
        elif z3:
            levels = (l1, l2)
        elif z4:
            levels = (l1, l2, l3)
        else:
            levels = (l1, l2, l3, l4)
        code = AgencyCode(value, "qcvn102", l1, levels)
    elif _QD20_RE.fullmatch(value) is not None:
        first, *rest = value.split(".")
        levels = (first, *[g for g in rest if g.strip("0")])
        code = AgencyCode(value, "qd20", first, levels)
    else:
        return None, _P_AGENCY_FORMAT
    if code.level1 not in agency_registry():
        return code, _p_unknown_level1(code.level1)
    return code, None


def parse_agency_code(value: str) -> AgencyCode | None:
    """Parse a QCVN 102 or QĐ 20/2020 agency code; ``None`` when malformed.

    A code that breaks the QCVN 102 hierarchy rule is malformed. An unknown level-1 code is
    not: it parses (``check_agency_code`` reports it as a warning).
    """
    if not isinstance(value, str) or len(value) > _AGENCY_MAX_LEN:
        return None
    return _analyse_agency(value)[0]


def check_agency_code(value: str) -> IdentifierProblem | None:
    """``agency.format``, ``agency.hierarchy`` or (warning) ``agency.unknown_level1``."""
    if not isinstance(value, str) or len(value) > _AGENCY_MAX_LEN:
        return _P_AGENCY_FORMAT
    return _analyse_agency(value)[1]


def agency_is_within(child: str, parent: str) -> bool:
    """True if ``child`` equals ``parent`` or lies under it; False if either is malformed."""
    c = parse_agency_code(child)
    p = parse_agency_code(parent)
    return c is not None and p is not None and c.is_within(p)


@lru_cache(maxsize=_CACHE_SIZE)
def _check_agency_open(value: str, on: date) -> IdentifierProblem | None:
    parsed = _analyse_agency(value)[0]
    if parsed is None:
        return None
    agency = agency_registry().level1(parsed.level1)
    if agency is None:
        return None
    if agency.valid_to is not None and on >= agency.valid_to:
        return _p_closed(agency, agency.valid_to)
    if agency.valid_from is not None and on < agency.valid_from:
        return _p_not_yet_valid(agency, agency.valid_from)
    return None


def check_agency_open(value: str, on: date) -> IdentifierProblem | None:
    """``agency.closed`` when the level-1 code of ``value`` is closed on ``on``.

    A code used before its ``valid_from`` is reported the same way. Malformed codes
    and unknown level-1 codes give ``None`` here: :func:`check_agency_code` reports them.
    """
    if not isinstance(value, str) or len(value) > _AGENCY_MAX_LEN:
        return None
    if isinstance(on, datetime):
        on = on.date()
    elif not isinstance(on, date):
        return None
    return _check_agency_open(value, on)


# --------------------------------------------------------------------------------------------
# Dossier codes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DossierCode:
    """A parsed dossier code: receiving unit, receipt date and daily sequence number."""

    text: str
    unit: str
    received_on: date
    sequence: int
    style: Literal["tt01_2018", "yyyymmdd_7"]


def _today_vn() -> date:
    return datetime.now(_VN_TZ).date()


# (parsed code, error found before the date check, problem found after it)
_DossierAnalysis = tuple[DossierCode | None, IdentifierProblem | None, IdentifierProblem | None]


@lru_cache(maxsize=_CACHE_SIZE)
def _analyse_dossier(value: str) -> _DossierAnalysis:
    style: Literal["tt01_2018", "yyyymmdd_7"]
    match = _DOSSIER_TT01_RE.fullmatch(value)
    if match is not None:
        style = "tt01_2018"
        unit, yy, mm, dd, seq = match.groups()
        year = 2000 + int(yy)
    else:
        match = _DOSSIER_NEW_RE.fullmatch(value)
        if match is None:
            return None, _P_DOSSIER_FORMAT, None
        style = "yyyymmdd_7"
        unit, yyyy, mm, dd, seq = match.groups()
        year = int(yyyy)
    unit_problem = check_agency_code(unit)
    if unit_problem is not None and unit_problem.code not in WARNING_CODES:
        return None, unit_problem, None
    try:
        received_on = date(year, int(mm), int(dd))
    except ValueError:
        return None, _P_DOSSIER_BAD_DATE, None
    sequence = int(seq)
    parsed = DossierCode(
        text=value, unit=unit, received_on=received_on, sequence=sequence, style=style
    )
    after = _P_DOSSIER_SEQUENCE if sequence == 0 else unit_problem
    return parsed, None, after


def parse_dossier_code(value: str) -> DossierCode | None:
    """Parse a dossier code in either format; ``None`` when malformed.

    Malformed covers the pattern, the unit's format and hierarchy, and a receipt date that is
    not a calendar date. A future date or a zero sequence still parses.
    """
    if not isinstance(value, str) or len(value) > _DOSSIER_MAX_LEN:
        return None
    return _analyse_dossier(value)[0]


def check_dossier_code(value: str, today: date | None = None) -> IdentifierProblem | None:
    """Check a dossier code (TT 01/2018 Art. 19, or the 2026 ``YYYYMMDD-NNNNNNN`` form).

    Codes, in the order checked: ``dossier_code.format``, the unit's ``agency.format`` /
    ``agency.hierarchy``, ``dossier_code.date`` (not a calendar date, or after ``today``,
    which defaults to the current date in Asia/Ho_Chi_Minh), ``dossier_code.sequence``, then
    the unit's warning ``agency.unknown_level1``.
    """
    if not isinstance(value, str) or len(value) > _DOSSIER_MAX_LEN:
        return _P_DOSSIER_FORMAT
    parsed, before, after = _analyse_dossier(value)
    if before is not None or parsed is None:
        return before or _P_DOSSIER_FORMAT
    limit = today if isinstance(today, date) else _today_vn()
    if isinstance(limit, datetime):
        limit = limit.date()
    if parsed.received_on > limit:
        return _P_DOSSIER_FUTURE
    return after


# --------------------------------------------------------------------------------------------
# Other identifiers
# --------------------------------------------------------------------------------------------


def check_tthc_code(value: str) -> IdentifierProblem | None:
    """``tthc_code.format``: ``1.001612`` or the local variant ``3.000181.000.00.00.H22``."""
    if not isinstance(value, str) or len(value) > 22 or _TTHC_RE.fullmatch(value) is None:
        return _P_TTHC_FORMAT
    return None


def check_linhvuc_code(value: str) -> IdentifierProblem | None:
    """``linhvuc_code.format``: level-1 code, ``-``, 1-10 uppercase letters/digits."""
    if not isinstance(value, str) or len(value) > 14 or _LINHVUC_RE.fullmatch(value) is None:
        return _P_LINHVUC_FORMAT
    return None


def personal_id_birth(value: str) -> tuple[int, bool] | None:
    """Decode (birth year, female) from a 12-digit personal ID; ``None`` when malformed.

    Digit 4 (``G``): 0/1 = 1900s male/female, 2/3 = 2000s, 4/5 = 2100s, 6/7 = 2200s,
    8/9 = 2300s; digits 5-6: the last two digits of the birth year (NĐ 137/2015).
    """
    if not isinstance(value, str) or len(value) != 12 or _PERSONAL_ID_RE.fullmatch(value) is None:
        return None
    g = ord(value[3]) - ord("0")
    return 1900 + (g // 2) * 100 + int(value[4:6]), g % 2 == 1


def check_personal_id(
    value: str, birth_year: int | None = None, female: bool | None = None
) -> IdentifierProblem | None:
    """``personal_id.format`` (12 digits) or ``personal_id.century`` (year/sex mismatch)."""
    decoded = personal_id_birth(value)
    if decoded is None:
        return _P_PERSONAL_ID_FORMAT
    year, is_female = decoded
    if birth_year is not None and birth_year != year:
        return _P_PERSONAL_ID_CENTURY
    if female is not None and bool(female) != is_female:
        return _P_PERSONAL_ID_CENTURY
    return None


def check_social_insurance(value: str) -> IdentifierProblem | None:
    """``social_insurance.format``: exactly 10 digits."""
    if (
        not isinstance(value, str)
        or len(value) != 10
        or _SOCIAL_INSURANCE_RE.fullmatch(value) is None
    ):
        return _P_SOCIAL_INSURANCE_FORMAT
    return None


def check_email(value: str) -> IdentifierProblem | None:
    """``email.format``: one ``@``, a dotted domain, no spaces, at most 254 characters."""
    if not isinstance(value, str) or len(value) > _EMAIL_MAX_LEN:
        return _P_EMAIL_FORMAT
    if len(value) <= _EMAIL_LOCAL_MAX_LEN and _EMAIL_FAST_RE.fullmatch(value) is not None:
        return None
    if _EMAIL_RE.fullmatch(value) is None or value.index("@") > _EMAIL_LOCAL_MAX_LEN:
        return _P_EMAIL_FORMAT
    return None


def check_phone(value: str) -> IdentifierProblem | None:
    """``phone.format``: ``0``/``+84`` and 9-10 digits; spaces, dots, dashes, () tolerated.

    Also accepts the 1800/1900 service numbers (``1800 1091``).
    """
    if not isinstance(value, str) or len(value) > _PHONE_MAX_LEN:
        return _P_PHONE_FORMAT
    if value.isdigit() and value.isascii():  # no separators to remove: the common case
        return None if _PHONE_RE.fullmatch(value) is not None else _P_PHONE_FORMAT
    if _PHONE_RE.fullmatch(value.translate(_PHONE_SEPARATORS)) is None:
        return _P_PHONE_FORMAT
    return None


def check_url(value: str) -> IdentifierProblem | None:
    """``url.format``: ``http(s)://`` + host (name, IPv4 or [IPv6]) + optional port/path."""
    if not isinstance(value, str):
        return _P_URL_FORMAT
    if _URL_FAST_RE.fullmatch(value) is None and _URL_RE.fullmatch(value) is None:
        return _P_URL_FORMAT
    return None


def parse_percent(value: str) -> float | None:
    """``"97.50"``, ``"97.5"``, ``"71%"``, ``"100"`` -> float in 0..100; else ``None``."""
    if not isinstance(value, str) or len(value) > 16:
        return None
    match = _PERCENT_RE.fullmatch(value)
    if match is None:
        return None
    number = float(match.group(1))
    return number if number <= 100.0 else None


def is_not_a_number(value: object) -> bool:
    """True for ``"NaN"``, ``"Infinity"`` and their kin: a percentage of 0/0 or n/0."""
    return isinstance(value, str) and len(value) <= 9 and value.strip().lower() in NOT_A_NUMBER


def check_percent(value: str) -> IdentifierProblem | None:
    """``percent.format``: a number from 0 to 100, optionally followed by ``%``; the warning
    ``percent.not_a_number`` for ``NaN`` or ``Infinity`` (a month without dossiers)."""
    if parse_percent(value) is not None:
        return None
    return _P_PERCENT_NOT_A_NUMBER if is_not_a_number(value) else _P_PERCENT_FORMAT


def check_month_year(value: str) -> IdentifierProblem | None:
    """``month_year.format``: ``M-yyyy`` or ``MM-yyyy`` with month 1..12."""
    if not isinstance(value, str) or len(value) > 7 or _MONTH_YEAR_RE.fullmatch(value) is None:
        return _P_MONTH_YEAR_FORMAT
    return None
