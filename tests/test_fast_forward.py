"""Jump-forward decoding (model/decode.py): forced tokens ride with the sampled one in one pass.

Checked on two families (Qwen3-VL with plain KV caches, Gemma 3 with rotating ones) against
mlx-vlm's own one-token-per-pass loop, on the real critique prompt and report schema.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.engine.advisors import load_advisors
from app.engine.critique.prompts import critique_prompt
from app.engine.critique.report import parse_report, report_json_schema
from app.engine.model.constrained import compile_grammar, generate_constrained
from app.engine.model.decode import new_matcher
from app.engine.model.prefill import prepare_model_inputs
from app.engine.model.requests import LoadedModel, render_prompt

SCHEMA = report_json_schema(40)
LIMIT = 3000


@pytest.fixture(scope="module", params=["qwen3_vl", "gemma3"])
def family(request, tmp_path_factory) -> LoadedModel:
    import mlx_vlm

    from app.testing.tiny_model import build_tiny_model

    path = build_tiny_model(tmp_path_factory.mktemp("ff") / request.param, arch=request.param)
    model, processor = mlx_vlm.load(str(path))
    return LoadedModel(model=model, processor=processor, path=Path(path), model_id=request.param, load_seconds=0.0)


def _photo() -> Image.Image:
    img = Image.new("RGB", (96, 64))
    img.putdata([((x * 5) % 256, (y * 9) % 256, (x * y) % 256) for y in range(64) for x in range(96)])
    return img


def _prompt(loaded: LoadedModel) -> str:
    advisor = next(iter(load_advisors().values()))
    return render_prompt(loaded.processor, loaded.model.config, critique_prompt(advisor))


def _stock(loaded: LoadedModel, text: str, image: Image.Image) -> list[int]:
    """mlx-vlm's loop (one token per pass) with its llguidance processor: the reference."""
    import mlx_vlm

    from app.engine.model.structured import json_schema_logits_processor

    processor = json_schema_logits_processor(loaded.processor.tokenizer, SCHEMA)
    tokens = [int(r.token) for r in mlx_vlm.stream_generate(loaded.model, loaded.processor, text, image=[image],
                                                              max_tokens=LIMIT, temperature=0.0,
                                                              logits_processors=[processor])]
    return tokens


def _allowed_count(matcher, vocab_size: int) -> int:
    import llguidance.numpy

    mask = llguidance.numpy.allocate_token_bitmask(1, vocab_size)
    llguidance.numpy.fill_next_token_bitmask(matcher, mask, 0)
    return int(np.unpackbits(mask.view(np.uint8)).sum())


def test_forced_bytes_schema_and_fewer_passes(family):
    image = _photo()
    inputs = prepare_model_inputs(family, _prompt(family), image)
    grammar = compile_grammar(family, SCHEMA)
    done = generate_constrained(family, inputs, grammar, LIMIT)
    out = done.decoded
    assert out.finish == "stop"
    parse_report(out.text)  # schema-valid
    produced = grammar.llg_tokenizer.decode_bytes(out.tokens)
    assert out.forced_bytes, "the report schema forces bytes at the start ({\"dimensional_analysis\": ...)"
    for offset, forced in out.forced_bytes:  # what compute_ff_bytes promised is what came out
        assert produced[offset:offset + len(forced)] == forced
    assert out.forward_passes == out.sampled < len(out.tokens)
    # The cache holds the prompt's last token then every generated token fed so far.
    assert done.cache_ids == done.cache_ids[:len(inputs["input_ids"][0]) - 1] + out.fed
    assert out.fed[1:] == out.tokens[:len(out.fed) - 1]
    held = max(int(c.offset) for c in done.cache)
    assert held == len(done.cache_ids)


def test_token_identical_to_one_token_per_pass_where_each_forced_step_has_one_token(family):
    """Greedy output equals mlx-vlm's loop, except that after a forced step where the grammar
    allowed several tokenizations the two may legitimately part (llguidance picks one)."""
    image = _photo()
    text = _prompt(family)
    grammar = compile_grammar(family, SCHEMA)
    ours = generate_constrained(family, prepare_model_inputs(family, text, image), grammar, LIMIT).decoded.tokens
    theirs = [t for t in _stock(family, text, image) if t != grammar.llg_tokenizer.eos_token]
    matcher = new_matcher(grammar.llg_tokenizer, grammar.grammar)
    for i, token in enumerate(theirs):
        ambiguous = bool(matcher.compute_ff_bytes()) and _allowed_count(matcher, grammar.llg_tokenizer.vocab_size) > 1
        if i >= len(ours) or ours[i] != token:
            assert ambiguous, f"diverged at token {i} where the grammar allowed a single token"
            parse_report(grammar.llg_tokenizer.decode_str(ours))
            return
        matcher.consume_token(token)
    assert ours == theirs


def test_gemma3_rotating_cache_takes_a_multi_token_step_across_its_window(tmp_path):
    """Feeding k tokens in one pass across the sliding window gives the logits of k single steps."""
    import mlx.core as mx
    import mlx_vlm
    from mlx_vlm.models.cache import make_prompt_cache

    from app.testing.tiny_model import build_tiny_model

    model, _ = mlx_vlm.load(str(build_tiny_model(tmp_path / "g", arch="gemma3")))
    lm = model.language_model
    window = model.config.text_config.sliding_window
    rng = np.random.default_rng(0)
    prompt = mx.array(rng.integers(10, 400, size=(1, window - 3)))
    step = [int(t) for t in rng.integers(10, 400, size=7)]  # crosses the window in one pass
    one, many = make_prompt_cache(lm), make_prompt_cache(lm)
    assert any(type(c).__name__ == "RotatingKVCache" for c in one)
    lm(prompt, cache=one)
    lm(prompt, cache=many)
    singles = [lm(mx.array([[t]]), cache=one).logits[0, -1] for t in step]
    together = lm(mx.array([step]), cache=many).logits[0]
    for i in range(len(step)):
        np.testing.assert_allclose(np.array(together[i]), np.array(singles[i]), rtol=1e-3, atol=1e-3)
    nxt = mx.array([[5]])
    np.testing.assert_allclose(np.array(lm(nxt, cache=many).logits[0, -1]),
                               np.array(lm(nxt, cache=one).logits[0, -1]), rtol=1e-3, atol=1e-3)


def test_a_token_limit_cuts_forced_spans_too(family):
    inputs = prepare_model_inputs(family, _prompt(family), _photo())
    for limit in (1, 7, 30):
        out = generate_constrained(family, inputs, compile_grammar(family, SCHEMA), limit).decoded
        assert out.finish == "length" and len(out.tokens) == limit


@pytest.fixture(scope="module")
def host(tiny_model_dir):
    from app.engine.model.host import ModelHost

    h = ModelHost(str(tiny_model_dir))
    yield h
    h.shutdown()


def _request(image, **kwargs):
    from app.engine.model.host import GenerationRequest

    advisor = next(iter(load_advisors().values()))
    return GenerationRequest(prompt=critique_prompt(advisor), image=image, schema=SCHEMA, **kwargs)


def test_a_rerun_reuses_the_state_keyed_by_the_fed_ids(host):
    from app.engine.model.caches import caches_of, photo_key, weights_of

    image = _photo()
    first = host.generate(_request(image)).result(300)
    loaded = host.loaded
    caches = caches_of(loaded, host.cache_budget)
    state = caches.prefix.entries[(weights_of(loaded).key, photo_key(image))].state
    assert max(int(c.offset) for c in state.cache) == len(state.token_ids)  # ids = what the cache holds
    again = host.generate(_request(image)).result(300)
    assert again.text == first.text
    assert again.stats.cached_prompt_tokens == again.stats.prompt_tokens - 1  # all but the last prompt token
    cold = host.generate(_request(image, cache=False)).result(300)
    assert cold.text == first.text
    stats = first.stats
    assert 0 < stats.forward_passes == stats.sampled_tokens < stats.generation_tokens


def test_a_batch_fast_forwards_in_lockstep_and_counts_its_passes(host):
    images = [_photo(), _photo().rotate(90, expand=True), _photo().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    limits = [None, 40, 90]  # rows finish at different passes and leave the batch (its cache filtered)
    single = [host.generate(_request(im, cache=False, max_tokens=n)).result(300) for im, n in zip(images, limits, strict=True)]
    outs = [h.result(300) for h in host.generate_batch([_request(im, cache=False, max_tokens=n)
                                                         for im, n in zip(images, limits, strict=True)])]
    assert [o.text for o in outs] == [s.text for s in single]
    assert [o.finish_reason for o in outs] == ["stop", "length", "length"]
    longest = max(o.stats.generation_tokens for o in outs)
    for o in outs:
        assert o.stats.batch_passes == outs[0].stats.batch_passes
        assert o.stats.forward_passes <= o.stats.batch_passes < longest
        assert o.stats.batch_passes >= max(s.stats.forward_passes for s in single)


def test_a_gemma3_batch_crosses_its_window_in_lockstep(family):
    """Rows of rotating caches merged into mlx-vlm's batch cache decode as they do one at a time."""
    from app.engine.model.batch import generate_together
    from app.engine.model.host import GenerationRequest, Handle

    if family.model_id != "gemma3":
        pytest.skip("the rotating cache is Gemma 3's")
    advisor = next(iter(load_advisors().values()))
    images = [_photo(), _photo().rotate(90, expand=True)]
    grammar = compile_grammar(family, SCHEMA)
    single = [generate_constrained(family, prepare_model_inputs(family, _prompt(family), im), grammar,
                                   LIMIT).decoded.text for im in images]
    rows = [(GenerationRequest(prompt=critique_prompt(advisor), image=im, schema=SCHEMA, max_tokens=LIMIT,
                               cache=False), Handle(f"r{i}")) for i, im in enumerate(images)]

    def plan(req, prompt_tokens):
        return req.schema, None

    generate_together(family, rows, lambda schema: None, plan)
    outs = [handle.result(0) for _, handle in rows]
    assert [o.text for o in outs] == single
    assert all(o.stats.batch_passes < o.stats.generation_tokens for o in outs)
    assert any(o.stats.prompt_tokens + o.stats.generation_tokens > family.model.config.text_config.sliding_window
               for o in outs)
