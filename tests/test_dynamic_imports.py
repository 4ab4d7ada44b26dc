"""Imports by name obey the same contracts as import statements.

import-linter sees only ``import`` statements: ``importlib.import_module("app.ui.window")`` or
``__import__("PySide6.QtWidgets")`` in the engine passes every contract (and only the runtime Qt-free
test would catch the Qt case). This test reads the contracts from pyproject.toml and scans the
source modules for calls that import by name: a name a contract forbids fails, and so does a name
the scan cannot read (a variable, or an f-string whose fixed part does not pin a package), since
it could be anything. Forbidden contracts and layers contracts (a module names nothing on a higher
floor, nor an independent ``|`` sibling of its own floor; ``:`` siblings may) are both covered.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMPORTERS = {"import_module", "__import__", "resolve_name"}  # importlib.*, builtins, pkgutil.resolve_name


@dataclass(frozen=True)
class Named:
    """A module named in a call: ``prefix`` is True for an f-string's fixed ``pkg.`` part."""

    line: int
    name: str | None  # None: not readable from the source
    prefix: bool = False


def _package(module: str, is_package: bool) -> str:
    return module if is_package else module.rpartition(".")[0]


def named_imports(source: str, module: str, is_package: bool = False) -> Iterator[Named]:
    """Every module a call in ``source`` imports by name."""
    tree = ast.parse(source)
    aliases = set(IMPORTERS)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("importlib", "pkgutil"):
            aliases |= {a.asname for a in node.names if a.name in IMPORTERS and a.asname}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if called not in aliases:
            continue
        arg = node.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            name, prefix = arg.value, False
        elif (isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant)
              and str(arg.values[0].value).endswith(".")):
            name, prefix = str(arg.values[0].value).rstrip("."), True
        else:
            yield Named(node.lineno, None)
            continue
        if name.startswith("."):  # relative to this module's package
            base = _package(module, is_package).split(".")
            up = len(name) - len(name.lstrip("."))
            name = ".".join([*base[: len(base) - up + 1], name.lstrip(".")]).rstrip(".")
        yield Named(node.lineno, name.split(":")[0], prefix)  # resolve_name's "pkg.mod:attr"


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _may_be_within(found: Named, package: str) -> bool:
    """Could the named module be ``package`` or inside it? (A prefix names anything below it.)"""
    assert found.name is not None
    return _within(found.name, package) or (found.prefix and package.startswith(found.name + "."))


def _modules(package: str) -> Iterator[tuple[str, Path, bool]]:
    base = ROOT / package.replace(".", "/")
    files = sorted(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]
    for path in files:
        parts = path.relative_to(ROOT).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        yield ".".join(parts[:-1] if is_package else parts), path, is_package


def _contracts() -> list[dict]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return data["tool"]["importlinter"]["contracts"]


UNREADABLE = "imports a module whose name the source does not say"


def _named_in(package: str, scan) -> Iterator[tuple[str, Named]]:
    """(file:line, what it names) for each call in ``package`` that imports by name."""
    for module, path, is_package in _modules(package):
        for found in scan(path.read_text(encoding="utf-8"), module, is_package):
            yield f"{path.relative_to(ROOT)}:{found.line}", found


def forbidden_offences(contract: dict, scan=named_imports) -> list[str]:
    out = []
    for source in contract["source_modules"]:
        for where, found in _named_in(source, scan):
            if found.name is None:
                out.append(f"{where}: {UNREADABLE}")
                continue
            for banned in contract["forbidden_modules"]:
                if _may_be_within(found, banned):
                    out.append(f"{where}: imports {found.name}{'.*' if found.prefix else ''} ({banned} is forbidden)")
    return out


def _floors(contract: dict) -> list[list[str]]:
    containers = contract.get("containers") or [""]
    floors: list[list[str]] = [[] for _ in contract["layers"]]
    for container in containers:
        for i, layer in enumerate(contract["layers"]):
            for member in layer.strip("()").replace(":", "|").split("|"):
                floors[i].append(f"{container}.{member.strip()}" if container else member.strip())
    return floors


def _floor_of(name: str, floors: list[list[str]]) -> tuple[int, str] | None:
    for i, members in enumerate(floors):
        for member in members:
            if _within(name, member):
                return i, member
    return None


def layer_offences(contract: dict, scan=named_imports) -> list[str]:
    floors = _floors(contract)
    out = []
    for i, members in enumerate(floors):
        for member in members:
            for where, found in _named_in(member, scan):
                if found.name is None:
                    out.append(f"{where}: {UNREADABLE}")
                    continue
                target = _floor_of(found.name, floors)
                sibling = target is not None and target[0] == i and target[1] != member
                if target is not None and (target[0] < i or (sibling and "|" in contract["layers"][i])):
                    out.append(f"{where}: imports {found.name} on floor {target[0]} from floor {i} ({member})")
                elif target is None and found.prefix and any(
                        m.startswith(found.name + ".") for floor in floors[:i + 1] for m in floor):
                    out.append(f"{where}: imports something below {found.name}.*, which spans floors")
    return out


def test_no_module_imports_by_name_what_a_contract_forbids():
    contracts = _contracts()
    assert {c["type"] for c in contracts} == {"forbidden", "layers"}, "a new contract type: teach this test"
    offences = []
    for contract in contracts:
        check = forbidden_offences if contract["type"] == "forbidden" else layer_offences
        offences += check(contract)
    assert offences == []


def test_every_layer_is_mandatory():
    """``(name)`` makes a layer optional: renaming its package would drop it from the contract silently."""
    optional = [layer for c in _contracts() if c["type"] == "layers" for layer in c["layers"] if "(" in layer]
    assert optional == []


def _scan_snippet(snippet: str, module: str):
    def scan(source: str, name: str, is_package: bool) -> Iterator[Named]:
        yield from named_imports(source, name, is_package)
        if name == module:
            yield from named_imports(snippet, module)
    return scan


HEADLESS = next(c for c in _contracts() if "app.ui" in c.get("forbidden_modules", []))
FLOORS = next(c for c in _contracts() if c.get("containers") == ["app.engine"])


def test_the_scan_catches_the_window_qt_and_the_api_imported_by_name():
    snippet = ("import importlib\nfrom importlib import import_module as load\n"
               "importlib.import_module('app.ui.window')\n"
               "__import__('PySide6.QtWidgets')\n"
               "load('app.api.app')\n"
               "importlib.import_module(f'fastapi.{x}')\n"
               "importlib.import_module(some_name)\n"
               "importlib.import_module('app.engine.paths')\n")  # allowed
    found = forbidden_offences(HEADLESS, _scan_snippet(snippet, "app.engine.service"))
    assert [line.split(": ", 1)[1] for line in found if line.startswith("app/engine/service.py:")] == [
        "imports app.ui.window (app.ui is forbidden)",
        "imports PySide6.QtWidgets (PySide6 is forbidden)",
        "imports app.api.app (app.api is forbidden)",
        "imports fastapi.* (fastapi is forbidden)",
        "imports a module whose name the source does not say",
    ]


def test_the_scan_catches_a_higher_floor_imported_by_name():
    snippet = ("import importlib\n"
               "importlib.import_module('app.engine.service')\n"   # a higher floor
               "importlib.import_module('..rag.index', 'x')\n"     # relative: app.engine.rag, also higher
               "importlib.import_module('app.engine.photos.exif')\n")  # below: allowed
    found = layer_offences(FLOORS, _scan_snippet(snippet, "app.engine.model.host"))
    floors = _floors(FLOORS)  # numbered as the contract lists them today
    service, rag, model = (_floor_of(name, floors)[0] for name in ("app.engine.service", "app.engine.rag.index",
                                                                     "app.engine.model.host"))
    assert [line.split(": ", 1)[1] for line in found if line.startswith("app/engine/model/host.py:")] == [
        f"imports app.engine.service on floor {service} from floor {model} (app.engine.model)",
        f"imports app.engine.rag.index on floor {rag} from floor {model} (app.engine.model)",
    ]
