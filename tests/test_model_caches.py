"""The photo is encoded once and the shared prompt prefix is prefilled once: vision-tower calls
are counted, and greedy output with the caches equals the output without them."""

from __future__ import annotations

import pytest
from PIL import Image

from app.engine.adapters.manager import AdapterInfo, AdapterManager
from app.engine.advisors import load_advisors
from app.engine.critique.prompts import critique_prompt, profile_prompt
from app.engine.critique.report import report_json_schema
from app.engine.model.caches import BASE, VisionCache, photo_key, tree_nbytes
from app.engine.model.host import GenerationRequest, ModelHost

SCHEMA = report_json_schema()


def _advisors():
    found = load_advisors()
    return list(found.values()) if isinstance(found, dict) else list(found)


def _photo(seed: int, size=(96, 64)) -> Image.Image:
    img = Image.new("RGB", size)
    img.putdata([((x * 7 + seed * 40) % 256, (y * 5 + seed * 90) % 256, (x * y + seed) % 256)
                 for y in range(size[1]) for x in range(size[0])])
    return img


@pytest.fixture(scope="module")
def counted(tiny_model_dir):
    """A host with adapters whose vision tower counts its real forward passes."""
    from mlx_vlm.models.qwen3_vl.vision import VisionModel

    calls = {"n": 0}
    original = VisionModel.__call__

    def counting(self, *args, **kwargs):
        calls["n"] += 1
        return original(self, *args, **kwargs)

    VisionModel.__call__ = counting
    host = ModelHost(str(tiny_model_dir))
    AdapterManager(host)
    yield host, calls
    host.shutdown()
    VisionModel.__call__ = original


def _run(host, prompt, image, *, adapter=None, cache=True):
    request = GenerationRequest(prompt=prompt, image=image, max_tokens=40, schema=SCHEMA, adapter=adapter,
                                cache=cache)
    return host.generate(request).result(120)


def test_two_passes_on_one_photo_encode_it_once_and_match_the_uncached_output(counted):
    host, calls = counted
    photo, advisor = _photo(1), _advisors()[0]
    cold = [_run(host, p, photo, cache=False) for p in (profile_prompt(), critique_prompt(advisor))]
    before = calls["n"]
    warm = [_run(host, p, photo) for p in (profile_prompt(), critique_prompt(advisor))]
    assert calls["n"] - before == 1  # RAG's two passes: one encoding
    assert [w.text for w in warm] == [c.text for c in cold]
    assert warm[0].stats.cached_prompt_tokens == 0
    # Pass 2 starts from pass 1's K/V: the system prompt and the photo are not prefilled again.
    assert warm[1].stats.cached_prompt_tokens > 64
    before = calls["n"]
    rerun = _run(host, critique_prompt(advisor), photo)
    assert calls["n"] == before and rerun.text == cold[1].text  # a re-run: no encoding


def test_base_and_a_language_adapter_share_the_encoding_but_not_the_prefix(counted, tiny_adapters):
    host, calls = counted
    photo, advisor = _photo(2), _advisors()[1]
    cold_base = _run(host, critique_prompt(advisor), photo, cache=False)
    cold_tuned = _run(host, critique_prompt(advisor), photo, adapter=tiny_adapters["a"], cache=False)
    assert cold_base.text != cold_tuned.text
    before = calls["n"]
    base = _run(host, critique_prompt(advisor), photo)
    tuned = _run(host, critique_prompt(advisor), photo, adapter=tiny_adapters["a"])
    assert calls["n"] - before == 1  # the comparison view: one encoding for both
    assert (base.text, tuned.text) == (cold_base.text, cold_tuned.text)
    assert tuned.stats.cached_prompt_tokens == 0  # the base's K/V is never reused for the adapter


def test_photos_of_one_size_never_share_image_kv(counted):
    host, calls = counted
    advisor = _advisors()[2]
    first, second = _photo(3), _photo(4)
    assert first.size == second.size and photo_key(first) != photo_key(second)
    cold = _run(host, critique_prompt(advisor), second, cache=False)
    _run(host, critique_prompt(advisor), first)
    warm = _run(host, critique_prompt(advisor), second)
    # Only the text before the photo is shared with the other photo's request, never its image K/V.
    ids = host.call(lambda loaded: _prompt_ids(loaded, critique_prompt(advisor), second)).result(60)
    image_at = ids.index(host.loaded.model.config.image_token_index)
    assert 0 < warm.stats.cached_prompt_tokens <= image_at and warm.text == cold.text


def _prompt_ids(loaded, prompt, image):
    from app.engine.model.prefill import prepare_model_inputs
    from app.engine.model.requests import render_prompt

    text = render_prompt(loaded.processor, loaded.model.config, prompt)
    return prepare_model_inputs(loaded, text, image)["input_ids"][0].tolist()


def test_an_adapter_on_vision_layers_gets_its_own_features(tmp_path):
    def info(names):
        return AdapterInfo(path=tmp_path, label="x", fine_tune_type="lora", rank=2, scale=1.0,
                           tensors={n: (2, 2) for n in names}, config={}, fingerprint=(str(tmp_path), 1))

    text_only = info(["language_model.model.layers.0.self_attn.q_proj.lora_a"])
    vision = info(["language_model.model.layers.0.self_attn.q_proj.lora_a", "vision_tower.blocks.0.attn.qkv.lora_a"])
    assert text_only.weights.vision_key == BASE.vision_key and text_only.weights.key != BASE.key
    assert vision.weights.vision_key == vision.weights.key != BASE.vision_key


def test_the_vision_cache_stays_within_its_byte_budget():
    import mlx.core as mx

    features = (mx.zeros((64, 32)), [mx.zeros((64, 32))])
    size = tree_nbytes(features)
    cache = VisionCache(max_bytes=3 * size)
    for i in range(10):
        cache.store.put(f"k{i}", features)
        assert cache.nbytes <= 3 * size
    assert len(cache.store) == 3 and cache.store.get("k9") is not None and cache.store.get("k0") is None
    VisionCache(max_bytes=size - 1).store.put("big", features)  # larger than the budget: not kept


def test_caches_are_bounded_over_many_requests(tiny_model_dir):
    from app.engine.model.caches import CacheBudget

    host = ModelHost(str(tiny_model_dir), cache_budget=CacheBudget(vision_mb=0.05, prefix_mb=2.0))
    try:
        advisor = _advisors()[0]
        for i in range(6):
            host.generate(GenerationRequest(prompt=critique_prompt(advisor), image=_photo(10 + i), max_tokens=4)
                          ).result(120)
        stats = host.call(lambda loaded: loaded.state["caches"].stats()).result(60)
        assert 0 < stats["vision_bytes"] <= 0.05 * (1 << 20) and 0 < stats["prefix_bytes"] <= 2 << 20
    finally:
        host.shutdown()
