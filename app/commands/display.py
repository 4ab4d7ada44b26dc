"""Can a window open here? Said before Qt tries, because Qt's answer is an abort (SIGABRT).

On Linux, Qt's xcb platform plugin aborts the process when there is no X display or when a library
it needs is missing (Qt 6.5 and later load ``libxcb-cursor.so.0`` at run time, so ``ldd`` alone does
not show it). :func:`display_problem` names what is missing and the Debian/Ubuntu package that
provides it; macOS and Windows always have a display.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

RUNTIME_LIBS = ("xcb-cursor",)  # dlopen'ed by the xcb plugin, not in its ELF dependencies


def debian_package(soname: str) -> str:
    """``libxcb-cursor.so.0`` -> ``libxcb-cursor0``; ``libxkbcommon-x11.so.0`` -> ``libxkbcommon-x11-0``."""
    m = re.fullmatch(r"(lib[\w+.-]+?)\.so\.(\d+).*", soname)
    if not m:
        return soname
    name, major = m.groups()
    return f"{name}-{major}" if name[-1].isdigit() else f"{name}{major}"


def _xcb_plugin() -> Path | None:
    try:
        import PySide6
    except ImportError:
        return None
    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def missing_xcb_libraries() -> list[str]:
    """The shared libraries Qt's xcb plugin needs that this machine does not have (sonames)."""
    from ctypes.util import find_library

    missing: list[str] = []
    plugin = _xcb_plugin()
    ldd = shutil.which("ldd")
    if plugin is not None and ldd:
        qt_lib = plugin.parents[2] / "lib"
        for target in [plugin, *sorted(qt_lib.glob("libQt6XcbQpa.so*"))[:1]]:
            try:
                out = subprocess.run([ldd, str(target)], capture_output=True, text=True, timeout=10).stdout
            except (OSError, subprocess.SubprocessError):
                continue
            missing += [line.split()[0] for line in out.splitlines() if "not found" in line]
    for lib in RUNTIME_LIBS:
        if find_library(lib) is None:
            missing.append(f"lib{lib}.so.0")
    return sorted(set(missing))


def display_problem() -> str | None:
    """None when a window can open, else what stops it and how to fix it (one paragraph)."""
    if sys.platform in ("darwin", "win32"):
        return None
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return None  # offscreen, wayland, vnc...: Qt was told what to use
    if not platform and os.environ.get("WAYLAND_DISPLAY"):
        return None
    if not os.environ.get("DISPLAY"):
        return ("no display: the window needs a desktop session (DISPLAY or WAYLAND_DISPLAY is not set). "
                "Critique from the terminal instead: `mondrian critique PHOTO`")
    missing = missing_xcb_libraries()
    if missing:
        packages = " ".join(sorted({debian_package(m) for m in missing}))
        return (f"the window cannot open: Qt's X11 (xcb) plugin needs {', '.join(missing)}, which this "
                f"machine does not have. On Debian/Ubuntu: sudo apt-get install {packages}")
    local = re.fullmatch(r":(\d+)(\.\d+)?", os.environ["DISPLAY"])
    if local and not Path(f"/tmp/.X11-unix/X{local.group(1)}").exists():
        return (f"the window cannot open: no X server is running on DISPLAY={os.environ['DISPLAY']} "
                f"(no /tmp/.X11-unix/X{local.group(1)}). Critique from the terminal instead: `mondrian critique PHOTO`")
    return None
