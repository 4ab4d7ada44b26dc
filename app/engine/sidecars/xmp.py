"""Reading and merge-writing XMP sidecars with exiv2 (python-exiv2), never hand-built XML.

Why python-exiv2 and not pyexiv2: pyexiv2's ``modify_xmp`` writes every list as an ``rdf:Seq``,
so a merge would silently turn another tool's ``dc:subject`` bag into a sequence; python-exiv2
exposes exiv2's typed values (``XmpArrayValue(xmpBag)``, ``LangAltValue``) and its in-memory XMP
sidecar image, so a sidecar is parsed, changed field by field and serialised by exiv2 itself.

Merging: the existing sidecar is parsed by exiv2, only the fields Mondrian owns are set, and
every other property (Lightroom's ``crs:*`` develop settings, structs, other tools' namespaces)
is carried over untouched. A sidecar exiv2 cannot parse is refused, never overwritten. Writes are
atomic (temp file + rename), so a crash leaves the old sidecar or the new one, never half of one.

Fields written:
* ``xmp:Rating`` -1 (rejected) or 0-5 stars; ``xmp:Label`` (Lightroom's colour label text);
* the pick flag as ``xmpDM:pick`` (1 picked, -1 rejected, 0 none: Adobe's flag); a reject also
  sets ``xmp:Rating`` -1, which Bridge, darktable and Capture One read as rejected;
* keywords: each in ``dc:subject`` and as ``Mondrian|<keyword>`` in ``lr:hierarchicalSubject``.
  Mondrian's keywords of an earlier run are replaced; everyone else's are kept;
* ``dc:description`` (x-default): the critique's summary.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from app.engine import atomic
from app.engine.photos.exiv2_lib import exiv2_session, image_bytes, read_image
from app.engine.sidecars.paths import Convention, sidecar_path

MONDRIAN_KEYWORD_PARENT = "Mondrian"
MAX_SIDECAR_BYTES = 16 * 1024 * 1024  # Lightroom's largest (with masks and history) are a few MB

RATING = "Xmp.xmp.Rating"
LABEL = "Xmp.xmp.Label"
PICK = "Xmp.xmpDM.pick"
SUBJECT = "Xmp.dc.subject"
HIERARCHY = "Xmp.lr.hierarchicalSubject"
DESCRIPTION = "Xmp.dc.description"
_PICK_VALUES = {"pick": "1", "reject": "-1", "none": "0"}

XmpValue = str | list[str] | dict[str, str]


class SidecarError(ValueError):
    """A sidecar cannot be read or written; ``str()`` names the file and the problem."""


@dataclass(frozen=True)
class SidecarUpdate:
    """What to set. None leaves a field as it is; ``label=""`` or ``description=""`` removes it."""

    rating: int | None = None  # -1 rejected, 0 unrated, 1-5 stars
    label: str | None = None
    pick: Literal["pick", "reject", "none"] | None = None
    keywords: tuple[str, ...] | None = None  # Mondrian's keywords (replace Mondrian's earlier ones)
    description: str | None = None

    def __post_init__(self) -> None:
        if self.rating is not None and not -1 <= self.rating <= 5:
            raise ValueError(f"rating must be -1 (rejected) or 0-5 stars, not {self.rating}")
        if self.pick is not None and self.pick not in _PICK_VALUES:
            raise ValueError(f"pick must be one of {sorted(_PICK_VALUES)}, not {self.pick!r}")
        for keyword in self.keywords or ():
            if not keyword.strip() or "|" in keyword:
                raise ValueError(f"keyword {keyword!r} must be non-empty and contain no '|'")


@dataclass(frozen=True)
class FieldChange:
    key: str  # exiv2 key, e.g. "Xmp.xmp.Rating"
    before: XmpValue | None
    after: XmpValue | None

    def describe(self) -> str:
        return f"{self.key}: {_show(self.before)} -> {_show(self.after)}"


@dataclass
class SidecarChange:
    """What a write did (or, in a dry run, would do)."""

    path: Path
    created: bool  # no sidecar existed
    changes: list[FieldChange] = field(default_factory=list)
    dry_run: bool = False
    written: bool = False

    def describe(self) -> str:
        verb = ("would create" if self.created else "would update") if self.dry_run else (
            "created" if self.created else "updated")
        if not self.changes:
            return f"{self.path}: unchanged"
        return f"{self.path}: {verb}\n" + "\n".join(f"  {c.describe()}" for c in self.changes)


def _show(value: XmpValue | None) -> str:
    return "(none)" if value is None else repr(value)


def _values(exiv2: Any, xmp: Any) -> dict[str, XmpValue]:
    """Top-level properties as plain values: text, a list for arrays, {lang: text} for LangAlt."""
    out: dict[str, XmpValue] = {}
    for datum in xmp:
        key = datum.key()
        type_id = datum.typeId()
        if type_id in (exiv2.TypeId.xmpBag, exiv2.TypeId.xmpSeq, exiv2.TypeId.xmpAlt):
            out[key] = [str(datum.toString(i)) for i in range(datum.count())]
        elif type_id == exiv2.TypeId.langAlt:
            out[key] = {str(k): str(v) for k, v in datum.getValue().items()}
        else:
            out[key] = str(datum.toString())
    return out


def _check_size(path: Path) -> None:
    if path.stat().st_size > MAX_SIDECAR_BYTES:
        raise SidecarError(f"{path}: larger than {MAX_SIDECAR_BYTES // 2**20} MB, not an XMP sidecar")


def parse_packet(exiv2: Any, data: bytes, log: list[str], label: str) -> Any:
    """An exiv2 XMP-sidecar image parsed from ``data``; SidecarError naming ``label`` when it is not XMP
    or exiv2 reported a parse error. ``data`` must outlive the returned image."""
    if b"<!ENTITY" in data or b"<!DOCTYPE" in data:  # XMP never has a DTD: refuse entity expansion
        raise SidecarError(f"{label}: has a DTD or entities, which XMP never uses")
    try:
        image = read_image(exiv2, data)
    except exiv2.Exiv2Error as exc:
        raise SidecarError(f"{label}: not XMP ({exc.args[-1] if exc.args else exc})") from None
    if image.mimeType() != "application/rdf+xml":
        raise SidecarError(f"{label}: not an XMP sidecar (exiv2 sees {image.mimeType()})")
    errors = [m for m in log if m.startswith("error")]
    if errors:
        raise SidecarError(f"{label}: damaged XMP, exiv2 says: {'; '.join(errors)}")
    return image


def read_sidecar(path: str | os.PathLike[str]) -> dict[str, XmpValue]:
    """Every top-level property of a sidecar (``{"Xmp.xmp.Rating": "3", ...}``). Raises SidecarError."""
    path = Path(path)
    try:
        _check_size(path)
        data = path.read_bytes()
    except OSError as exc:
        raise SidecarError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with exiv2_session() as (exiv2, log):
        return _values(exiv2, parse_packet(exiv2, data, log, str(path)).xmpData())


def _set(exiv2: Any, xmp: Any, key: str, value: XmpValue | None) -> None:
    xmp_key = exiv2.XmpKey(key)
    while (found := xmp.findKey(xmp_key)) != xmp.end():
        xmp.erase(found)
    if value is None:
        return
    if isinstance(value, list):
        array = exiv2.XmpArrayValue(exiv2.TypeId.xmpBag)  # dc:subject and lr:hierarchicalSubject are bags
        for item in value:
            array.read(item)
        xmp.add(xmp_key, array)
    elif isinstance(value, dict):
        xmp.add(xmp_key, exiv2.LangAltValue(value))
    else:
        xmp[key] = value


def _planned(current: dict[str, XmpValue], update: SidecarUpdate) -> dict[str, XmpValue | None]:
    """The new value of every field the update touches."""
    new: dict[str, XmpValue | None] = {}
    if update.rating is not None:
        new[RATING] = str(update.rating)
    if update.pick is not None:
        new[PICK] = _PICK_VALUES[update.pick]
        if update.pick == "reject" and update.rating is None:
            new[RATING] = "-1"
    if update.label is not None:
        new[LABEL] = update.label or None
    if update.description is not None:
        old = current.get(DESCRIPTION)
        langs = dict(old) if isinstance(old, dict) else {}
        langs.pop("x-default", None)
        if update.description:
            langs = {"x-default": update.description, **langs}
        new[DESCRIPTION] = langs or None
    if update.keywords is not None:
        prefix = MONDRIAN_KEYWORD_PARENT + "|"
        hierarchy = _as_list(current.get(HIERARCHY))
        ours = {h[len(prefix):] for h in hierarchy if h.startswith(prefix)}
        keep_subject = [s for s in _as_list(current.get(SUBJECT)) if s not in ours]
        keep_hierarchy = [h for h in hierarchy if not h.startswith(prefix)]
        keywords = list(dict.fromkeys(k.strip() for k in update.keywords))
        new[SUBJECT] = keep_subject + [k for k in keywords if k not in keep_subject] or None
        new[HIERARCHY] = keep_hierarchy + [prefix + k for k in keywords] or None
    return {k: v for k, v in new.items() if current.get(k) != v}


def _as_list(value: XmpValue | None) -> list[str]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [str(value)]


def write_sidecar(
    photo: str | os.PathLike[str],
    update: SidecarUpdate,
    *,
    convention: Convention | str = Convention.LIGHTROOM,
    dry_run: bool = False,
) -> SidecarChange:
    """Merge ``update`` into ``photo``'s sidecar for ``convention`` (created if missing), atomically.

    The photo is never opened for writing. With ``dry_run`` nothing is written and the returned
    change lists what would be. Raises SidecarError naming the sidecar when it cannot be read or written.
    """
    photo = Path(photo)
    target = sidecar_path(photo, convention)
    if target.exists() and os.path.samefile(target, photo):
        raise SidecarError(f"{target}: is the photo itself, refusing to write")
    created = not target.exists()
    data = b""
    if not created:
        try:
            _check_size(target)
            data = target.read_bytes()
        except OSError as exc:
            raise SidecarError(f"{target}: cannot read ({exc.strerror or exc})") from None
    with exiv2_session() as (exiv2, log):
        image = exiv2.ImageFactory.create(exiv2.ImageType.xmp) if created else parse_packet(
            exiv2, data, log, str(target))
        xmp = image.xmpData()
        current = _values(exiv2, xmp)
        planned = _planned(current, update)
        change = SidecarChange(path=target, created=created, dry_run=dry_run,
                               changes=[FieldChange(k, current.get(k), v) for k, v in planned.items()])
        if dry_run or not planned:
            return change
        for key, value in planned.items():
            _set(exiv2, xmp, key, value)
        try:
            image.writeMetadata()
        except exiv2.Exiv2Error as exc:
            raise SidecarError(f"{target}: exiv2 cannot write this XMP ({exc})") from None
        out = image_bytes(image)
    try:
        atomic.write_bytes(target, out)
    except OSError as exc:
        raise SidecarError(f"{target}: cannot write ({exc.strerror or exc})") from None
    change.written = True
    return change
