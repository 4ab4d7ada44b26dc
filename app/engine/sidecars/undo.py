"""Undoing a sidecar write: each file back to its exact bytes (and mtime), or refused by name.

A sidecar that no longer holds exactly what Mondrian wrote (Lightroom wrote since, the user
edited it) is refused and named, never rolled back over someone else's work. A sidecar Mondrian
created is deleted; one it changed gets its backup's bytes, mode and mtime back.
"""

from __future__ import annotations

import os
from pathlib import Path

from app.engine.sidecars.replace import FileState, ReplaceRefused, replace_file, sha256
from app.engine.sidecars.writer import WrittenFile


def undo_file(written: WrittenFile) -> str | None:
    """Restore one sidecar; None when restored, else why it was refused (naming the file)."""
    target = Path(written.path)
    try:
        data = target.read_bytes()
    except FileNotFoundError:
        if written.created:
            return None  # already gone: what undo would do
        return f"{target}: was deleted since Mondrian wrote it; left as it is"
    except OSError as exc:
        return f"{target}: cannot read ({exc.strerror or exc}); left as it is"
    if sha256(data) != written.hash_after:
        return f"{target}: changed since Mondrian wrote it (another program wrote it?); left as it is"
    if written.created:
        try:
            target.unlink()
        except OSError as exc:
            return f"{target}: cannot delete ({exc.strerror or exc})"
        return None
    if written.backup is None:
        return f"{target}: no backup recorded; left as it is"
    backup = Path(written.backup)
    try:
        old = backup.read_bytes()
        before = FileState.of(target, data)
        replace_file(target, old, before)
        if written.mode_before is not None and written.mode_before != before.mode:
            os.chmod(target, written.mode_before)
        info = os.stat(backup)
        os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
    except ReplaceRefused as exc:
        return str(exc)
    except OSError as exc:
        return f"{target}: cannot restore ({exc.strerror or exc}); backup kept at {backup}"
    return None
