"""Real operating-system faults for a command run in a subprocess (tests and bench/faults.py).

* ``Fault.full(folder, free=0)``: the folder becomes a small tmpfs holding a copy of its files and
  filled up to ``free`` bytes left: writes there fail with ENOSPC, as on a full disk.
* ``Fault.read_only(folder)``: a read-only bind mount of the folder: EROFS.
* ``Fault.file_size(limit)``: ``RLIMIT_FSIZE`` (``ulimit -f``): a write past ``limit`` bytes in any
  file fails with EFBIG (Python ignores SIGXFSZ). Works everywhere, also on macOS.
* ``Fault.kill_at("module:function[:after]")``: SIGKILL at that call (``killhook/sitecustomize.py``).

The mounts live in a private mount namespace (``unshare -m``, Linux, as root): nothing outside the
command sees them, and they vanish with it. :func:`mounts_available` says whether this machine can.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KILL_ENV = "MONDRIAN_TEST_KILL"
HOOK_DIR = Path(__file__).resolve().parent / "killhook"
FILL = ".fill-for-fault-test"


@dataclass(frozen=True)
class Fault:
    kind: str  # "full" | "read_only" | "file_size" | "kill"
    folder: Path | None = None
    amount: int = 0  # bytes left free (full) or the file size limit (file_size)
    target: str = ""  # module:function[:after] (kill)

    @classmethod
    def full(cls, folder: Path, free: int = 0) -> Fault:
        return cls("full", Path(folder), free)

    @classmethod
    def read_only(cls, folder: Path) -> Fault:
        return cls("read_only", Path(folder))

    @classmethod
    def file_size(cls, limit: int) -> Fault:
        return cls("file_size", None, limit)

    @classmethod
    def kill_at(cls, target: str) -> Fault:
        return cls("kill", None, 0, target)

    @property
    def needs_mounts(self) -> bool:
        return self.kind in ("full", "read_only")


def _tree_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.is_dir() else 0


@functools.cache
def mounts_available() -> bool:
    """Whether ``unshare -m`` and a tmpfs mount work here (Linux as root; not macOS)."""
    if shutil.which("unshare") is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {shlex.quote(tmp)}"],
                               capture_output=True, timeout=30)
    return probe.returncode == 0


def _mount_script(fault: Fault) -> str:
    assert fault.folder is not None
    folder = shlex.quote(str(fault.folder))
    if fault.kind == "read_only":
        return f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder}"
    size = _tree_bytes(fault.folder) + fault.amount + (256 << 10)
    return (f'mnt=$(mktemp -d) && mount -t tmpfs -o size={size} tmpfs "$mnt" && cp -a {folder}/. "$mnt"/ && '
            f'mount --bind "$mnt" {folder} && (cat /dev/zero > {folder}/{FILL} 2>/dev/null; true) && '
            f"truncate -s -{fault.amount} {folder}/{FILL}")


def run(argv: list[str], fault: Fault | None, *, env: dict[str, str], cwd: Path, timeout: float = 600,
        **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``argv`` under ``fault``; text output captured."""
    env = dict(env)
    preexec = None
    if fault is not None and fault.needs_mounts:
        if fault.folder is not None:
            fault.folder.mkdir(parents=True, exist_ok=True)
        argv = ["unshare", "-m", "sh", "-c", _mount_script(fault) + ' && exec "$@"', "sh", *argv]
    elif fault is not None and fault.kind == "file_size":
        import resource

        limit = fault.amount

        def preexec() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    elif fault is not None and fault.kind == "kill":
        env[KILL_ENV] = fault.target
        env["PYTHONPATH"] = os.pathsep.join([str(HOOK_DIR), env.get("PYTHONPATH", "")])
    return subprocess.run(argv, cwd=cwd, env=env, text=True, capture_output=True, timeout=timeout,
                          preexec_fn=preexec, **kwargs)
