"""Which process owns a running job or review: its pid and a token for this run of the process, so
rows left running by a process that is gone (a crash, a kill) can be told from those of a live one
(the GUI while the CLI reads history)."""

from __future__ import annotations

import os
import uuid

PROCESS_TOKEN = uuid.uuid4().hex  # this run of this process


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def worker_alive(pid: int | None, token: str | None) -> bool:
    """Is the process that owns a job still running? Our own pid with another token is an earlier
    run of the app that crashed and whose pid came round again (pid 1 in a container, say)."""
    if pid == os.getpid():
        return token == PROCESS_TOKEN
    return _pid_alive(pid)
