"""What can be checked of the Mac bundle on any platform: setup.py's py2app options and Info.plist,
MLX's native files, and that every resource is found through app.engine.resources, both in the
source tree and in a bundle layout (Contents/Resources/resources, RESOURCEPATH set by py2app)."""

from __future__ import annotations

import importlib.util
import plistlib
import re
import shutil
import sys
from pathlib import Path

import pytest

import app
from app.engine import resources

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setup_module():
    spec = importlib.util.spec_from_file_location("mondrian_setup", ROOT / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # must not build anything on import
    return module


def test_plist_comes_from_the_version_constant(setup_module):
    plist = setup_module.plist()
    assert plist["CFBundleShortVersionString"] == app.__version__ == plist["CFBundleVersion"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", app.__version__)
    assert plist["CFBundleName"] == "Mondrian" and plist["CFBundleIdentifier"].count(".") >= 2
    assert plist["NSHighResolutionCapable"] is True
    assert tuple(int(x) for x in plist["LSMinimumSystemVersion"].split(".")) >= (14, 0)
    assert plist["CFBundleIconFile"] == "mondrian.icns"
    plistlib.dumps(plist)  # every value is plist-serialisable


def test_document_types_cover_the_photo_formats(setup_module):
    types = setup_module.plist()["CFBundleDocumentTypes"]
    utis = {u for t in types for u in t["LSItemContentTypes"]}
    assert {"public.jpeg", "public.png", "public.heic", "public.tiff"} <= utis
    assert all(t["CFBundleTypeRole"] == "Viewer" for t in types)
    exts = {e for t in types for e in t["CFBundleTypeExtensions"]}
    from app.engine.photos.decode import PHOTO_SUFFIXES

    assert {s.lstrip(".") for s in PHOTO_SUFFIXES} <= exts  # Finder offers what the loader reads


def test_py2app_options(setup_module):
    opts = setup_module.py2app_options()
    assert opts["argv_emulation"] is False  # Qt receives file-open events itself
    assert "app.testing" in opts["excludes"]  # test models stay out of the bundle
    icon = Path(opts["iconfile"])
    assert icon.is_file() and icon.read_bytes()[:4] == b"icns"
    assert opts["resources"] == [str(resources.resources_root())]
    for package in ("app", "training", "mlx", "mlx_vlm", "PySide6", "transformers"):
        assert package in opts["packages"]
        assert setup_module.package_dir(package) is not None, f"{package} is not installed"
    assert "platforms/libqcocoa.dylib" in opts["qt_plugins"] and "imageformats" in opts["qt_plugins"]
    assert opts["arch"] == "arm64"
    kwargs = setup_module.setup_kwargs()
    target = kwargs["app"][0]
    assert target["dest_base"] == "Mondrian" and (ROOT / target["script"]).is_file()
    assert "name" not in kwargs and "version" not in kwargs  # pyproject.toml owns them


def test_mlx_native_files_are_found(setup_module):
    natives = setup_module.mlx_native_files()
    assert any(p.name.startswith("libmlx") for p in natives), natives
    if sys.platform == "darwin":
        assert any(p.suffix == ".metallib" for p in natives)
    assert setup_module.check_build_inputs() == []


def test_qt_plugins_exist_in_this_pyside6(setup_module):
    plugins = setup_module.package_dir("PySide6") / "Qt" / "plugins"
    assert (plugins / "imageformats").is_dir() and (plugins / "platforms").is_dir()


def test_every_resource_is_found_through_the_locator_in_a_bundle_layout(qapp, setup_module, tmp_path, monkeypatch):
    files = setup_module.resource_files()
    root = resources.resources_root()
    assert any(f.name == "mondrian.png" for f in files) and any(f.suffix == ".toml" for f in files)
    # A py2app bundle: Contents/Resources/resources, with RESOURCEPATH pointing at Contents/Resources.
    bundle = tmp_path / "Mondrian.app" / "Contents" / "Resources"
    shutil.copytree(root, bundle / "resources")
    monkeypatch.setenv("RESOURCEPATH", str(bundle))
    monkeypatch.delenv(resources.RESOURCES_ENV, raising=False)
    resources.resources_root.cache_clear()
    try:
        assert resources.resources_root() == bundle / "resources"
        for f in files:
            found = resources.resource_path(*f.relative_to(root).parts)
            assert found.is_file() and bundle in found.parents
        from app.engine.advisors import load_advisors

        assert "ansel" in load_advisors()
        from app.ui.window import app_icon

        assert not app_icon().isNull()
    finally:
        resources.resources_root.cache_clear()


def test_no_code_builds_resource_paths_by_hand():
    """Only the locator knows where resources live (source tree, bundle, MONDRIAN_RESOURCES)."""
    pattern = re.compile(r"""["']resources["']\s*[,/)]|/\s*["']resources["']""")
    offenders = []
    for folder in ("app", "training"):
        for path in (ROOT / folder).rglob("*.py"):
            if path == ROOT / "app" / "engine" / "resources.py":
                continue
            if pattern.search(path.read_text(encoding="utf-8")):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
