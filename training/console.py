"""Progress for a person or for a program, from the same typed events (``training/events.py``).

Every long command (``train prepare``, ``train lora``, ``train evaluate``, ``index``, ``download``)
emits events. :func:`progress_stream` decides where they go, by one rule: JSON lines on stdout with
``--json``/``--jsonl`` or when stdout is not a terminal (a pipe, the window's QProcess); otherwise a
:class:`Console`, which shows tqdm bars with an ETA on stderr (the library ``review`` uses) and one
readable line per milestone, and ends ``train lora`` with a summary ("v3 published: validation
loss 1.82 -> 1.41, 6 min").
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar, cast

from . import events as ev


def wants_json(flag: bool, stream: IO[str] | None = None) -> bool:
    """The rule: JSON lines when asked for, or when ``stream`` (stdout) is not a terminal."""
    stream = stream if stream is not None else sys.stdout
    return flag or not (hasattr(stream, "isatty") and stream.isatty())


def duration(seconds: float) -> str:
    """"45 s", "6 min", "1 h 12 min"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


class Console:
    """A text stream that :class:`training.common.JsonLines` can write to: each JSON line becomes a
    bar update or a line for a person. mlx-vlm's own prints never come here (see ``quiet_library``)."""

    def __init__(self, err: IO[str] | None = None, out: IO[str] | None = None):
        self.err = err if err is not None else sys.stderr
        self.out = out if out is not None else sys.stdout
        self._buffer = ""
        self._bars: dict[str, Any] = {}
        self._start: ev.Start | None = None
        self._first_step_loss: float | None = None
        self._first_val_loss: float | None = None
        self._last: ev.Epoch | None = None

    # the stream interface JsonLines uses
    def write(self, text: str) -> int:
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            event = ev.parse_event(line)
            if event is not None:
                self.show(event)
        return len(text)

    def flush(self) -> None:
        self.err.flush()

    def isatty(self) -> bool:
        return True

    # showing
    def _bar(self, key: str, total: int, unit: str, desc: str) -> Any:
        from tqdm import tqdm

        bar = self._bars.get(key)
        if bar is None or bar.total != total:
            if bar is not None:
                bar.close()
            # position 0: mlx-vlm's own bar (kept in library.log) must not push ours down a line
            bar = tqdm(total=total, unit=unit, desc=desc, file=self.err, dynamic_ncols=True, smoothing=0.1,
                       leave=True, position=0)
            self._bars[key] = bar
        return bar

    def _line(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(text, file=self.err)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()

    def show(self, e: ev.Event) -> None:
        if isinstance(e, ev.Progress):
            bar = self._bar(e.task, e.total, e.unit, e.task)
            bar.update(e.done - bar.n)
            if e.done >= e.total:
                self._close(e.task)
        elif isinstance(e, ev.Step):
            bar = self._bar("train", e.total_steps, "step", "training")
            bar.set_postfix_str(f"epoch {e.epoch}/{e.epochs}, loss {e.loss:.3f}" if e.loss is not None else "")
            bar.update(e.step - bar.n)
            if self._first_step_loss is None:
                self._first_step_loss = e.loss
        elif isinstance(e, ev.Sample):
            key = f"evaluating {e.model}".strip()
            bar = self._bar(key, e.total, "photo", key)
            bar.update(e.index + 1 - bar.n if e.index + 1 > bar.n else 1)
            if bar.n >= e.total:
                self._close(key)
        elif isinstance(e, ev.Epoch):
            self._last = e
            if self._first_val_loss is None:
                self._first_val_loss = e.val_loss
            loss = f"training loss {e.train_loss:.3f}" if e.train_loss is not None else "no training loss"
            val = f", validation loss {e.val_loss:.3f}" if e.val_loss is not None else ""
            self._line(f"epoch {e.epoch}/{e.epochs}: {loss}{val}" + (" (best so far)" if e.improved else ""))
        elif isinstance(e, ev.Start):
            self._start = e
            self._line(ev.describe(e))
        elif isinstance(e, ev.Published):
            self.close()
            print(self.summary(e), file=self.out, flush=True)
        elif isinstance(e, ev.Error):
            self.close()  # the command prints its own `error:` line; no second copy here
        elif isinstance(e, ev.Saved | ev.Done | ev.Drafted | ev.MemoryEstimateEvent):
            pass  # the command's own summary says it; drafts move the bar
        else:
            self._line(ev.describe(e))

    def _close(self, key: str) -> None:
        bar = self._bars.pop(key, None)
        if bar is not None:
            bar.close()

    def summary(self, e: ev.Published) -> str:
        """"v3 published and activated: validation loss 1.82 -> 1.41, 6 min"."""
        what = f"{e.version} published" + (" and activated" if e.active else "") + (" (finished a run "
                                                                                   "interrupted while publishing)"
                                                                                   if e.recovered else "")
        parts = []
        last = self._last
        if last is not None and self._first_val_loss is not None and last.best_val_loss is not None:
            parts.append(f"validation loss {self._first_val_loss:.2f} -> {last.best_val_loss:.2f}")
        elif last is not None and self._first_step_loss is not None and last.train_loss is not None:
            parts.append(f"training loss {self._first_step_loss:.2f} -> {last.train_loss:.2f}")
        if self._start is not None:
            parts.append(duration(e.time - self._start.time))
        return what + (": " + ", ".join(parts) if parts else "")


T = TypeVar("T")
LIBRARY_LOG = "library.log"


@contextlib.contextmanager
def quiet_library(folder: Path) -> Iterator[Path]:
    """mlx-vlm's own prints, metric dumps and tqdm bars go to ``folder/library.log``, never to the
    user's terminal or the JSON-lines stream (our events report the same numbers)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LIBRARY_LOG
    with open(path, "a", encoding="utf-8") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        yield path


def progress_stream(json_flag: bool, stream: IO[str] | None = None) -> IO[str]:
    """Where a command's events go: ``stream`` (stdout) for JSON lines, else a :class:`Console`
    (a text stream too, so every event writer works with either)."""
    stream = stream if stream is not None else sys.stdout
    return stream if wants_json(json_flag, stream) else cast(IO[str], Console(out=stream))


class Ticker:
    """Emits ``progress`` events for ``total`` items with an ETA from the pace so far."""

    def __init__(self, emit: Callable[..., Any], task: str, total: int, unit: str = "photo"):
        self.emit, self.task, self.total, self.unit = emit, task, total, unit
        self.done = 0
        self._started = time.monotonic()
        if total:
            emit("progress", task=task, done=0, total=total, unit=unit)

    def each(self, items: Iterable[T], name: Callable[[T], str] = str) -> Iterator[T]:
        """The items, one ``progress`` event after each is handled (a ``continue`` counts too)."""
        for item in items:
            yield item
            self.tick(name(item))

    def tick(self, item: str = "", n: int = 1) -> None:
        self.done += n
        elapsed = time.monotonic() - self._started
        eta = elapsed / self.done * (self.total - self.done) if self.done else None
        self.emit("progress", task=self.task, done=min(self.done, self.total), total=self.total, unit=self.unit,
                  item=item, eta_s=eta)
