"""The one reader of what the photographer already decided: rating, colour label, pick/reject, caption.

Used by the review (when a folder is opened) and by training (star ratings as targets), so both
read the same value from the same place. Per field, the first source that has a value wins; the
order depends on the file type, because that is where the photographer's tool put it:

* proprietary RAW (CR3, NEF, ARW, ...): Lightroom and Capture One write ``IMG.xmp``, darktable
  ``IMG.CR3.xmp``; then the XMP embedded in the RAW; then IPTC / EXIF.
* JPEG, TIFF, HEIC, PNG, DNG: Lightroom writes *inside* the file, so the embedded XMP comes first;
  then darktable's ``IMG.jpg.xmp``, then ``IMG.xmp`` (Capture One's or Mondrian's); then IPTC / EXIF.

Fallbacks: the IPTC caption (``Iptc.Application2.Caption``) and the EXIF rating
(``Exif.Image.Rating``, or ``RatingPercent`` as Windows writes it). Conventions read: ``xmp:Rating``
1-5 stars, 0 unrated (no value), -1 rejected (darktable, Capture One, Lightroom's export);
``xmpDM:pick`` 1 picked / -1 rejected (Bridge); ``xmp:Label`` in any language Lightroom ships
("Rot", "Rouge", "Rojo" ... are Red) or darktable's ``darktable:colorlabels``; ``dc:description``
(x-default, else the first language). Lightroom's own pick flags live in its catalog only.

A value that Mondrian wrote itself (``written``: the store's record for that sidecar, see
:meth:`app.engine.store.sidecar_writes.SidecarWrites.mondrian_values`) and that the file still
holds exactly is not the user's and is skipped. Everything is read-only.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.engine.photos.exiv2_lib import exiv2_session, read_image
from app.engine.photos.formats import is_raw_path
from app.engine.sidecars.paths import Convention, _candidates, _same_file
from app.engine.sidecars.xmp import (
    DESCRIPTION,
    LABEL,
    MAX_SIDECAR_BYTES,
    PICK,
    RATING,
    SidecarError,
    XmpValue,
    parse_packet,
    xmp_values,
)

log = logging.getLogger(__name__)

DARKTABLE_LABELS = "Xmp.darktable.colorlabels"
IPTC_CAPTION = "Iptc.Application2.Caption"
EXIF_RATING = "Exif.Image.Rating"
EXIF_RATING_PERCENT = "Exif.Image.RatingPercent"

COLOURS = ("Red", "Yellow", "Green", "Blue", "Purple")
# Lightroom writes the label's name in the language it runs in; Bridge and Capture One likewise.
_LABEL_NAMES: dict[str, tuple[str, ...]] = {
    "Red": ("red", "rot", "rouge", "rojo", "rosso", "vermelho", "rood", "röd", "rød", "punainen", "czerwony",
            "красный", "レッド", "赤", "红色", "紅色", "빨간색"),
    "Yellow": ("yellow", "gelb", "jaune", "amarillo", "giallo", "amarelo", "geel", "gul", "keltainen", "żółty",
               "желтый", "жёлтый", "イエロー", "黄", "黄色", "노란색"),
    "Green": ("green", "grün", "gruen", "vert", "verde", "groen", "grön", "grøn", "vihreä", "zielony", "зеленый",
              "зелёный", "グリーン", "緑", "绿色", "綠色", "녹색"),
    "Blue": ("blue", "blau", "bleu", "azul", "blu", "blauw", "blå", "sininen", "niebieski", "синий", "ブルー", "青",
             "蓝色", "藍色", "파란색"),
    "Purple": ("purple", "lila", "violett", "violet", "morado", "púrpura", "viola", "roxo", "paars", "lilla",
               "violetti", "fioletowy", "фиолетовый", "パープル", "紫", "紫色", "보라색"),
}
_LABELS = {name: colour for colour, names in _LABEL_NAMES.items() for name in names}
_NUMBER = re.compile(r"\s*([-+]?\d+(?:\.\d+)?)\s*")

Written = Callable[[str], Mapping[str, Any]]  # sidecar path -> {exiv2 key: value Mondrian wrote}


def canonical_label(text: str) -> str | None:
    """"Rot" -> "Red"; a custom label set's own text is kept as written; blank -> None."""
    text = text.strip()
    if not text:
        return None
    return _LABELS.get(text.casefold(), text)


@dataclass
class UserMetadata:
    """What the photographer (or another tool) set; None where nothing is set."""

    rating: int | None = None  # 1-5 stars (0 / unrated is None)
    label: str | None = None  # "Red" ... "Purple", or a custom label's text
    flag: str | None = None  # "pick" | "reject"
    caption: str | None = None
    sources: dict[str, str] = field(default_factory=dict)  # field -> where it was read
    problems: list[str] = field(default_factory=list)  # unreadable sources / invalid values, each naming the file

    def to_dict(self) -> dict[str, Any]:
        return {"rating": self.rating, "label": self.label, "flag": self.flag, "caption": self.caption,
                "sources": dict(self.sources), "problems": list(self.problems)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UserMetadata:
        return cls(rating=data.get("rating"), label=data.get("label"), flag=data.get("flag"),
                   caption=data.get("caption"), sources=dict(data.get("sources") or {}),
                   problems=list(data.get("problems") or []))

    @property
    def empty(self) -> bool:
        return self.rating is None and self.label is None and self.flag is None and self.caption is None


def _number(raw: str, what: str, low: int, high: int) -> int:
    match = _NUMBER.fullmatch(raw)
    if match is None:
        raise ValueError(f"{what} {raw.strip()!r} is not a number")
    value = float(match.group(1))
    whole = round(value)
    if abs(value - whole) > 1e-6 or not low <= whole <= high:
        raise ValueError(f"{what} {raw.strip()} is not a whole number from {low} to {high}")
    return int(whole)


def _text(value: XmpValue | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        text = value.get("x-default") or next((v for v in value.values() if v.strip()), "")
        return text.strip() or None
    if isinstance(value, list):
        return next((v.strip() for v in value if v.strip()), None)
    return value.strip() or None


def _fields(values: Mapping[str, XmpValue], label: str) -> tuple[dict[str, Any], list[str]]:
    """Rating, label, flag and caption from one source's exiv2 values; problems name ``label``."""
    out: dict[str, Any] = {}
    problems: list[str] = []
    raw = values.get(RATING)
    if isinstance(raw, str):
        try:
            stars = _number(raw, "xmp:Rating", -1, 5)
        except ValueError as exc:
            problems.append(f"{label}: {exc}")
        else:
            if stars == -1:
                out["flag"] = "reject"
            elif stars > 0:
                out["rating"] = stars
    pick = values.get(PICK)
    if isinstance(pick, str) and pick.strip() in ("1", "-1") and "flag" not in out:
        out["flag"] = "pick" if pick.strip() == "1" else "reject"
    text = _text(values.get(LABEL))
    if text:
        out["label"] = canonical_label(text)
    else:
        colours = values.get(DARKTABLE_LABELS)
        for item in colours if isinstance(colours, list) else []:
            if item.strip().isdigit() and int(item) < len(COLOURS):
                out["label"] = COLOURS[int(item)]
                break
    caption = _text(values.get(DESCRIPTION))
    if caption:
        out["caption"] = caption
    return out, problems


def _fallback_fields(values: Mapping[str, str], label: str) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """IPTC caption and EXIF rating: (fields, their sources, problems)."""
    out: dict[str, Any] = {}
    where: dict[str, str] = {}
    problems: list[str] = []
    caption = (values.get(IPTC_CAPTION) or "").strip()
    if caption:
        out["caption"], where["caption"] = caption, "IPTC caption"
    for key, high, scale in ((EXIF_RATING, 5, 1), (EXIF_RATING_PERCENT, 100, 20)):
        raw = values.get(key)
        if raw is None:
            continue
        try:
            value = _number(raw, key, -1, high)
        except ValueError as exc:
            problems.append(f"{label}: {exc}")
            continue
        stars = -1 if value == -1 else round(value / scale)
        if stars > 0:
            out["rating"], where["rating"] = min(stars, 5), "EXIF rating"
        break
    return out, where, problems


def _drop_mondrian(values: dict[str, XmpValue], written: Mapping[str, Any]) -> dict[str, XmpValue]:
    """The values minus those the file still holds exactly as Mondrian wrote them."""
    return {k: v for k, v in values.items() if not (k in written and written[k] == v)}


def _read_sidecar_values(path: Path) -> dict[str, XmpValue]:
    if path.stat().st_size > MAX_SIDECAR_BYTES:
        raise SidecarError(f"{path}: larger than {MAX_SIDECAR_BYTES // 2**20} MB, not an XMP sidecar")
    data = path.read_bytes()
    with exiv2_session() as (exiv2, log_):
        return xmp_values(exiv2, parse_packet(exiv2, data, log_, str(path)).xmpData())


def _read_embedded(photo: Path) -> tuple[dict[str, XmpValue], dict[str, str]]:
    """The photo's own XMP values, and its IPTC / EXIF fallback values (read-only)."""
    with exiv2_session() as (exiv2, _log):
        try:
            image = read_image(exiv2, str(photo))
        except exiv2.Exiv2Error as exc:
            log.debug("%s: no embedded metadata (%s)", photo, exc)
            return {}, {}
        xmp = xmp_values(exiv2, image.xmpData())
        other: dict[str, str] = {}
        for datum in image.iptcData():
            if datum.key() == IPTC_CAPTION:
                other[IPTC_CAPTION] = str(datum.toString())
        for datum in image.exifData():
            if datum.key() in (EXIF_RATING, EXIF_RATING_PERCENT):
                other[datum.key()] = str(datum.toString())
        return xmp, other


def sidecars_in_order(photo: str | os.PathLike[str]) -> list[Path]:
    """The photo's existing sidecars, in the order they are consulted (see the module text)."""
    photo = Path(photo)
    lightroom = _candidates(photo, Convention.LIGHTROOM)
    darktable = _candidates(photo, Convention.DARKTABLE)
    order = lightroom + darktable if is_raw_path(photo) and photo.suffix.lower() != ".dng" else darktable + lightroom
    found: list[Path] = []
    for candidate in order:
        if candidate.is_file() and not any(_same_file(candidate, seen) for seen in found):
            found.append(candidate)
    return found


def embedded_first(photo: str | os.PathLike[str]) -> bool:
    """Does the photographer's tool keep this file's metadata inside it (everything but proprietary RAW)?"""
    photo = Path(photo)
    return not is_raw_path(photo) or photo.suffix.lower() == ".dng"


def read_user_metadata(photo: str | os.PathLike[str], written: Written | None = None) -> UserMetadata:
    """The photographer's rating, label, flag and caption for ``photo`` (see the module text).

    Never raises for a damaged or unreadable source: it is skipped and named in ``problems``.
    """
    photo = Path(photo)
    sources: list[tuple[str, str, dict[str, XmpValue]]] = []  # (shown source, file named in problems, values)
    problems: list[str] = []
    for sidecar in sidecars_in_order(photo):
        try:
            values = _read_sidecar_values(sidecar)
        except (SidecarError, OSError) as exc:
            problems.append(str(exc) if isinstance(exc, SidecarError) else f"{sidecar}: cannot read ({exc})")
            continue
        if written is not None:
            values = _drop_mondrian(values, written(str(sidecar)))
        sources.append((f"sidecar {sidecar.name}", str(sidecar), values))
    embedded, fallback = _read_embedded(photo)
    if embedded:
        sources.insert(0 if embedded_first(photo) else len(sources), ("embedded XMP", str(photo), embedded))
    found = UserMetadata()
    for where, named, values in sources:
        fields, bad = _fields(values, named)
        problems += bad
        for name, value in fields.items():
            if getattr(found, name) is None:
                setattr(found, name, value)
                found.sources[name] = where
    extra, extra_where, bad = _fallback_fields(fallback, str(photo))
    problems += bad
    for name, value in extra.items():
        if getattr(found, name) is None:
            setattr(found, name, value)
            found.sources[name] = extra_where[name]
    found.problems = problems
    return found
