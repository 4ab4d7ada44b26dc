"""File names the filesystem allows but UTF-8 does not, in the database and in JSON.

On Linux (and on network shares) a file name is bytes: ``caf\\xe9.jpg`` (Latin-1) is a valid
name that is not UTF-8. Python gives it to us as a ``str`` holding a lone surrogate
(``caf\\udce9.jpg``, PEP 383 ``surrogateescape``), which opens the right file but which SQLite
(UTF-8 text) and strict JSON cannot hold.

* In the database (:func:`db_text` / :func:`os_text`): a name that is valid UTF-8 is stored as it
  is (every existing row is unchanged); each byte that is not becomes NUL followed by its two hex
  digits (``caf\\x00e9.jpg``). NUL can never occur in a POSIX path, so the form is unambiguous and
  round-trips exactly to the same bytes.
* In JSON (:func:`display_text`, :func:`name_bytes_b64`): the readable form with each such byte
  written ``\\xe9`` (``caf\\xe9.jpg``, what ``ls -b`` shows) and, beside it, the exact name as
  base64 of its bytes (``path_b64``) for a client that must open the file.

Mac names (NFC vs NFD): APFS and HFS+ treat the two normalisations of a name as the same file,
and a name is stored exactly as the folder listing gives it, so a re-scan finds the same row.
"""

from __future__ import annotations

import base64
import os

_ESCAPE = "\x00"


def _surrogates(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def db_text(path: str | os.PathLike[str]) -> str:
    """``path`` as valid UTF-8 text for SQLite, reversible by :func:`os_text`."""
    text = os.fspath(path)
    if not _surrogates(text):
        return text
    return "".join(f"{_ESCAPE}{ord(ch) - 0xDC00:02x}" if "\udc80" <= ch <= "\udcff" else ch for ch in text)


def os_text(text: str) -> str:
    """The OS path string (with surrogate escapes) for a value stored by :func:`db_text`."""
    if _ESCAPE not in text:
        return text
    out, i = [], 0
    while i < len(text):
        if text[i] == _ESCAPE and i + 3 <= len(text):
            out.append(chr(0xDC00 + int(text[i + 1:i + 3], 16)))
            i += 3
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def display_text(text: str) -> str:
    """``text`` printable and JSON-safe: undecodable bytes shown as ``\\xNN`` (lone surrogates gone)."""
    if not _surrogates(text):
        return text
    return os.fsencode(text).decode("utf-8", "backslashreplace")


def name_bytes_b64(text: str) -> str | None:
    """The exact bytes of a path that is not UTF-8, as base64; None for an ordinary name."""
    return base64.b64encode(os.fsencode(text)).decode("ascii") if _surrogates(text) else None


def json_safe(value: object) -> object:
    """``value`` (dicts, lists, strings) with every non-UTF-8 string made readable; a string field
    ``x`` that needed it gains ``x_b64`` with its exact bytes. Everything else is returned as is."""
    if isinstance(value, str):
        return display_text(value)
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        out: dict[object, object] = {}
        for key, item in value.items():
            out[json_safe(key)] = json_safe(item)
            if isinstance(item, str) and _surrogates(item):
                out[f"{key}_b64"] = name_bytes_b64(item)
        return out
    return value
