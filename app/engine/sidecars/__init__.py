"""XMP sidecars beside a user's photos: read what the photographer decided, and merge Mondrian's results.

The only files Mondrian ever writes next to a photo. The photo itself is never touched; an
existing sidecar is merged under a :class:`WritePolicy` (by default Mondrian's namespace and
keywords only), backed up, re-checked and replaced atomically with its mode, owner and extended
attributes kept. :func:`read_user_metadata` is the one reader of ratings, labels, flags and
captions, for the review and for training.
"""

from app.engine.sidecars.metadata import UserMetadata, canonical_label, read_user_metadata, sidecars_in_order
from app.engine.sidecars.paths import Convention, existing_sidecars, sidecar_note, sidecar_path
from app.engine.sidecars.policy import PHOTOGRAPHER, STANDARD_FIELDS, WritePolicy
from app.engine.sidecars.writer import WrittenFile, backup_root, commit_plan
from app.engine.sidecars.xmp import (
    MONDRIAN_KEYWORD_PARENT,
    FieldChange,
    SidecarChange,
    SidecarError,
    SidecarPlan,
    SidecarUpdate,
    plan_sidecar,
    read_sidecar,
)

__all__ = [
    "MONDRIAN_KEYWORD_PARENT", "PHOTOGRAPHER", "STANDARD_FIELDS", "Convention", "FieldChange", "SidecarChange",
    "SidecarError", "SidecarPlan", "SidecarUpdate", "UserMetadata", "WritePolicy", "WrittenFile", "backup_root",
    "canonical_label", "commit_plan", "existing_sidecars", "plan_sidecar", "read_sidecar", "read_user_metadata",
    "sidecar_note", "sidecar_path", "sidecars_in_order",
]
