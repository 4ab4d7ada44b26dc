"""Which frames get a full critique after triage, and in what order.

The second stage of a two-stage review (issue 21): triage ranks every frame in minutes; full
critiques then run in the background for the frames the photographer is likely to keep, best first,
and a frame the user opens jumps the queue. The policy is a setting / flag value:

* ``all``: every frame, best triage score first;
* ``top:N``: the N best frames by expected triage score, a burst counting once (its best member);
* ``picks``: the frames the user picked or starred (read from their metadata), best first;
* ``bursts``: the best frame of each burst and every frame outside a burst;
* ``none``: triage only.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from app.engine.critique.triage import TriageScores
from app.engine.review.bursts import Burst

KINDS = ("all", "top", "picks", "bursts", "none")


@dataclass(frozen=True)
class CritiquePolicy:
    kind: str
    n: int = 0

    def __str__(self) -> str:
        return f"top:{self.n}" if self.kind == "top" else self.kind


def parse_policy(text: str) -> CritiquePolicy:
    """``all`` | ``top:N`` | ``picks`` | ``bursts`` | ``none``; ValueError naming the value otherwise."""
    value = text.strip().lower()
    if value.startswith("top:"):
        count = value[4:]
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"critique policy '{text}': top:N needs a whole number N of 1 or more")
        return CritiquePolicy("top", int(count))
    if value in KINDS and value != "top":
        return CritiquePolicy(value)
    raise ValueError(f"critique policy '{text}' is not one of all, top:N, picks, bursts, none")


def _key(triage: Mapping[str, TriageScores | None], frame: str) -> float:
    result = triage.get(frame)
    return result.expected_overall if result is not None else float("-inf")


def frames_to_critique(policy: CritiquePolicy, frames: Sequence[str], triage: Mapping[str, TriageScores | None], *,
                       picks: Collection[str] = (), bursts: Sequence[Burst] = ()) -> list[str]:
    """The frames ``policy`` selects, best expected triage score first (ties in ``frames`` order)."""
    order = sorted(frames, key=lambda f: (-_key(triage, f), frames.index(f)))
    if policy.kind == "none":
        return []
    if policy.kind == "all":
        return order
    if policy.kind == "picks":
        chosen = set(picks)
        return [f for f in order if f in chosen]
    others = {m for b in bursts for m in b.members if m != b.best}  # a burst counts once: its best
    kept = [f for f in order if f not in others]
    return kept[:policy.n] if policy.kind == "top" else kept


class CritiqueQueue:
    """The frames waiting for a full critique: taken in order, a frame the user opens jumps ahead.
    Thread-safe (the window and the HTTP API push while the runner takes)."""

    def __init__(self, frames: Sequence[str] = ()):
        self._lock = threading.Lock()
        self._items: list[str] = list(dict.fromkeys(frames))

    def jump(self, frame: str) -> None:
        """Put ``frame`` first (added when it was not waiting)."""
        with self._lock:
            if frame in self._items:
                self._items.remove(frame)
            self._items.insert(0, frame)

    def take(self, n: int = 1) -> list[str]:
        """Up to ``n`` frames from the front (a batch)."""
        with self._lock:
            out, self._items = self._items[:n], self._items[n:]
            return out

    def drop(self, frame: str) -> None:
        with self._lock:
            if frame in self._items:
                self._items.remove(frame)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
