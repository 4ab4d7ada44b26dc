"""``config path|get|set|unset``: the settings from the command line, checked by the file's own rules.

``set`` parses the value for the setting's type (``true``/``false``, numbers, comma lists) and
checks it with the same rule that ``settings.json`` is read with, so a value the command accepts is
one the app accepts; a bad one is exit 2 naming the key, the value and what is allowed.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="show or change settings (config path|get|set|unset)",
                       description="The settings file: where it is, its values, and changing one.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = actions.add_parser("path", help="where settings.json is (on this platform)")
    q.set_defaults(func=run_path)
    q = actions.add_parser("get", help="print a setting (or every setting with its meaning)")
    q.add_argument("key", nargs="?", default=None)
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=run_get)
    q = actions.add_parser("set", help="set a setting, e.g. `config set model /path/to/model-folder`")
    q.add_argument("key")
    q.add_argument("value", help="true/false, a number, text, or a comma list for list settings")
    q.set_defaults(func=run_set)
    q = actions.add_parser("unset", help="put a setting back to its default")
    q.add_argument("key")
    q.set_defaults(func=run_unset)


def _known(key: str) -> bool:
    from app.engine.settings import Settings

    if key in Settings.__dataclass_fields__ and key != "version":
        return True
    names = ", ".join(k for k in Settings.__dataclass_fields__ if k != "version")
    print(f"error: there is no setting {key!r}; the settings are: {names}", file=sys.stderr)
    return False


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return ",".join(value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def parse_value(key: str, text: str) -> Any:
    """``text`` as the setting's type, checked by its rule (raises SettingValueError)."""
    from app.engine.settings import Settings, check_setting

    kind = Settings.__dataclass_fields__[key].metadata["rule"].kind
    value: Any = text
    try:
        if kind is bool and text.lower() in ("true", "false", "yes", "no", "on", "off", "1", "0"):
            value = text.lower() in ("true", "yes", "on", "1")
        elif kind is int:
            value = int(text)
        elif kind is float:
            value = float(text)
        elif kind is list:
            value = [part.strip() for part in text.split(",") if part.strip()]
        elif kind is dict:
            value = json.loads(text)
    except ValueError:
        pass  # the rule's check names what is allowed
    return check_setting(key, value)


def run_path(_args: argparse.Namespace) -> int:
    from app.engine.settings import settings_path

    print(settings_path())
    return 0


def run_get(args: argparse.Namespace) -> int:
    from app.engine.settings import Settings, load_settings

    settings = load_settings()
    if args.key is not None:
        if not _known(args.key):
            return 2
        value = getattr(settings, args.key)
        print(json.dumps(list(value) if isinstance(value, tuple) else value) if args.json else _shown(value))
        return 0
    data = {k: v for k, v in settings.to_dict().items() if k != "version"}
    if args.json:
        print(json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}, ensure_ascii=False))
        return 0
    for key, value in data.items():
        meaning = Settings.__dataclass_fields__[key].metadata.get("help", "")
        print(f"{key} = {_shown(value)}" + (f"    # {meaning}" if meaning else ""))
    return 0


def run_set(args: argparse.Namespace) -> int:
    from app.engine.settings import load_settings, save_settings

    if not _known(args.key):
        return 2
    settings = load_settings()
    setattr(settings, args.key, parse_value(args.key, args.value))  # SettingValueError: exit 2 in app.cli
    path = save_settings(settings)
    print(f"{args.key} = {_shown(getattr(settings, args.key))}  ({path})")
    if args.key == "model":
        from app.engine.model.source import is_model_available, missing_model_message

        if not is_model_available(settings.model):
            print(f"note: {missing_model_message(settings.model)}", file=sys.stderr)
    return 0


def run_unset(args: argparse.Namespace) -> int:
    from app.engine.settings import Settings, load_settings, save_settings

    if not _known(args.key):
        return 2
    settings = load_settings()
    setattr(settings, args.key, getattr(Settings(), args.key))
    path = save_settings(settings)
    print(f"{args.key} = {_shown(getattr(settings, args.key))}  (the default; {path})")
    return 0
