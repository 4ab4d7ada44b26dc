"""Star ratings photographers already gave their photos: ``xmp:Rating`` from XMP metadata, via exiv2.

Lightroom, Capture One, darktable, Bridge and Photo Mechanic all write the rating as
``xmp:Rating`` (0-5 stars, -1 = rejected, 0 = unrated), either in a sidecar file next to the photo
or embedded in the photo's own XMP packet. We read both, read-only, with the same exiv2 door the
sidecar writer uses (:mod:`app.engine.sidecars`):

* sidecars: ``IMG_1.xmp`` (Lightroom, Capture One: the photo's suffix replaced) and
  ``IMG_1.jpg.xmp`` (darktable: the suffix appended), either case;
* embedded: exiv2 reads the XMP of JPEG, PNG, TIFF, WebP, HEIF and RAW files. Exiv2 maps the
  namespace URI to its own prefix, so older Adobe files binding it to ``xap`` read the same.

A sidecar wins over the embedded value: apps that write sidecars keep the newest rating there.
A packet with a DTD is refused before parsing (XMP never has one: no entity expansion).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from app.engine.photos.exiv2_lib import exiv2_session, read_image
from app.engine.sidecars.paths import existing_sidecars
from app.engine.sidecars.xmp import MAX_SIDECAR_BYTES, RATING, SidecarError, parse_packet

XMP_NS = "http://ns.adobe.com/xap/1.0/"
REJECTED = -1
UNRATED = 0
MAX_STARS = 5
_NUMBER = re.compile(r"\s*([-+]?\d+(?:\.\d+)?)\s*")


class XmpError(ValueError):
    """An XMP rating is present but unusable (out of range, not a number, unreadable sidecar)."""


@dataclass(frozen=True)
class StarRating:
    """A photo's star rating and where it came from (``sidecar`` path or ``embedded``)."""

    stars: int  # -1 rejected, 0 unrated, 1..5
    source: str

    @property
    def rejected(self) -> bool:
        return self.stars == REJECTED

    @property
    def rated(self) -> bool:
        return self.stars >= 1


def _stars(raw: str) -> int:
    number = _NUMBER.fullmatch(raw)
    if number is None:
        raise XmpError(f"xmp:Rating {raw.strip()!r} is not a number")
    value = float(number.group(1))
    stars = int(round(value))
    if abs(value - stars) > 1e-6 or not REJECTED <= stars <= MAX_STARS:
        raise XmpError(f"xmp:Rating {raw.strip()} is not one of -1 (rejected), 0 (unrated) or 1-5 stars")
    return stars


def _rating_in(xmp: object) -> str | None:
    for datum in xmp:  # type: ignore[attr-defined]
        if datum.key() == RATING:
            return str(datum.toString())
    return None


def parse_rating(xmp: str | bytes) -> int | None:
    """The ``xmp:Rating`` in an XMP packet (attribute or element form); None if there is none.

    Raises :class:`XmpError` for a rating that is not a number in -1..5, or a packet exiv2 cannot parse.
    """
    data = xmp.encode("utf-8") if isinstance(xmp, str) else xmp
    with exiv2_session() as (exiv2, log):
        try:
            image = parse_packet(exiv2, data, log, "XMP packet")
        except SidecarError as exc:
            raise XmpError(str(exc)) from None
        raw = _rating_in(image.xmpData())
    return None if raw is None else _stars(raw)


def sidecar_paths(photo: str | os.PathLike[str]) -> list[Path]:
    """Existing sidecars of ``photo``, in the order they are consulted."""
    return existing_sidecars(photo)


def embedded_xmp(photo: str | os.PathLike[str]) -> bytes | None:
    """The XMP packet inside the photo file as exiv2 reads it (read-only), or None."""
    with exiv2_session() as (exiv2, _log):
        try:
            packet = str(read_image(exiv2, str(Path(photo))).xmpPacket())
        except exiv2.Exiv2Error:
            return None  # not a format exiv2 reads, or no metadata block: no embedded rating
    return packet.encode("utf-8") if packet.strip() else None


def read_rating(photo: str | os.PathLike[str]) -> StarRating | None:
    """The photo's rating from its sidecar, else its embedded XMP; None when neither has one.

    Raises :class:`XmpError` naming the file when a rating is present but invalid.
    """
    photo = Path(photo)
    for sidecar in sidecar_paths(photo):
        if sidecar.stat().st_size > MAX_SIDECAR_BYTES:
            raise XmpError(f"{sidecar}: sidecar is larger than {MAX_SIDECAR_BYTES // 2**20} MB, not an XMP file")
        try:
            stars = parse_rating(sidecar.read_bytes())
        except XmpError as exc:
            raise XmpError(f"{sidecar}: {exc}") from None
        if stars is not None:
            return StarRating(stars, f"sidecar {sidecar.name}")
    with exiv2_session() as (exiv2, _log):
        try:
            raw = _rating_in(read_image(exiv2, str(photo)).xmpData())
        except exiv2.Exiv2Error:
            return None
    if raw is None:
        return None
    try:
        stars = _stars(raw)
    except XmpError as exc:
        raise XmpError(f"{photo}: embedded {exc}") from None
    return StarRating(stars, "embedded XMP")
