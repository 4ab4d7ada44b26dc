"""The processes of one training run (MLX's distributed group), as training needs to see them.

A one-Mac run is a group of one and every call here is a no-op. Under ``mlx.launch`` the group
is the ring of processes it started; mlx-vlm's trainer shards every batch by rank and averages
the gradients itself (``mlx_vlm/trainer/common``). What training adds on top, with MLX's own
collectives (no reducer of its own): rank 0 is the source of truth for the run's state and the
adapter's starting weights (:meth:`World.broadcast_text`, :meth:`World.broadcast_tree`), every
process learns when any of them has a problem (:meth:`World.check_all`) or was asked to stop
(:meth:`World.any`), and a lost peer becomes :class:`PeerLost` with a message for the user.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .common import CommandError, flatten


class PeerLost(Exception):
    """Another process of the run died or its machine dropped out (the ring connection broke)."""


def is_peer_lost(exc: BaseException) -> bool:
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("[ring]" in text or "peer" in text and "lost" in text)


@contextlib.contextmanager
def peer_errors() -> Iterator[None]:
    """Turn the ring backend's RuntimeError into :class:`PeerLost`."""
    try:
        yield
    except RuntimeError as exc:
        if is_peer_lost(exc):
            raise PeerLost(str(exc)) from None
        raise


@dataclass
class World:
    group: Any
    rank: int
    size: int

    @classmethod
    def current(cls) -> World:
        """The group ``mlx.launch`` set up (env ``MLX_RANK``/``MLX_HOSTFILE``), else a group of one."""
        import mlx.core as mx

        group = mx.distributed.init()
        return cls(group=group, rank=group.rank(), size=group.size())

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def _sum(self, value: Any) -> Any:
        import mlx.core as mx

        with peer_errors():
            out = mx.distributed.all_sum(value, stream=mx.cpu, group=self.group)
            mx.eval(out)
        return out

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on at least one."""
        if not self.distributed:
            return flag
        import mlx.core as mx

        return bool(self._sum(mx.array([1 if flag else 0], dtype=mx.int32)).item())

    def gather_text(self, text: str) -> list[str]:
        """Every rank's ``text`` (UTF-8), in rank order, on every rank: lengths first, then the bytes."""
        if not self.distributed:
            return [text]
        import mlx.core as mx
        import numpy as np

        data = text.encode("utf-8")
        lengths = np.zeros(self.size, dtype=np.int32)
        lengths[self.rank] = len(data)
        lengths = np.array(self._sum(mx.array(lengths)))
        rows = np.zeros((self.size, max(1, int(lengths.max()))), dtype=np.int32)
        rows[self.rank, :len(data)] = np.frombuffer(data, dtype=np.uint8)
        summed = np.array(self._sum(mx.array(rows)))
        return [bytes(summed[r, :lengths[r]].astype(np.uint8).tolist()).decode("utf-8", "replace")
                for r in range(self.size)]

    def sum_floats(self, values: list[float]) -> list[float]:
        """The element-wise sum of every rank's ``values`` (same length everywhere), on every rank:
        each rank fills its share and leaves the rest 0."""
        if not self.distributed or not values:
            return values
        import mlx.core as mx

        return [float(x) for x in self._sum(mx.array(values, dtype=mx.float32)).tolist()]

    def broadcast_text(self, text: str) -> str:
        """Rank 0's ``text`` on every rank."""
        return self.gather_text(text if self.leader else "")[0]

    def check_all(self, problem: str | None) -> None:
        """Raise the same :class:`CommandError` on every rank when any rank has a problem."""
        if not self.distributed:
            if problem:
                raise CommandError(problem)
            return
        problems = self.gather_text(problem or "")
        found = [(rank, text) for rank, text in enumerate(problems) if text]
        if found:
            if len(found) == 1 and found[0][0] == 0:
                raise CommandError(found[0][1])
            raise CommandError("; ".join(f"process {rank}: {text}" if rank else text for rank, text in found))

    def broadcast_tree(self, tree: Any) -> Any:
        """Rank 0's arrays in ``tree`` on every rank (the others send zeros: one all-sum per array,
        in the order of the sorted key paths, so trees built in another order still pair up)."""
        if not self.distributed:
            return tree
        import hashlib

        import mlx.core as mx
        from mlx.utils import tree_unflatten

        flat = sorted(flatten(tree), key=lambda kv: kv[0])
        digest = hashlib.sha256("\n".join(f"{k}:{v.shape}" for k, v in flat if isinstance(v, mx.array))
                                .encode()).hexdigest()
        seen = self.gather_text(digest)
        self.check_all(None if seen[self.rank] == seen[0] else
                       "its training state does not have the first Mac's layout (another model or settings?)")
        shared = []
        for key, value in flat:
            if isinstance(value, mx.array):
                value = self._sum(value if self.leader else mx.zeros_like(value)).astype(value.dtype)
            shared.append((key, value))
        return tree_unflatten(shared)
