"""``<data>/server.json``: how a local client (the Lightroom plug-in) finds, and starts, ``serve``.

Written atomically by ``serve`` once it has bound its port, and rewritten with ``"running": false``
when it stops (kept, so a client still knows the command that starts it again). It holds no
secret: when the server needs a token (bound beyond loopback) it says so and names the token file
(``<data>/api_token``, mode 0600); the client reads the token from there at each request. A client
must still check ``GET /health``: a server that was killed leaves ``running: true`` behind (the
``pid`` helps tell).

Fields: ``url``, ``host``, ``port``, ``pid``, ``running``, ``token_required``, ``token_file``,
``started_at``, ``version``, and ``command`` / ``cwd`` / ``env`` (argv that starts this same server
again, the folder to run it in, and ``MONDRIAN_HOME`` when set).
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.engine import atomic, paths

SERVER_FILE = "server.json"


def server_file() -> Path:
    return paths.data_dir() / SERVER_FILE


def restart_command(argv: list[str] | None = None) -> tuple[list[str], str]:
    """The argv (and working folder) that runs this process's command again."""
    argv = list(sys.argv if argv is None else argv)
    first = Path(argv[0]).resolve() if argv and argv[0] else Path(sys.executable)
    if first.name == "__main__.py":  # python -m app ...
        return [sys.executable, "-m", first.parent.name, *argv[1:]], str(first.parents[1])
    if first.suffix == ".py":
        return [sys.executable, str(first), *argv[1:]], os.getcwd()
    return [str(first), *argv[1:]], os.getcwd()  # the `mondrian` script, the app bundle's executable


def describe(host: str, port: int, *, token_required: bool, running: bool = True) -> dict[str, Any]:
    from app import __version__
    from app.api.security import token_path

    command, cwd = restart_command()
    shown = f"[{host}]" if ":" in host else host
    home = os.environ.get(paths.HOME_ENV, "").strip()
    return {"url": f"http://{shown}:{port}", "host": host, "port": port, "pid": os.getpid(), "running": running,
            "token_required": token_required, "token_file": str(token_path()),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"), "version": __version__,
            "command": command, "cwd": cwd, "env": {paths.HOME_ENV: home} if home else {}}


def write_server_file(info: dict[str, Any]) -> Path:
    path = server_file()
    atomic.write_json(path, info)
    return path


def mark_stopped(info: dict[str, Any]) -> None:
    """Rewrite the file as not running, unless another server has written it since."""
    path = server_file()
    try:
        import json

        current = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if current.get("pid") == info.get("pid"):
        write_server_file({**info, "running": False})
