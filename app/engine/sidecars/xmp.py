"""Reading and planning XMP sidecar merges with exiv2 (python-exiv2), never hand-built XML.

Why python-exiv2 and not pyexiv2: pyexiv2's ``modify_xmp`` writes every list as an ``rdf:Seq``,
so a merge would silently turn another tool's ``dc:subject`` bag into a sequence; python-exiv2
exposes exiv2's typed values (``XmpArrayValue(xmpBag)``, ``LangAltValue``) and its in-memory XMP
sidecar image, so a sidecar is parsed, changed field by field and serialised by exiv2 itself.

Merging: the existing sidecar is parsed by exiv2, only the fields the policy allows are set, and
every other property (Lightroom's ``crs:*`` develop settings, structs, other tools' namespaces)
is carried over untouched. A sidecar exiv2 cannot parse is refused, never overwritten.

What is written (:class:`~app.engine.sidecars.policy.WritePolicy`):
* always: Mondrian's own namespace (:mod:`app.engine.sidecars.namespace`: grade, scores, summary)
  and its keywords, ``Mondrian|<keyword>`` in ``lr:hierarchicalSubject`` plus the keyword in
  ``dc:subject``; Mondrian's keywords of an earlier run are replaced, everyone else's kept;
* only when the user opts in, per field, and only where the field is empty or still holds the
  value Mondrian wrote there (unless "overwrite" is chosen too): ``xmp:Rating`` (1-5 stars),
  ``xmp:Label``, ``dc:description`` (x-default; other languages kept) and the flag (``xmpDM:pick``
  1 / -1; a reject also sets ``xmp:Rating`` -1, which Bridge, darktable and Capture One read).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from app.engine.photos.exiv2_lib import exiv2_session, image_bytes, read_image
from app.engine.sidecars import namespace
from app.engine.sidecars.paths import Convention, sidecar_path
from app.engine.sidecars.policy import PHOTOGRAPHER, WritePolicy
from app.engine.sidecars.replace import FileState

MONDRIAN_KEYWORD_PARENT = "Mondrian"
MAX_SIDECAR_BYTES = 16 * 1024 * 1024  # Lightroom's largest (with masks and history) are a few MB

RATING = "Xmp.xmp.Rating"
LABEL = "Xmp.xmp.Label"
PICK = "Xmp.xmpDM.pick"
SUBJECT = "Xmp.dc.subject"
HIERARCHY = "Xmp.lr.hierarchicalSubject"
DESCRIPTION = "Xmp.dc.description"
_PICK_VALUES = {"pick": "1", "reject": "-1"}
SHORT_NAMES = {RATING: "xmp:Rating", LABEL: "xmp:Label", PICK: "xmpDM:pick", DESCRIPTION: "dc:description"}

XmpValue = str | list[str] | dict[str, str]


class SidecarError(ValueError):
    """A sidecar cannot be read or written; ``str()`` names the file and the problem."""


@dataclass(frozen=True)
class SidecarUpdate:
    """What Mondrian proposes for one photo. Standard fields are only proposals: the policy decides."""

    rating: int | None = None  # 1-5 stars
    label: str | None = None  # "Green", "Red", ...
    flag: Literal["pick", "reject"] | None = None
    keywords: tuple[str, ...] | None = None  # Mondrian's keywords (replace Mondrian's earlier ones)
    description: str | None = None
    mondrian: Mapping[str, str] | None = None  # Mondrian's namespace: property name -> text

    def __post_init__(self) -> None:
        if self.rating is not None and not 1 <= self.rating <= 5:
            raise ValueError(f"rating must be 1-5 stars, not {self.rating}")
        if self.flag is not None and self.flag not in _PICK_VALUES:
            raise ValueError(f"flag must be one of {sorted(_PICK_VALUES)}, not {self.flag!r}")
        for keyword in self.keywords or ():
            if not keyword.strip() or "|" in keyword:
                raise ValueError(f"keyword {keyword!r} must be non-empty and contain no '|'")
        for name in self.mondrian or {}:
            if not name.isidentifier():
                raise ValueError(f"mondrian property {name!r} is not an XML name")


@dataclass(frozen=True)
class FieldChange:
    key: str  # exiv2 key, e.g. "Xmp.xmp.Rating"
    before: XmpValue | None
    after: XmpValue | None

    def describe(self) -> str:
        return f"{self.key}: {_show(self.before)} -> {_show(self.after)}"


@dataclass
class SidecarChange:
    """What a write did (or, in a dry run, would do), and what the policy kept as it was."""

    path: Path
    created: bool  # no sidecar existed
    changes: list[FieldChange] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # "xmp:Rating: the user's '5' kept ..."
    dry_run: bool = False
    written: bool = False
    skipped: str | None = None  # why nothing was written although something would change

    def describe(self) -> str:
        verb = ("would create" if self.created else "would update") if self.dry_run else (
            "created" if self.created else "updated")
        if self.skipped:
            head = f"{self.path}: skipped ({self.skipped})"
        elif not self.changes:
            head = f"{self.path}: unchanged"
        else:
            head = f"{self.path}: {verb}"
        lines = [f"  {c.describe()}" for c in self.changes] + [f"  kept {k}" for k in self.kept]
        return "\n".join([head, *lines])

    @property
    def standard_changes(self) -> list[FieldChange]:
        """Changes to fields other tools read (not Mondrian's namespace or keywords)."""
        return [c for c in self.changes if c.key in SHORT_NAMES]


def _show(value: XmpValue | None) -> str:
    return "(none)" if value is None else repr(value)


def xmp_values(exiv2: Any, xmp: Any) -> dict[str, XmpValue]:
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


def _array_types(exiv2: Any, xmp: Any) -> dict[str, Any]:
    return {d.key(): d.typeId() for d in xmp
            if d.typeId() in (exiv2.TypeId.xmpBag, exiv2.TypeId.xmpSeq, exiv2.TypeId.xmpAlt)}


def _check_size(path: Path) -> None:
    if path.stat().st_size > MAX_SIDECAR_BYTES:
        raise SidecarError(f"{path}: larger than {MAX_SIDECAR_BYTES // 2**20} MB, not an XMP sidecar")


def parse_packet(exiv2: Any, data: bytes, log: list[str], label: str) -> Any:
    """An exiv2 XMP-sidecar image parsed from ``data``; SidecarError naming ``label`` when it is not XMP
    or exiv2 reported a parse error. ``data`` must outlive the returned image."""
    if b"<!ENTITY" in data or b"<!DOCTYPE" in data:  # XMP never has a DTD: refuse entity expansion
        raise SidecarError(f"{label}: has a DTD or entities, which XMP never uses")
    namespace.register(exiv2)
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
        return xmp_values(exiv2, parse_packet(exiv2, data, log, str(path)).xmpData())


def _set(exiv2: Any, xmp: Any, key: str, value: XmpValue | None, array_type: Any = None) -> None:
    xmp_key = exiv2.XmpKey(key)
    while (found := xmp.findKey(xmp_key)) != xmp.end():
        xmp.erase(found)
    if value is None:
        return
    if isinstance(value, list):  # dc:subject and lr:hierarchicalSubject are bags; an existing Seq stays one
        array = exiv2.XmpArrayValue(array_type if array_type is not None else exiv2.TypeId.xmpBag)
        for item in value:
            array.read(item)
        xmp.add(xmp_key, array)
    elif isinstance(value, dict):
        xmp.add(xmp_key, exiv2.LangAltValue(value))
    else:
        xmp[key] = value


def _as_list(value: XmpValue | None) -> list[str]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [str(value)]


def _blank(key: str, value: XmpValue | None) -> bool:
    """Is the field empty? Rating: absent or 0 (unrated; -1 is a reject, not empty). Label: absent or
    blank. Caption: no language holds text. Pick: absent or 0 (no flag)."""
    if value is None:
        return True
    if isinstance(value, dict):
        return not any(v.strip() for v in value.values())
    if isinstance(value, list):
        return not any(v.strip() for v in value)
    text = value.strip()
    if key in (RATING, PICK):
        try:
            return float(text) == 0
        except ValueError:
            return False
    return not text


@dataclass
class _Planner:
    current: dict[str, XmpValue]
    policy: WritePolicy
    written: Mapping[str, Any]
    user: Mapping[str, Any]  # the photographer's values from every source (UserMetadata.to_dict())
    new: dict[str, XmpValue | None] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)

    def ours(self, key: str) -> bool:
        return key in self.current and key in self.written and self.written[key] == self.current[key]

    def _user_has(self, name: str) -> bool:
        """Did the photographer set ``name`` anywhere Mondrian reads? ("reject": a reject flag.)"""
        if name == "reject":
            return self.user.get("flag") == "reject"
        return self.user.get(name) is not None

    def _agrees(self, key: str, value: XmpValue, user_fields: tuple[str, ...]) -> bool:
        """Does the photographer's own value already say what Mondrian proposes? (Then nothing is kept back.)"""
        mine = self.user.get(user_fields[0])
        if isinstance(value, dict):
            return mine == value.get("x-default")
        return mine is not None and str(mine) == str(value)

    def propose(self, opt: str, key: str, value: XmpValue | None, user_fields: tuple[str, ...]) -> None:
        """Set ``key`` to ``value`` (None: remove Mondrian's own earlier value) if the policy allows."""
        if opt not in self.policy.fields:
            return
        old = self.current.get(key)
        if old == value:
            return
        if self.ours(key) or (value is not None and _blank(key, old) and not any(
                self._user_has(f) for f in user_fields)):
            self.new[key] = value
        elif value is not None and self.policy.overwrite:
            self.new[key] = value
        elif value is not None and not self._agrees(key, value, user_fields):
            holder = f"the file's {_show(old)}" if not _blank(key, old) else "the photographer's value elsewhere"
            self.kept.append(f"{SHORT_NAMES[key]}: {holder} (not Mondrian's; choose overwrite to replace)")


def _planned(current: dict[str, XmpValue], update: SidecarUpdate, policy: WritePolicy,
             written: Mapping[str, Any], user: Mapping[str, Any]) -> tuple[dict[str, XmpValue | None], list[str]]:
    """The new value of every field the update changes under ``policy``, and what the policy kept."""
    plan = _Planner(current, policy, written, user)
    if policy.fields:
        reject = "flag" in policy.fields and update.flag == "reject"
        if reject:
            plan.propose("flag", RATING, "-1", ("rating", "flag"))
        elif update.flag != "reject":
            plan.propose("rating", RATING, None if update.rating is None else str(update.rating), ("rating", "reject"))
        plan.propose("flag", PICK, _PICK_VALUES.get(update.flag or ""), ("flag",))
        plan.propose("label", LABEL, update.label or None, ("label",))
        old = current.get(DESCRIPTION)
        langs = dict(old) if isinstance(old, dict) else {}
        langs.pop("x-default", None)
        wanted = {"x-default": update.description, **langs} if update.description else (
            (langs or None) if plan.ours(DESCRIPTION) else old)
        plan.propose("caption", DESCRIPTION, wanted, ("caption",))
    new = plan.new
    if update.mondrian is not None:
        for key in [k for k in current if k.startswith(namespace.KEY_PREFIX)]:
            new[key] = None
        for name, text in update.mondrian.items():
            new[namespace.key(name)] = text
    if update.keywords is not None:
        prefix = MONDRIAN_KEYWORD_PARENT + "|"
        hierarchy = _as_list(current.get(HIERARCHY))
        ours = {h[len(prefix):] for h in hierarchy if h.startswith(prefix)}
        keep_subject = [s for s in _as_list(current.get(SUBJECT)) if s not in ours]
        keep_hierarchy = [h for h in hierarchy if not h.startswith(prefix)]
        keywords = list(dict.fromkeys(k.strip() for k in update.keywords))
        new[SUBJECT] = keep_subject + [k for k in keywords if k not in keep_subject] or None
        new[HIERARCHY] = keep_hierarchy + [prefix + k for k in keywords] or None
    return {k: v for k, v in new.items() if current.get(k) != v}, plan.kept


@dataclass
class SidecarPlan:
    """A planned merge: the change, and the bytes before and after (``new`` None: nothing to write)."""

    change: SidecarChange
    photo: Path
    old: bytes | None  # None: no sidecar yet
    new: bytes | None
    values: dict[str, XmpValue]  # every value Mondrian sets in this write (for the record)
    state: FileState | None = None  # the sidecar as read (re-checked before it is replaced)


def plan_sidecar(
    photo: str | os.PathLike[str],
    update: SidecarUpdate,
    *,
    convention: Convention | str = Convention.LIGHTROOM,
    policy: WritePolicy = PHOTOGRAPHER,
    written: Mapping[str, Any] | None = None,
    user: Mapping[str, Any] | None = None,
) -> SidecarPlan:
    """Merge ``update`` into ``photo``'s sidecar for ``convention`` in memory; nothing is written.

    ``written``: what Mondrian wrote into that sidecar before (the store's record); ``user``: the
    photographer's values from every source (:func:`app.engine.sidecars.metadata.read_user_metadata`).
    Raises SidecarError naming the sidecar when it cannot be read or parsed.
    """
    photo = Path(photo)
    target = sidecar_path(photo, convention)
    if target.exists() and os.path.samefile(target, photo):
        raise SidecarError(f"{target}: is the photo itself, refusing to write")
    created = not target.exists()
    data: bytes | None = None
    state: FileState | None = None
    if not created:
        try:
            _check_size(target)
            data = target.read_bytes()
            state = FileState.of(target, data)
        except OSError as exc:
            raise SidecarError(f"{target}: cannot read ({exc.strerror or exc})") from None
    with exiv2_session() as (exiv2, log):
        namespace.register(exiv2)
        image = exiv2.ImageFactory.create(exiv2.ImageType.xmp) if data is None else parse_packet(
            exiv2, data, log, str(target))
        xmp = image.xmpData()
        current = xmp_values(exiv2, xmp)
        planned, kept = _planned(current, update, policy, written or {}, user or {})
        change = SidecarChange(path=target, created=created, kept=kept,
                               changes=[FieldChange(k, current.get(k), v) for k, v in planned.items()])
        if not planned:
            return SidecarPlan(change, photo, data, None, {}, state)
        arrays = _array_types(exiv2, xmp)
        for key, value in planned.items():
            _set(exiv2, xmp, key, value, arrays.get(key))
        try:
            image.writeMetadata()
        except exiv2.Exiv2Error as exc:
            raise SidecarError(f"{target}: exiv2 cannot write this XMP ({exc})") from None
        out = image_bytes(image)
    values = {k: v for k, v in planned.items() if v is not None}
    return SidecarPlan(change, photo, data, out, values, state)
