"""The two languages of the public pages: Vietnamese by default, English on request.

A page is in ONE language at a time. ``?lang=en`` (or ``?lang=vi``) on any page picks it and
sets the cookie ``lang`` so the next pages follow; without either, pages are in Vietnamese.
Templates write each label once per language, ``{{ t("Tra cứu hồ sơ", "Dossier lookup") }}``,
or pass a ``(vi, en)`` pair, ``{{ t(error) }}``: :func:`translate` picks by the ``lang`` of the
page. Texts built in Python stay ``(vi, en)`` pairs until a template picks one.

Citizen wording shared by the pages lives here too: :func:`dossier_code_message` says what is
wrong with a dossier code in plain words and one example, never an article or a standard.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context
from starlette.requests import Request
from starlette.responses import Response

from lienthong.spec.identifiers import IdentifierProblem

__all__ = [
    "COOKIE",
    "DEFAULT",
    "DOSSIER_CODE_EXAMPLE",
    "LANGUAGES",
    "chosen",
    "dossier_code_message",
    "language",
    "remember",
    "switch_href",
    "translate",
]

LANGUAGES = ("vi", "en")
DEFAULT = "vi"
#: The query parameter and the cookie that carry the choice.
COOKIE = "lang"
_YEAR = 365 * 24 * 3600

#: The one example a citizen is shown of a dossier code (the demo's first dossier).
DOSSIER_CODE_EXAMPLE = "000.00.13.H56-260302-0001"
_DOSSIER_CODE_HELP = (
    f"Mã hồ sơ gồm mã đơn vị, ngày nộp và số thứ tự, ví dụ {DOSSIER_CODE_EXAMPLE}. "
    "Vui lòng kiểm tra lại mã trên giấy tiếp nhận hồ sơ.",
    "A dossier code is made of the unit's code, the filing date and a number, for example "
    f"{DOSSIER_CODE_EXAMPLE}. Please check the code on your receipt.",
)
#: The first sentence by the checker's issue code; any other code reads as the first one.
_DOSSIER_CODE_LEADS = {
    "dossier_code.format": ("Mã hồ sơ chưa đúng.", "This dossier code is not right."),
    "dossier_code.date": (
        "Ngày nộp trong mã hồ sơ chưa đúng.",
        "The filing date in this dossier code is not right.",
    ),
    "dossier_code.sequence": (
        "Số thứ tự trong mã hồ sơ chưa đúng.",
        "The number in this dossier code is not right.",
    ),
}


def dossier_code_message(problem: IdentifierProblem) -> tuple[str, str]:
    """What a citizen reads about a malformed dossier code (vi, en): one plain sentence on what
    is wrong, then what a code is made of with one example."""
    lead = _DOSSIER_CODE_LEADS.get(problem.code, _DOSSIER_CODE_LEADS["dossier_code.format"])
    return f"{lead[0]} {_DOSSIER_CODE_HELP[0]}", f"{lead[1]} {_DOSSIER_CODE_HELP[1]}"


def chosen(request: Request) -> str | None:
    """The language the address asks for (``?lang=``), when it is one of :data:`LANGUAGES`."""
    value = request.query_params.get(COOKIE, "")
    return value if value in LANGUAGES else None


def language(request: Request) -> str:
    """The page's language: the address's choice, else the cookie's, else Vietnamese."""
    cookie = request.cookies.get(COOKIE, "")
    return chosen(request) or (cookie if cookie in LANGUAGES else DEFAULT)


def remember(request: Request, response: Response) -> None:
    """Keep the address's choice of language in the cookie (a year, this site only)."""
    value = chosen(request)
    if value is None:
        return
    response.set_cookie(
        COOKIE,
        value,
        max_age=_YEAR,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )


def switch_href(request: Request, lang: str) -> str:
    """The address of this page in ``lang``: its path and query with ``lang`` set. After a
    POST (a form sent back) it is the form's page itself."""
    params = [] if request.method != "GET" else list(request.query_params.multi_items())
    params = [(key, value) for key, value in params if key != COOKIE] + [(COOKIE, lang)]
    return request.url.path + "?" + urllib.parse.urlencode(params)


@pass_context
def translate(context: Context, vi: Any, en: Any = None) -> Any:
    """``t(vi, en)`` or ``t((vi, en))`` in a template: the text of the page's language."""
    if en is None:
        vi, en = vi
    return en if context.get("lang") == "en" else vi
