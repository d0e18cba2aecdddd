"""The operator's identity on the public pages: agency name, hotline, address, logo.

They come from :class:`~lienthong.hub.settings.HubSettings` (``LIENTHONG_AGENCY_*``). The logo
is a file the operator names; it is read once, at start, and served at :data:`LOGO_PATH`, so no
address ever names a file (nothing to traverse). It must be a regular file of at most
:data:`MAX_LOGO_BYTES` whose content is a PNG, JPEG, GIF or WebP image (by its signature, not
its name). SVG is refused: it can carry scripts. A bad logo stops the hub at start with a
sentence naming the setting (:class:`ValueError`).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from lienthong.hub.settings import HubSettings

__all__ = ["LOGO_PATH", "MAX_LOGO_BYTES", "Identity", "Logo", "identity_of", "load_logo"]

LOGO_PATH = "/logo"
MAX_LOGO_BYTES = 256 * 1024
_SETTING = "LIENTHONG_AGENCY_LOGO"


@dataclass(frozen=True, slots=True)
class Logo:
    content: bytes
    media_type: str


@dataclass(frozen=True, slots=True)
class Identity:
    """What every page shows of the operator."""

    name: str
    name_en: str
    hotline: str
    address: str
    logo: Logo | None
    """None: the built-in emblem."""

    @property
    def hotline_dial(self) -> str:
        """The hotline as a ``tel:`` link dials it: digits and a leading ``+`` only."""
        return "".join(char for char in self.hotline if char.isdigit() or char == "+")

    def name_in(self, lang: str) -> str:
        return self.name_en if lang == "en" and self.name_en else self.name


def image_type(content: bytes) -> str | None:
    """The media type of a PNG, JPEG, GIF or WebP image by its signature; None for anything
    else."""
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def load_logo(path: str) -> Logo | None:
    """The logo file at ``path`` (None when ``path`` is empty); ValueError says what is wrong."""
    if not path:
        return None
    try:
        with open(path, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise ValueError(f"{_SETTING}: {path!r} is not a regular file")
            content = file.read(MAX_LOGO_BYTES + 1)  # bounded, whatever the file's size
    except OSError as error:
        raise ValueError(f"{_SETTING}: {path!r} cannot be read ({error.strerror})") from None
    if len(content) > MAX_LOGO_BYTES:
        raise ValueError(f"{_SETTING}: {path!r} is larger than {MAX_LOGO_BYTES} bytes")
    media_type = image_type(content)
    if media_type is None:
        raise ValueError(f"{_SETTING}: {path!r} is not a PNG, JPEG, GIF or WebP image")
    return Logo(content, media_type)


def identity_of(settings: HubSettings) -> Identity:
    """The identity the settings give; ValueError for a bad logo."""
    return Identity(
        name=settings.agency_name,
        name_en=settings.agency_name_en,
        hotline=settings.agency_hotline,
        address=settings.agency_address,
        logo=load_logo(settings.agency_logo),
    )
