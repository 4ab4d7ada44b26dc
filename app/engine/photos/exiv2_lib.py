"""One door to exiv2 (python-exiv2), shared by EXIF reading, XMP sidecars and training's star ratings.

Exiv2's XMP toolkit keeps process-global state (its namespace registry, its initialisation), so
every call goes through :func:`exiv2_session`, which holds one lock. Exiv2 reports damage
through its log rather than exceptions (a malformed sidecar parses to *empty* metadata); the
session collects the warnings and errors of its own call so the caller can refuse to overwrite
what it could not read. The import is lazy: it costs ~60 ms and most runs never need it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

_lock = threading.RLock()
_module: Any = None


class _Collector(logging.Handler):
    """Keeps exiv2's log records of the current session (level WARNING and above)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname.lower()}: {record.getMessage()}")


_collector = _Collector()


def _load() -> Any:
    global _module
    if _module is None:
        import exiv2  # python-exiv2: a SWIG binding of libexiv2, shipped inside its wheel

        exiv2.XmpParser.initialize()  # not thread-safe: once, under the lock, before any XMP use
        exiv2.LogMsg.setHandler(exiv2.pythonHandler)  # exiv2's log -> logging.getLogger("exiv2")
        exiv2.LogMsg.setLevel(exiv2.LogMsg.Level.warn)
        logger = logging.getLogger("exiv2")
        logger.addHandler(_collector)
        logger.propagate = False  # maker-note chatter about a user's file is ours to report, not stderr's
        _module = exiv2
    return _module


@contextlib.contextmanager
def exiv2_session() -> Iterator[tuple[Any, list[str]]]:
    """``(exiv2 module, log messages of this session)`` under the exiv2 lock."""
    with _lock:
        module = _load()
        _collector.messages = []
        yield module, _collector.messages


def read_image(exiv2: Any, source: str | bytes) -> Any:
    """An exiv2 Image with its metadata read, from a path or from bytes (which must outlive the Image).

    exiv2's binding takes a path as UTF-8 text; a file name that is not UTF-8 (``caf\\xe9.jpg`` on
    Linux, a str holding surrogate escapes) is opened by us and handed over as ``/dev/fd/N`` for the
    read, so exiv2 never sees the name (nothing is copied). Such an Image is for reading only."""
    if isinstance(source, str) and not _utf8(source):
        fd = os.open(os.fsencode(source), os.O_RDONLY)
        try:
            image = exiv2.ImageFactory.open(f"/dev/fd/{fd}")
            image.readMetadata()
        finally:
            os.close(fd)
        return image
    image = exiv2.ImageFactory.open(source)
    image.readMetadata()
    return image


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def image_bytes(image: Any) -> bytes:
    """The bytes of an in-memory exiv2 Image after ``writeMetadata``."""
    io = image.io()
    io.open()
    try:
        with io.mmap() as view:
            return bytes(view)
    finally:
        io.close()
