"""Work the model thread keeps between requests: the photo's vision features and the prompt's K/V.

A critique of one photo is often followed by another pass on the same photo (RAG's second pass,
the comparison view, a second advisor, a re-run). Two caches, both on top of mlx-vlm 0.7.10's own
machinery, make those passes skip work:

* :class:`VisionCache`: mlx-vlm's ``VisionFeatureCache`` keyed by ``processed_image_key`` (the
  prepared pixels and their patch grid), bounded in bytes. mlx-vlm's ``stream_generate`` only
  consults its ``vision_cache`` for families with ``encode_images``; Qwen VL has none in 0.7.10,
  and its ``cached_image_features`` path drops Qwen3-VL's deepstack features (the output would
  change). So the cache sits at the vision tower itself (:func:`install_vision_cache` gives the
  tower's instance a subclass whose ``__call__`` looks the output up first): every family that
  runs ``self.vision_tower(...)`` hits it, with all its outputs, and the parameter tree is
  untouched (adapters still find their layers by name).
* :class:`PrefixCache`: mlx-vlm's ``PromptCacheState`` (the K/V of the last conversation, reused
  up to the longest common token prefix) kept per (weights, photo), bounded in bytes. The state
  matches token ids only, and image placeholder tokens are the same for every photo of one size,
  so one state per photo keeps a K/V computed on another photo from ever being reused.
* :class:`~app.engine.model.prefill.TextPrefixCache`: the K/V of the prompt text *before* the
  photo (role, format, persona), shared by every photo of one advisor and, up to the persona, by
  all advisors; mlx-vlm cannot reuse a prefix that ends before the image, see model/prefill.py.
  It and the per-photo states share the ``prefix_cache_mb`` budget half and half.

Both are keyed by the weights that answer (:class:`Weights`): an adapter changes the K/V, and one
that wraps vision-tower layers changes the features; an adapter on the language model only shares
the base's features. Both are freed on model switch (they live in ``LoadedModel.state``, dropped
with the model) and when MLX's memory runs close to its limit (:meth:`ModelCaches.relieve`).
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from app.engine.model.prefill import TextPrefixCache

log = logging.getLogger(__name__)

STATE_KEY = "caches"
WEIGHTS_KEY = "weights"  # LoadedModel.state key: the Weights now on the model (set by the adapter manager)
MB = 1 << 20
# Above this share of MLX's memory limit, cached features and K/V are dropped before a request.
PRESSURE_SHARE = 0.85


@dataclass(frozen=True)
class Weights:
    """Which weights answer: ``key`` names them for the K/V, ``vision_key`` for the vision features."""

    key: str = "base"
    vision_key: str = "base"


BASE = Weights()


@dataclass(frozen=True)
class CacheBudget:
    """Byte budgets of the two caches (0 turns one off); see the ``*_cache_mb`` settings."""

    vision_mb: float = 256.0
    prefix_mb: float = 1024.0

    @classmethod
    def from_settings(cls, settings: Any) -> CacheBudget:
        """``ModelHost(ref, cache_budget=CacheBudget.from_settings(load_settings()))``."""
        return cls(vision_mb=settings.vision_cache_mb, prefix_mb=settings.prefix_cache_mb)


def tree_nbytes(value: Any) -> int:
    """Bytes held by the MLX arrays in a nested tuple/list/dict (caches hold such trees)."""
    if value is None:
        return 0
    if isinstance(value, dict):
        return sum(tree_nbytes(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(tree_nbytes(v) for v in value)
    return int(getattr(value, "nbytes", 0) or 0)


def photo_key(image: Any) -> str:
    """A content key for a prepared PIL photo (the same pixels give the same key)."""
    digest = hashlib.sha256()
    digest.update(f"{image.mode}:{image.size}".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()[:32]


def _vision_cache_class() -> type:
    from mlx_vlm.vision_cache import VisionFeatureCache

    class _Bounded(VisionFeatureCache):
        """mlx-vlm's LRU, bounded by bytes instead of entries."""

        def __init__(self, max_bytes: int):
            super().__init__(max_size=1 << 30)
            self.max_bytes = max_bytes
            self.nbytes = 0

        def put(self, image_source: Any, features: Any) -> None:
            size = tree_nbytes(features)
            key = self._make_key(image_source)
            if key in self._cache:
                self.nbytes -= tree_nbytes(self._cache.pop(key))
            if size > self.max_bytes:
                return
            while self._cache and self.nbytes + size > self.max_bytes:
                _, old = self._cache.popitem(last=False)
                self.nbytes -= tree_nbytes(old)
            self._cache[key] = features
            self.nbytes += size

        def clear(self) -> None:
            super().clear()
            self.nbytes = 0

    return _Bounded


class VisionCache:
    """Vision-tower outputs by (vision weights, prepared pixels), LRU within ``max_bytes``."""

    def __init__(self, max_bytes: int):
        self.store = _vision_cache_class()(max_bytes)
        self.weights_key = BASE.vision_key  # set before each request
        self.enabled = max_bytes > 0
        self.hits = 0
        self.misses = 0

    @property
    def nbytes(self) -> int:
        return int(self.store.nbytes)

    def key(self, pixel_values: Any, grid: Any) -> str:
        from mlx_vlm.vision_cache import processed_image_key

        return f"{self.weights_key}|{processed_image_key(pixel_values, grid)}"

    def clear(self) -> None:
        self.store.clear()


def install_vision_cache(model: Any, cache: VisionCache) -> bool:
    """Route ``model.vision_tower(...)`` through ``cache``; False when the model has no tower.

    The tower instance gets a subclass of its own class (same parameters, same names); calls with
    pixel values of a photo seen before under the same vision weights return the stored outputs.
    """
    tower = getattr(model, "vision_tower", None)
    if tower is None:
        return False
    base = type(tower)
    if getattr(base, "_mondrian_cached", False):
        tower._mondrian_cache = cache
        return True

    def __call__(self: Any, pixel_values: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N807 - becomes the class's
        import mlx.core as mx

        store: VisionCache = self._mondrian_cache
        if not store.enabled or kwargs or len(args) > 1:
            return base.__call__(self, pixel_values, *args, **kwargs)
        key = store.key(pixel_values, args[0] if args else None)
        found = store.store.get(key)
        if found is not None:
            store.hits += 1
            return found
        store.misses += 1
        out = base.__call__(self, pixel_values, *args)
        mx.eval(out)
        store.store.put(key, out)
        return out

    cached = type(f"Cached{base.__name__}", (base,), {"__call__": __call__, "_mondrian_cached": True})
    tower.__class__ = cached
    tower._mondrian_cache = cache
    return True


@dataclass
class _Entry:
    state: Any  # mlx_vlm PromptCacheState
    nbytes: int = 0


@dataclass
class PrefixCache:
    """One mlx-vlm ``PromptCacheState`` per (weights, photo), LRU within ``max_bytes``."""

    max_bytes: int
    entries: OrderedDict[tuple[str, str], _Entry] = field(default_factory=OrderedDict)
    reused_tokens: int = 0
    prompt_tokens: int = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    @property
    def nbytes(self) -> int:
        return sum(e.nbytes for e in self.entries.values())

    def state_for(self, key: tuple[str, str]) -> Any:
        """The state to pass as ``prompt_cache_state`` (taken out until :meth:`give_back`)."""
        from mlx_vlm.generate.common import PromptCacheState

        entry = self.entries.pop(key, None)
        return entry.state if entry is not None else PromptCacheState()

    def give_back(self, key: tuple[str, str], state: Any) -> None:
        """Keep ``state`` after a request that finished (a cancelled one is simply not given back:
        its K/V holds tokens the state's ids do not describe)."""
        from mlx_vlm.models.cache import cache_nbytes

        if state.cache is None:
            return
        size = int(cache_nbytes(state.cache))
        if size > self.max_bytes:
            return
        while self.entries and self.nbytes + size > self.max_bytes:
            self.entries.popitem(last=False)
        self.entries[key] = _Entry(state, size)

    def clear(self) -> None:
        self.entries.clear()


class ModelCaches:
    """The caches of one loaded model (kept in ``LoadedModel.state[STATE_KEY]``)."""

    def __init__(self, model: Any, budget: CacheBudget):
        self.budget = budget
        self.vision = VisionCache(int(budget.vision_mb * MB))
        self.vision_installed = install_vision_cache(model, self.vision)
        self.prefix = PrefixCache(int(budget.prefix_mb * MB) // 2)
        self.text = TextPrefixCache(int(budget.prefix_mb * MB) // 2)

    @property
    def nbytes(self) -> int:
        return self.vision.nbytes + self.prefix.nbytes + self.text.nbytes

    def clear(self) -> None:
        self.vision.clear()
        self.prefix.clear()
        self.text.clear()

    def relieve(self) -> bool:
        """Drop everything when MLX's active memory is near its limit; True when it did."""
        import mlx.core as mx

        limit = mx.get_memory_limit()
        if not limit or not self.nbytes or mx.get_active_memory() < PRESSURE_SHARE * limit:
            return False
        log.info("memory pressure: dropping %.1f MB of cached features and K/V", self.nbytes / MB)
        self.clear()
        mx.clear_cache()
        return True

    def stats(self) -> dict[str, Any]:
        return {"vision_hits": self.vision.hits, "vision_misses": self.vision.misses,
                "vision_bytes": self.vision.nbytes, "prefix_bytes": self.prefix.nbytes,
                "text_prefix_bytes": self.text.nbytes,
                "prefix_reused_tokens": self.prefix.reused_tokens,
                "prefix_prompt_tokens": self.prefix.prompt_tokens}


def caches_of(loaded: Any, budget: CacheBudget) -> ModelCaches:
    """The loaded model's caches, made on first use (on the model thread)."""
    caches = loaded.state.get(STATE_KEY)
    if caches is None:
        caches = loaded.state[STATE_KEY] = ModelCaches(loaded.model, budget)
    return caches


def weights_of(loaded: Any) -> Weights:
    """The weights on the model now (the base unless the adapter manager says otherwise)."""
    weights = loaded.state.get(WEIGHTS_KEY)
    return weights if isinstance(weights, Weights) else BASE
