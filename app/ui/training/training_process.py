"""Run the training commands as separate processes (QProcess) and turn their JSON lines into signals.

Training runs out of process so a crash or an out-of-memory in MLX never takes the app down, and
its memory is returned when it ends. Each command prints one JSON object per line on stdout
(``training.events``: the same typed events the commands write); stderr is kept for the error
message. A pipeline is a list of commands that training builds (``training.pipeline``), run one
after the other; a failed step stops it.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import deque
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from training.events import Error, Event, Refused, parse_event
from training.pipeline import Command

from ..common.qt_compat import emit

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STOP_GRACE_MS = 8000


Step = Command  # one step of a pipeline


def child_environment() -> QProcessEnvironment:
    """The app's environment, with the project on PYTHONPATH and unbuffered output."""
    env = QProcessEnvironment.systemEnvironment()
    paths = [str(PROJECT_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env.insert("PYTHONPATH", os.pathsep.join(dict.fromkeys(paths)))
    env.insert("PYTHONUNBUFFERED", "1")
    return env


class CommandRunner(QObject):
    """Runs steps in order. Signals: ``stepStarted(label)``, ``progressEvent(label, Event)``,
    ``output(label, text)`` for non-JSON lines, ``stepFinished(label, exit_code, error)``, and
    ``finished(ok, message)`` once for the whole pipeline."""

    stepStarted = Signal(str)
    progressEvent = Signal(str, object)  # a training.events.Event (not "event": QObject.event is a virtual)
    output = Signal(str, str)
    stepFinished = Signal(str, int, str)
    finished = Signal(bool, str)

    def __init__(self, parent: QObject | None = None, *, python: str | None = None):
        super().__init__(parent)
        self.python = python or sys.executable
        self.process: QProcess | None = None
        self._steps: list[Step] = []
        self._current: Step | None = None
        self._stdout = b""
        self._stderr: deque[str] = deque(maxlen=40)
        self._stopping = False
        self.events: list[tuple[str, Event]] = []  # (step label, event) of the last pipeline

    @property
    def running(self) -> bool:
        return self.process is not None

    def start(self, steps: list[Step]) -> None:
        if self.running:
            raise RuntimeError("a training command is already running")
        self._steps = list(steps)
        self._stopping = False
        self.events = []
        self._next()

    def stop(self, *, wait: bool = False) -> None:
        """Ask the running step to stop (SIGTERM: training stops at the next step, keeping its last
        checkpoint); kill it if it has not ended after a grace period. ``wait`` blocks (app quit)."""
        proc = self.process
        if proc is None:
            return
        self._stopping = True
        self._steps = []
        proc.terminate()
        if wait:
            if not proc.waitForFinished(STOP_GRACE_MS):
                proc.kill()
                proc.waitForFinished(2000)
            return
        QTimer.singleShot(STOP_GRACE_MS, lambda: self._kill_if_running(proc))

    def _kill_if_running(self, proc: QProcess) -> None:
        if self.process is proc and proc.state() != QProcess.ProcessState.NotRunning:
            proc.kill()

    # ---- plumbing ------------------------------------------------------------------------------
    def _next(self) -> None:
        if not self._steps:
            self._current = None
            emit(self.finished, True, "done")
            return
        step = self._steps.pop(0)
        self._current = step
        self._stdout = b""
        self._stderr.clear()
        proc = QProcess(self)
        proc.setProcessEnvironment(child_environment())
        proc.setWorkingDirectory(str(PROJECT_ROOT))
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._done)
        proc.errorOccurred.connect(self._error)
        self.process = proc
        emit(self.stepStarted, step.label)
        log.info("running %s %s", self.python, " ".join(step.argv()))
        proc.start(self.python, step.argv())

    def _read_stdout(self) -> None:
        if self.process is None or self._current is None:
            return
        self._stdout += bytes(self.process.readAllStandardOutput().data())
        *lines, self._stdout = self._stdout.split(b"\n")
        for raw in lines:
            self._line(raw.decode("utf-8", "replace").strip())

    def _line(self, text: str) -> None:
        if not text or self._current is None:
            return
        label = self._current.label
        event = parse_event(text)
        if event is not None:
            self.events.append((label, event))
            emit(self.progressEvent, label, event)
            return
        emit(self.output, label, text)

    def _read_stderr(self) -> None:
        if self.process is None:
            return
        text = bytes(self.process.readAllStandardError().data()).decode("utf-8", "replace")
        for line in text.replace("\r", "\n").splitlines():
            if line.strip():
                self._stderr.append(line.rstrip())

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self._current is not None:
            step = self._current
            self.process = None
            self._current = None
            message = f"could not start {self.python} -m {step.module}"
            emit(self.stepFinished, step.label, -1, message)
            emit(self.finished, False, message)

    def _done(self, code: int, status: QProcess.ExitStatus) -> None:
        if self.process is None or self._current is None:
            return
        self._read_stdout()
        if self._stdout:
            self._line(self._stdout.decode("utf-8", "replace").strip())
            self._stdout = b""
        self._read_stderr()
        step = self._current
        self.process.deleteLater()
        self.process = None
        crashed = status == QProcess.ExitStatus.CrashExit
        code = -1 if crashed else code
        error = "" if code == 0 else self._error_text(step, code, crashed)
        emit(self.stepFinished, step.label, code, error)
        if code != 0:
            self._current = None
            self._steps = []
            emit(self.finished, False, error)
            return
        self._next()

    def _error_text(self, step: Step, code: int, crashed: bool) -> str:
        if self._stopping:
            return f"{step.label}: stopped"
        for label, event in reversed(self.events):
            if label == step.label and isinstance(event, (Error, Refused)):
                return f"{step.label}: {event.message or getattr(event, 'reason', '')}"
        tail = [line for line in self._stderr if line.startswith("error:")] or list(self._stderr)[-3:]
        why = "crashed" if crashed else f"exited with code {code}"
        return f"{step.label} {why}" + (": " + " ".join(tail) if tail else "")
