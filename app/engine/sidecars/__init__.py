"""XMP sidecars beside a user's photos: read, merge and write ratings, labels, flags, keywords, captions.

The only files Mondrian ever writes next to a photo. The photo itself is never touched; an
existing sidecar is merged (every field another tool wrote is kept) and replaced atomically.
"""

from app.engine.sidecars.paths import Convention, existing_sidecars, sidecar_note, sidecar_path
from app.engine.sidecars.xmp import (
    MONDRIAN_KEYWORD_PARENT,
    FieldChange,
    SidecarChange,
    SidecarError,
    SidecarUpdate,
    read_sidecar,
    write_sidecar,
)

__all__ = [
    "MONDRIAN_KEYWORD_PARENT", "Convention", "FieldChange", "SidecarChange", "SidecarError", "SidecarUpdate",
    "existing_sidecars", "read_sidecar", "sidecar_note", "sidecar_path", "write_sidecar",
]
