"""Shooting data from EXIF (JPEG, HEIC, TIFF, PNG, WebP and camera RAW) through exiv2.

"1/30 s at 200 mm" explains a soft photo better than the pixels alone, so the camera settings
become grounding facts for the model (:func:`shooting_facts`) and a record for the report and
the store (:meth:`ShootingData.to_dict`). Each value is looked up in the tags where cameras put
it (the standard EXIF tag first, then IFD0 and maker notes, as exiv2's own "easy access"
functions do: python-exiv2 0.19.2's bindings of those crash on a missing tag, so the lists are
kept here). Exiv2 decodes maker-note lens ids to names. Unreadable or absent metadata is never
an error: the photo is critiqued without it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from app.engine.photos.exiv2_lib import exiv2_session, read_image

log = logging.getLogger(__name__)

_NOT_A_LENS = {"", "n/a", "unknown", "(unknown)", "none", "0", "----"}
_KEYS = {
    "make": ("Exif.Image.Make",),
    "model": ("Exif.Image.Model",),
    "lens": ("Exif.Photo.LensModel", "Exif.Canon.LensModel", "Exif.CanonCs.LensType", "Exif.NikonLd4.LensID",
             "Exif.NikonLd3.LensIDNumber", "Exif.NikonLd2.LensIDNumber", "Exif.NikonLd1.LensIDNumber",
             "Exif.Sony2.LensID", "Exif.Sony1.LensID", "Exif.Pentax.LensType", "Exif.PentaxDng.LensType",
             "Exif.OlympusEq.LensType", "Exif.Panasonic.LensType", "Exif.Samsung2.LensType", "Exif.Minolta.LensID"),
    "f_number": ("Exif.Photo.FNumber", "Exif.Image.FNumber"),
    "aperture_apex": ("Exif.Photo.ApertureValue", "Exif.Image.ApertureValue"),
    "exposure": ("Exif.Photo.ExposureTime", "Exif.Image.ExposureTime"),
    "shutter_apex": ("Exif.Photo.ShutterSpeedValue", "Exif.Image.ShutterSpeedValue"),
    "iso": ("Exif.Photo.ISOSpeedRatings", "Exif.Image.ISOSpeedRatings", "Exif.Photo.RecommendedExposureIndex"),
    "focal": ("Exif.Photo.FocalLength", "Exif.Image.FocalLength"),
    "focal_35": ("Exif.Photo.FocalLengthIn35mmFilm",),
    "flash": ("Exif.Photo.Flash", "Exif.Image.Flash"),
    "taken": ("Exif.Photo.DateTimeOriginal", "Exif.Image.DateTimeOriginal"),
}


@dataclass(frozen=True)
class ShootingData:
    """The camera settings of one frame; None where the file does not say."""

    camera: str | None = None  # "Canon EOS R5"
    lens: str | None = None  # "RF70-200mm F2.8 L IS USM"
    focal_length_mm: float | None = None
    focal_length_35mm: float | None = None  # 35 mm-equivalent, when the file gives it
    aperture: float | None = None  # f-number
    exposure_time_s: float | None = None
    iso: int | None = None
    flash_fired: bool | None = None
    taken_at: datetime | None = None  # DateTimeOriginal, camera local time (naive)

    @property
    def empty(self) -> bool:
        return all(value is None for value in asdict(self).values())

    @property
    def shutter(self) -> str | None:
        """Exposure time as photographers write it: "1/250 s", "0.8 s", "2 s"."""
        t = self.exposure_time_s
        if t is None:
            return None
        if t < 0.5:
            return f"1/{round(1 / t)} s"
        return f"{t:g} s" if t >= 1 else f"{t:.1f} s"

    def summary(self) -> str | None:
        """"1/30 s at 200 mm, f/2.8, ISO 3200, flash fired"; None with nothing to say."""
        parts: list[str] = []
        exposure = self.shutter
        if exposure and self.focal_length_mm:
            parts.append(f"{exposure} at {self.focal_length_mm:g} mm")
        elif exposure or self.focal_length_mm:
            parts.append(exposure or f"{self.focal_length_mm:g} mm")
        if self.aperture:
            parts.append(f"f/{self.aperture:g}")
        if self.iso:
            parts.append(f"ISO {self.iso}")
        if self.flash_fired is not None:
            parts.append("flash fired" if self.flash_fired else "no flash")
        return ", ".join(parts) or None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for the store and the HTTP API (``taken_at`` as ISO 8601)."""
        data = asdict(self)
        data["taken_at"] = self.taken_at.isoformat() if self.taken_at else None
        data["shutter"] = self.shutter
        data["summary"] = self.summary()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShootingData:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if isinstance(fields.get("taken_at"), str):
            fields["taken_at"] = datetime.fromisoformat(fields["taken_at"])
        return cls(**fields)


def shooting_facts(data: ShootingData | None) -> list[str]:
    """Grounding sentences for the prompt, in the style of the measured facts; [] with no data."""
    if data is None or data.empty:
        return []
    facts: list[str] = []
    summary = data.summary()
    if summary:
        facts.append(f"Shot at {summary}")
    kit = " with ".join(part for part in (data.camera, data.lens) if part)
    if kit:
        facts.append(f"Camera: {kit}")
    focal = data.focal_length_35mm or data.focal_length_mm
    t = data.exposure_time_s
    if focal and t and t > 1.0 / focal:
        # The reciprocal rule: slower than 1/(35 mm-equivalent focal length) risks visible camera shake.
        facts.append(f"The exposure ({data.shutter}) is slower than 1/{round(focal)} s, the hand-held limit "
                     f"for {focal:g} mm: camera shake or subject motion may soften it unless it was stabilised")
    return facts


def read_shooting_data(source: str | Path | bytes) -> ShootingData | None:
    """Shooting data of a photo file (or its bytes); None when there is none or it cannot be read."""
    with exiv2_session() as (exiv2, _log):
        try:
            image = read_image(exiv2, source if isinstance(source, bytes) else str(source))
        except exiv2.Exiv2Error:
            return None
        data = _from_exif(exiv2, image.exifData())
    return None if data.empty else data


def _found(exiv2: Any, what: str, exif: Any) -> Any:
    """The first datum present among the tags that hold ``what``, or None."""
    for key in _KEYS[what]:
        try:
            datum = exif.findKey(exiv2.ExifKey(key))
        except exiv2.Exiv2Error:  # a maker-note group this exiv2 build does not know
            continue
        if datum != exif.end():
            return datum
    return None


def _rational(datum: Any) -> float | None:
    if datum is None:
        return None
    try:
        num, den = datum.toRational()
    except Exception:  # exiv2 raises many kinds for a malformed tag; the tag is left out
        log.debug("unreadable rational tag", exc_info=True)
        return None
    if not den:
        return None
    value = num / den
    return value if math.isfinite(value) and value > 0 else None


def _text(datum: Any, exif: Any) -> str | None:
    if datum is None:
        return None
    try:
        text = str(datum.print(exif)).strip("\x00 ").strip()
    except Exception:  # exiv2 raises many kinds for a malformed tag; the tag is left out
        log.debug("unreadable text tag", exc_info=True)
        return None
    return text or None


def _apex(datum: Any, to_value: Any) -> float | None:
    value = _rational(datum) if datum is not None else None
    return None if value is None else to_value(value)


def _integer(datum: Any) -> int | None:
    if datum is None:
        return None
    try:
        return int(datum.toInt64()) or None
    except Exception:  # exiv2 raises many kinds for a malformed tag; the tag is left out
        log.debug("unreadable integer tag", exc_info=True)
        return None


def _from_exif(exiv2: Any, exif: Any) -> ShootingData:
    make = _text(_found(exiv2, "make", exif), exif) or ""
    model = _text(_found(exiv2, "model", exif), exif) or ""
    if make and model.lower().startswith(make.lower()):
        make = ""  # "Canon" + "Canon EOS R5" -> "Canon EOS R5"
    camera = " ".join(part for part in (make, model) if part) or None
    lens = _text(_found(exiv2, "lens", exif), exif)
    if lens is not None and (lens.lower() in _NOT_A_LENS or lens.startswith("(")):
        lens = None  # "(65535)": an id exiv2 could not name
    aperture = _rational(_found(exiv2, "f_number", exif)) or _apex(
        _found(exiv2, "aperture_apex", exif), lambda av: 2 ** (av / 2))
    exposure = _rational(_found(exiv2, "exposure", exif)) or _apex(
        _found(exiv2, "shutter_apex", exif), lambda tv: 2 ** -tv)
    focal_35 = _integer(_found(exiv2, "focal_35", exif))
    return ShootingData(
        camera=camera,
        lens=lens,
        focal_length_mm=_round(_rational(_found(exiv2, "focal", exif))),
        focal_length_35mm=float(focal_35) if focal_35 else None,
        aperture=_round(aperture, 1),
        exposure_time_s=exposure,
        iso=_integer(_found(exiv2, "iso", exif)),
        flash_fired=_flash(exiv2, exif),
        taken_at=_taken_at(exiv2, exif),
    )


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _flash(exiv2: Any, exif: Any) -> bool | None:
    datum = _found(exiv2, "flash", exif)
    if datum is None:
        return None
    try:
        return bool(int(datum.toInt64()) & 1)  # bit 0: the flash fired
    except Exception:  # exiv2 raises many kinds for a malformed tag; the tag is left out
        log.debug("unreadable flash tag", exc_info=True)
        return None


def _taken_at(exiv2: Any, exif: Any) -> datetime | None:
    datum = _found(exiv2, "taken", exif)
    if datum is None:
        return None
    try:
        return datetime.strptime(str(datum.toString()).strip("\x00 ").strip(), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
