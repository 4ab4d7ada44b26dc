"""Build ``Mondrian.app`` with py2app (macOS, Apple silicon):

    pip install -e ".[mac]"          # py2app, on macOS only
    python setup.py py2app           # -> dist/Mondrian.app

Everything about the bundle is declared here as plain data built by small functions, so the test
suite can check it on any platform without py2app (``tests/test_mac_bundle.py``). The package
metadata itself (name, dependencies, version) lives in ``pyproject.toml``; the bundle's version
comes from the same constant, ``app.__version__``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app import __version__  # noqa: E402
from app.engine.resources import resources_root  # noqa: E402

APP_NAME = "Mondrian"
BUNDLE_ID = "app.mondrian.Mondrian"
MAIN_SCRIPT = "app/ui/launch.py"
MIN_MACOS = "14.0"  # exiv2 (EXIF, XMP sidecars) ships arm64 wheels for macOS 14+; MLX itself needs 13.5
ICON = ("icons", "mondrian.icns")

# (type name, UTIs, extensions): what Finder offers to open with Mondrian.
PHOTO_TYPES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("JPEG image", ("public.jpeg",), ("jpg", "jpeg")),
    ("PNG image", ("public.png",), ("png",)),
    ("HEIC image", ("public.heic", "public.heif"), ("heic", "heif")),
    ("TIFF image", ("public.tiff",), ("tif", "tiff")),
    ("WebP image", ("org.webmproject.webp",), ("webp",)),
    ("GIF image", ("com.compuserve.gif",), ("gif",)),
    ("BMP image", ("com.microsoft.bmp",), ("bmp", "dib")),
    ("AVIF image", ("public.avif",), ("avif",)),
    ("JPEG 2000 image", ("public.jpeg-2000",), ("jp2", "j2k", "jpx")),
    ("Photoshop image", ("com.adobe.photoshop-image",), ("psd",)),
    ("TGA image", ("com.truevision.tga-image",), ("tga",)),
    ("Netpbm image", ("public.pbm",), ("ppm", "pgm", "pbm", "pnm")),
    ("Other image", ("public.image",), ("jpe", "jfif", "apng", "hif", "qoi")),
    ("Camera RAW image", ("public.camera-raw-image", "com.adobe.raw-image"),
     ("cr2", "cr3", "crw", "nef", "nrw", "arw", "srf", "sr2", "raf", "orf", "rw2", "rwl", "pef", "dng", "3fr",
      "fff", "iiq", "x3f", "srw", "dcr", "kdc", "k25", "mrw", "erf", "mef", "mos", "raw", "gpr")),
)

# Packages copied whole: they load code or data by name at run time (mlx-vlm's model classes,
# transformers' processors, Qt's plugins, MLX's native library and Metal kernels).
PACKAGES = ("app", "training", "mlx", "mlx_vlm", "transformers", "tokenizers", "safetensors", "huggingface_hub",
            "datasets", "llguidance", "PIL", "pillow_heif", "rawpy", "exiv2", "numpy", "platformdirs", "PySide6", "shiboken6",
            "fastapi", "uvicorn", "shtab")
QT_PLUGINS = ("platforms/libqcocoa.dylib", "imageformats", "styles", "iconengines", "platforminputcontexts")
EXCLUDES = ("tkinter", "PyQt5", "PyQt6", "PySide2", "pytest", "pytestqt", "hypothesis", "IPython", "matplotlib",
            "torch", "tensorflow", "jax",
            "app.testing")  # the tiny test models are not part of the product


def icon_file() -> Path:
    """The .icns, found through the one resource locator."""
    return resources_root().joinpath(*ICON)


def resource_files() -> list[Path]:
    """Every bundled resource file (advisors, icons, samples...), as the locator sees them."""
    root = resources_root()
    return sorted(p for p in root.rglob("*") if p.is_file() and not any(part.startswith(".") for part in
                                                                         p.relative_to(root).parts))


def package_dir(name: str) -> Path | None:
    """Where an installed package lives, without importing it (importing mlx costs seconds)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def mlx_native_files() -> list[Path]:
    """MLX's shared library and Metal kernels (``mlx/lib/libmlx.dylib``, ``mlx.metallib``); the
    bundle needs both next to the ``mlx`` package or MLX fails at import / first kernel."""
    root = package_dir("mlx")
    if root is None:
        return []
    found = [*root.glob("lib/libmlx*"), *root.glob("lib/*.metallib"), *root.glob("*.metallib")]
    return sorted(set(found))


def document_types() -> list[dict[str, Any]]:
    return [{"CFBundleTypeName": name, "CFBundleTypeRole": "Viewer", "LSHandlerRank": "Alternate",
             "LSItemContentTypes": list(utis), "CFBundleTypeExtensions": list(exts)}
            for name, utis, exts in PHOTO_TYPES]


def plist() -> dict[str, Any]:
    """Info.plist: identity and version from ``app.__version__``, document types, Retina, min macOS."""
    return {
        "CFBundleName": APP_NAME,
        "CFBundleDisplayName": APP_NAME,
        "CFBundleIdentifier": BUNDLE_ID,
        "CFBundleShortVersionString": __version__,
        "CFBundleVersion": __version__,
        "CFBundleIconFile": icon_file().name,
        "CFBundleDocumentTypes": document_types(),
        "LSMinimumSystemVersion": MIN_MACOS,
        "LSApplicationCategoryType": "public.app-category.photography",
        "LSArchitecturePriority": ["arm64"],
        "NSHighResolutionCapable": True,
        "NSRequiresAquaSystemAppearance": False,  # follow Dark Mode
        "NSPrincipalClass": "NSApplication",
        "NSHumanReadableCopyright": "Mondrian: private, offline photo critique",
    }


def py2app_options() -> dict[str, Any]:
    return {
        "argv_emulation": False,  # Qt handles file-open events itself (QFileOpenEvent)
        "iconfile": str(icon_file()),
        "plist": plist(),
        # The resources folder is copied as Contents/Resources/resources, where
        # app.engine.resources looks in a bundle (RESOURCEPATH/resources).
        "resources": [str(resources_root())],
        "packages": list(PACKAGES),
        "includes": ["app.ui.main", "app.cli"],
        "excludes": list(EXCLUDES),
        "qt_plugins": list(QT_PLUGINS),
        # libmlx.dylib and mlx.metallib travel inside the mlx package (copied whole, keeping the
        # layout its extension module expects); check_build_inputs refuses to build without them.
        "arch": "arm64",
        "optimize": 0,
    }


def setup_kwargs() -> dict[str, Any]:
    """For ``setup()`` under py2app; name and version come from pyproject.toml (the same constant)."""
    return {
        "app": [{"script": MAIN_SCRIPT, "dest_base": APP_NAME}],  # -> dist/Mondrian.app
        "options": {"py2app": py2app_options()},
    }


def check_build_inputs() -> list[str]:
    """Problems that would make a broken bundle (run before building)."""
    problems = []
    if not icon_file().is_file():
        problems.append(f"icon missing: {icon_file()} (run: python scripts/make_icon.py)")
    if not (ROOT / MAIN_SCRIPT).is_file():
        problems.append(f"main script missing: {MAIN_SCRIPT}")
    natives = mlx_native_files()
    if not any(p.name.startswith("libmlx") for p in natives):
        problems.append("MLX's native library (mlx/lib/libmlx.*) was not found: install mlx")
    if sys.platform == "darwin" and not any(p.suffix == ".metallib" for p in natives):
        problems.append("MLX's Metal kernels (mlx.metallib) were not found: install mlx for macOS")
    return problems


if __name__ == "__main__":
    from setuptools import setup

    if any(arg.startswith("py2app") for arg in sys.argv[1:]):
        issues = check_build_inputs()
        if issues:
            sys.exit("cannot build Mondrian.app:\n  " + "\n  ".join(issues))
        setup(**setup_kwargs())
    else:  # pip / build: pyproject.toml describes the package; nothing bundle-specific
        setup()
