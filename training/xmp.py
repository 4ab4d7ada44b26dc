"""Star ratings photographers already gave their photos: ``xmp:Rating`` from XMP metadata.

Lightroom, Capture One, darktable, Bridge and Photo Mechanic all write the rating as
``xmp:Rating`` (0-5 stars, -1 = rejected, 0 = unrated), either in a sidecar file next to the photo
or embedded in the photo's own XMP packet. We read both, read-only:

* sidecars: ``IMG_1.xmp`` (Lightroom, Capture One: the photo's suffix replaced) and
  ``IMG_1.jpg.xmp`` (darktable: the suffix appended), either case;
* embedded: the first ``<x:xmpmeta>`` packet in the file. XMP packets are plain text designed to
  be found by scanning (the XMP specification's "packet scanning"), which covers JPEG APP1, PNG
  iTXt, TIFF tag 700, WebP and HEIF alike without a parser per format.

A sidecar wins over the embedded value: apps that write sidecars keep the newest rating there.
The XMP text is matched with regular expressions rather than parsed as XML: it comes from
arbitrary files, and a regex cannot be made to expand entities or recurse.
"""

from __future__ import annotations

import mmap
import os
import re
from dataclasses import dataclass
from pathlib import Path

XMP_NS = "http://ns.adobe.com/xap/1.0/"
REJECTED = -1
UNRATED = 0
MAX_STARS = 5
_PACKET_START = b"<x:xmpmeta"
_PACKET_END = b"</x:xmpmeta>"
_MAX_PACKET = 4 * 1024 * 1024  # a rating packet is a few KB; anything larger is not one
_MAX_SIDECAR = 16 * 1024 * 1024

_NS_PREFIX = re.compile(r"xmlns:([A-Za-z_][\w.-]*)\s*=\s*[\"']" + re.escape(XMP_NS) + r"[\"']")
_NUMBER = r"\s*([-+]?\d+(?:\.\d+)?)\s*"


class XmpError(ValueError):
    """An XMP rating is present but unusable (out of range, not a number)."""


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


def _prefixes(text: str) -> list[str]:
    found = _NS_PREFIX.findall(text)
    return list(dict.fromkeys([*found, "xmp"]))  # "xmp" is the conventional prefix


def parse_rating(xmp: str | bytes) -> int | None:
    """The ``xmp:Rating`` in an XMP packet (attribute or element form); None if there is none.

    Raises :class:`XmpError` for a rating that is not a number in -1..5.
    """
    text = xmp.decode("utf-8", errors="replace") if isinstance(xmp, bytes) else xmp
    for prefix in _prefixes(text):
        p = re.escape(prefix)
        attribute = re.search(rf"(?<![\w:]){p}:Rating\s*=\s*[\"']([^\"']*)[\"']", text)
        element = re.search(rf"<{p}:Rating(?:\s[^>]*)?>([^<]*)</{p}:Rating>", text)
        match = attribute or element
        if match is None:
            continue
        raw = match.group(1)
        number = re.fullmatch(_NUMBER, raw)
        if number is None:
            raise XmpError(f"xmp:Rating {raw.strip()!r} is not a number")
        value = float(number.group(1))
        stars = int(round(value))
        if abs(value - stars) > 1e-6 or not REJECTED <= stars <= MAX_STARS:
            raise XmpError(f"xmp:Rating {raw.strip()} is not one of -1 (rejected), 0 (unrated) or 1-5 stars")
        return stars
    return None


def sidecar_paths(photo: str | os.PathLike[str]) -> list[Path]:
    """Existing sidecars of ``photo``, in the order they are consulted."""
    photo = Path(photo)
    candidates = [photo.with_suffix(".xmp"), photo.with_suffix(".XMP"),
                  photo.with_name(photo.name + ".xmp"), photo.with_name(photo.name + ".XMP")]
    seen: list[Path] = []
    for c in candidates:
        if c.is_file() and not any(_same_file(c, s) for s in seen):
            seen.append(c)
    return seen


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)  # case-insensitive filesystems give one file two names
    except OSError:
        return False


def embedded_xmp(photo: str | os.PathLike[str]) -> bytes | None:
    """The first XMP packet inside the file (read-only scan), or None."""
    path = Path(photo)
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            return None
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            start = mm.find(_PACKET_START)
            if start < 0:
                return None
            end = mm.find(_PACKET_END, start, start + _MAX_PACKET)
            if end < 0:
                return None
            return bytes(mm[start : end + len(_PACKET_END)])


def read_rating(photo: str | os.PathLike[str]) -> StarRating | None:
    """The photo's rating from its sidecar, else its embedded XMP; None when neither has one.

    Raises :class:`XmpError` naming the file when a rating is present but invalid.
    """
    photo = Path(photo)
    for sidecar in sidecar_paths(photo):
        if sidecar.stat().st_size > _MAX_SIDECAR:
            raise XmpError(f"{sidecar}: sidecar is larger than {_MAX_SIDECAR // 2**20} MB, not an XMP file")
        try:
            stars = parse_rating(sidecar.read_bytes())
        except XmpError as exc:
            raise XmpError(f"{sidecar}: {exc}") from None
        if stars is not None:
            return StarRating(stars, f"sidecar {sidecar.name}")
    packet = embedded_xmp(photo)
    if packet is None:
        return None
    try:
        stars = parse_rating(packet)
    except XmpError as exc:
        raise XmpError(f"{photo}: embedded {exc}") from None
    return StarRating(stars, "embedded XMP") if stars is not None else None
