"""Which files are photos: the still formats Pillow decodes, the RAW formats LibRaw decodes, and their suffixes.

Decoding is decided by content (a PNG named ``.jpg`` still loads); suffixes only decide what a
folder scan picks up and what Finder offers to open. Every still format Pillow can decode is
accepted except those in :data:`REFUSED_FORMATS` (each with the reason the user is given) and
Pillow's "stub" plugins, which identify a format but have no decoder.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageFile

# Pillow formats we never decode, and why (the reason is shown to the user).
REFUSED_FORMATS: dict[str, str] = {
    "EPS": "PostScript is rendered by running Ghostscript, an external interpreter; export the photo as JPEG or TIFF",
    "MPEG": "it is a video; Pillow reads only its header",
}

# Suffixes a folder scan treats as still photos (lower case). Formats are told apart by content.
STILL_SUFFIXES: frozenset[str] = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".tif", ".tiff", ".webp", ".heic", ".heif", ".hif",
    ".avif", ".gif", ".bmp", ".dib", ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".qoi", ".jp2", ".j2k", ".jpx",
    ".psd",
})
# Camera RAW suffixes LibRaw decodes (Canon, Nikon, Sony, Fujifilm, Olympus/OM, Panasonic, Pentax, Adobe
# DNG, Leica, Hasselblad, Phase One, Sigma, Samsung, Kodak, Minolta, Epson, Mamiya, GoPro).
RAW_SUFFIXES: frozenset[str] = frozenset({
    ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2", ".rwl", ".pef",
    ".dng", ".3fr", ".fff", ".iiq", ".x3f", ".srw", ".dcr", ".kdc", ".k25", ".mrw", ".erf", ".mef", ".mos",
    ".raw", ".gpr",
})
PHOTO_SUFFIXES: frozenset[str] = STILL_SUFFIXES | RAW_SUFFIXES

# Magic numbers, to say "truncated or corrupt JPEG data" rather than "not an image" when a
# photo is cut so short that Pillow cannot even parse its header.
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"WEBP", 8, "WEBP"),
    (b"GIF87a", 0, "GIF"),
    (b"GIF89a", 0, "GIF"),
    (b"BM", 0, "BMP"),
    (b"ftypheic", 4, "HEIF"),
    (b"ftypheix", 4, "HEIF"),
    (b"ftypmif1", 4, "HEIF"),
    (b"ftyphevc", 4, "HEIF"),
    (b"ftypmsf1", 4, "HEIF"),
    (b"ftypavif", 4, "AVIF"),
)
_LABELS = {"WEBP": "WebP", "MPO": "JPEG", "HEIF": "HEIC/HEIF"}


def is_photo_path(path: str | Path) -> bool:
    """True if the name has a photo suffix, still or RAW (case-insensitive); says nothing about the content."""
    return Path(path).suffix.lower() in PHOTO_SUFFIXES


def is_raw_path(path: str | Path) -> bool:
    """True if the name has a camera RAW suffix: such files go to LibRaw, not Pillow (a DNG or CR2 is
    also a TIFF, whose first image Pillow would show: a thumbnail, not the photo)."""
    return Path(path).suffix.lower() in RAW_SUFFIXES


def sniff(head: bytes) -> str | None:
    """The format the first bytes announce, or None."""
    for magic, offset, fmt in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return fmt
    return None


def label(fmt: str | None) -> str:
    """A format name as photographers write it."""
    return _LABELS.get(fmt or "", fmt or "image")


def decodable_formats() -> list[str]:
    """The Pillow formats we decode: every registered opener that has a decoder, minus the refused ones."""
    Image.init()  # imports every plugin once, so Image.OPEN is complete; cheap after the first call
    names = []
    for name, (factory, _accept) in Image.OPEN.items():
        if name in REFUSED_FORMATS or _is_stub(factory):
            continue
        names.append(name)
    return sorted(names)


def refusal_reason(fmt: str, factory: object | None = None) -> str | None:
    """Why a format Pillow identified is not decoded, or None if it is."""
    if fmt in REFUSED_FORMATS:
        return REFUSED_FORMATS[fmt]
    if factory is not None and _is_stub(factory):
        return "Pillow identifies this format but has no decoder for it"
    return None


def _is_stub(factory: object) -> bool:
    return isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile)
