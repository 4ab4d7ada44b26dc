"""Which frames get a full critique after triage, and in what order.

The second stage of a two-stage review (issue 21): triage ranks every frame in minutes; full
critiques then run in the background for the frames the photographer is likely to keep, best first,
and a frame the user opens jumps the queue. The policy is a setting / flag value:

* ``all``: every frame, best triage score first;
* ``top:N``: the N best frames by expected triage score, a burst counting once (its best member);
* ``picks``: the frames the user picked or starred (read from their metadata), best first;
* ``bursts``: the best frame of each burst and every frame outside a burst;
* ``none``: triage only.

Several join with ``+`` (``picks+top:20``: the picks and the 20 best). ``auto`` (the default
setting) is ``all`` for a shoot of up to :data:`AUTO_ALL_UP_TO` frames and ``picks+top:100``
beyond: a small folder gets every critique, best first; a wedding gets its picks and best hundred.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from app.engine.critique.triage import TriageScores
from app.engine.review.bursts import Burst

KINDS = ("all", "top", "picks", "bursts", "none")
AUTO = "auto"
AUTO_ALL_UP_TO = 100
AUTO_LARGE = "picks+top:100"


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


def parse_policies(text: str) -> list[CritiquePolicy]:
    """``auto``, one policy, or several joined by ``+``; ValueError naming the part that is wrong."""
    value = text.strip().lower()
    if value == AUTO:
        return [CritiquePolicy(AUTO)]
    parts = [parse_policy(part) for part in value.split("+")] if value else [parse_policy(value)]
    if len(parts) > 1 and any(p.kind in ("all", "none") for p in parts):
        raise ValueError(f"critique policy '{text}': all and none stand alone")
    return parts


def describe_policies(policies: Sequence[CritiquePolicy]) -> str:
    return "+".join(str(p) for p in policies)


def select_frames(policies: Sequence[CritiquePolicy], frames: Sequence[str],
                  triage: Mapping[str, TriageScores | None], *, picks: Collection[str] = (),
                  bursts: Sequence[Burst] = ()) -> list[str]:
    """The union of what each policy selects (``auto`` resolved by the shoot's size), best first."""
    if any(p.kind == AUTO for p in policies):
        policies = parse_policies("all" if len(frames) <= AUTO_ALL_UP_TO else AUTO_LARGE)
    chosen: set[str] = set()
    for policy in policies:
        chosen.update(frames_to_critique(policy, frames, triage, picks=picks, bursts=bursts))
    return [f for f in frames_to_critique(CritiquePolicy("all"), frames, triage) if f in chosen]


def _key(triage: Mapping[str, TriageScores | None], frame: str) -> float:
    result = triage.get(frame)
    return result.expected_overall if result is not None else float("-inf")


def frames_to_critique(policy: CritiquePolicy, frames: Sequence[str], triage: Mapping[str, TriageScores | None], *,
                       picks: Collection[str] = (), bursts: Sequence[Burst] = ()) -> list[str]:
    """The frames ``policy`` selects, best expected triage score first (ties in ``frames`` order)."""
    position = {f: i for i, f in reversed(list(enumerate(frames)))}
    order = sorted(frames, key=lambda f: (-_key(triage, f), position[f]))
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

    def push(self, frame: str) -> None:
        """Add ``frame`` at the back (kept where it is when already waiting)."""
        with self._lock:
            if frame not in self._items:
                self._items.append(frame)

    def peek(self, n: int = 1) -> list[str]:
        """The next ``n`` frames, left in place (prepared ahead; a jump may still pass them)."""
        with self._lock:
            return self._items[:n]

    def drop(self, frame: str) -> None:
        with self._lock:
            if frame in self._items:
                self._items.remove(frame)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
