"""Triage: eight scores from a smaller photo, ranked by the expected score of the digits."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from PIL import Image

from app.engine.advisors import load_advisors
from app.engine.critique.prompts import critique_prompt
from app.engine.critique.report import DIMENSIONS
from app.engine.critique.result import GenerationStats
from app.engine.critique.triage import (
    KIND,
    ScoreSteps,
    TriageScores,
    rank,
    read_scores,
    triage_edge,
    triage_prompt,
)
from app.engine.model.host import GenerationRequest, ModelHost
from app.engine.model.triage import triage_frames


def _photo(seed: int, size=(900, 600)) -> Image.Image:
    img = Image.new("RGB", size)
    img.putdata([((x * (seed + 3)) % 256, (y * 7 + seed * 40) % 256, (x + y) % 256)
                 for y in range(size[1]) for x in range(size[0])])
    return img


@pytest.fixture(scope="module")
def host(tiny_model_dir):
    h = ModelHost(str(tiny_model_dir))
    yield h
    h.shutdown()


def test_the_edge_follows_the_models_patch_arithmetic():
    qwen3 = SimpleNamespace(vision_config=SimpleNamespace(patch_size=16, spatial_merge_size=2))
    qwen2 = SimpleNamespace(vision_config=SimpleNamespace(patch_size=14, spatial_merge_size=2))
    gemma = SimpleNamespace(vision_config=SimpleNamespace(patch_size=14, image_size=896))
    assert triage_edge(qwen3) == 512 and triage_edge(qwen2) == 448
    assert triage_edge(gemma) == 896  # resizes every photo to its own size: the edge is moot
    assert triage_edge(qwen3, 384) == 384  # the setting wins


def test_the_triage_prompt_shares_the_text_before_the_photo_with_the_critique():
    advisor = next(iter(load_advisors().values()))
    full, triage = critique_prompt(advisor, facts=["ISO 100"]), triage_prompt(advisor, facts=["ISO 100"])
    assert triage.system == full.system
    assert "ISO 100" in triage.user  # the photo's facts, as in the critique
    assert '"comment"' not in triage.user and triage.user.endswith('"lighting": 7, ...}')


def test_expected_score_reads_a_held_back_space_and_a_ten():
    names = {1: " ", 2: " 1", 3: " 7", 4: "1", 5: "0", 6: ",", 7: "7"}

    def decode(ids: list[int]) -> str:
        return "".join(names.get(i, "x") for i in ids)

    steps = ScoreSteps(decode)
    # Score 1: " 7" 0.5, " 1" 0.3, the lone space 0.2; the model takes " 7".
    steps([9], [1, 2, 3], [0.2, 0.3, 0.5])
    # Score 2: the model takes the lone space; the digit step gives "7" 0.6, "1" 0.4 of that 0.5.
    steps([9, 3, 9, 9], [1, 2, 3], [0.5, 0.1, 0.4])
    steps([9, 3, 9, 9, 1], [4, 7], [0.4, 0.6])
    # ... and takes "1", after which "0" has 0.75: "1" counts as 0.25 * 1 + 0.75 * 10.
    steps([9, 3, 9, 9, 1, 4], [5, 6], [0.75, 0.25])
    expected = steps.expected()
    assert len(expected) == 2
    assert expected[0] == pytest.approx((0.3 * 1 + 0.5 * 7) / 0.8)
    one = 0.25 * 1 + 0.75 * 10
    digits = {"1": 0.1 + 0.5 * 0.4, "7": 0.4 + 0.5 * 0.6}
    assert expected[1] == pytest.approx((digits["1"] * one + digits["7"] * 7) / sum(digits.values()))


def test_read_scores_names_what_is_wrong():
    good = {k: 5 for k in DIMENSIONS}
    assert read_scores(__import__("json").dumps(good)) == good
    with pytest.raises(ValueError, match="lacks composition"):
        read_scores('{"lighting": 3}')
    with pytest.raises(ValueError, match="'lighting' is 11"):
        read_scores(__import__("json").dumps({**good, "lighting": 11}))
    with pytest.raises(ValueError, match="not JSON"):
        read_scores("{")


def test_rank_breaks_integer_ties_by_expected_score():
    def result(mean: float, expected: float) -> TriageScores:
        return TriageScores(scores={k: int(mean) for k in DIMENSIONS}, expected={k: expected for k in DIMENSIONS},
                            stats=GenerationStats(), edge=512)

    results = [result(6, 6.1), None, result(6, 6.4), result(7, 6.9)]
    assert rank(results) == [3, 2, 0, 1]


def test_triage_frames_scores_a_batch_with_few_passes(host):
    advisor = next(iter(load_advisors().values()))
    images = [_photo(i) for i in range(3)]
    results = triage_frames(host, images, advisor)
    for image, result in zip(images, results, strict=True):
        assert isinstance(result, TriageScores), result
        assert result.kind == KIND
        assert set(result.scores) == set(DIMENSIONS)
        assert all(0 <= v <= 10 for v in result.scores.values())
        assert set(result.expected) == set(DIMENSIONS)
        assert all(0 <= v <= 10 for v in result.expected.values())
        assert result.edge == triage_edge(host.loaded.model.config)
        assert image.size == (900, 600)  # the caller's photo is untouched
        stats = result.stats
        assert stats.forward_passes == stats.sampled_tokens <= 0.25 * stats.generation_tokens
        assert stats.batch_passes <= 0.25 * stats.generation_tokens
    # The text before the photo is computed once: later frames take it from the text cache.
    assert all(r.stats.cached_prompt_tokens > 0 for r in results[1:])
    # The edge setting sets the photo's size, so its image tokens (the tiny processor caps a photo
    # at 224 x 224 px, so the derived 512 px edge costs what the review's 1024 px does here).
    small = triage_frames(host, images[:1], advisor, edge_setting=96)[0]
    assert isinstance(small, TriageScores) and small.edge == 96
    assert small.stats.prompt_tokens < results[0].stats.prompt_tokens
    full = host.generate(GenerationRequest(prompt=critique_prompt(advisor), image=images[0], max_tokens=1)).result(300)
    assert results[0].stats.prompt_tokens < full.stats.prompt_tokens  # the triage ask is shorter too


def test_triage_many_prepares_scores_and_reports_each_photo(tmp_path, tiny_model_dir):
    from app.engine.review.triage import triage_many
    from app.engine.service import MondrianService
    from app.engine.settings import Settings

    paths = []
    for i in range(3):
        path = tmp_path / f"IMG_{i}.jpg"
        _photo(i, (300, 200)).save(path)
        paths.append(path)
    broken = tmp_path / "IMG_9.jpg"
    broken.write_bytes(b"not a jpeg")
    paths.insert(1, broken)
    service = MondrianService(Settings(model=str(tiny_model_dir)))
    try:
        seen: list[tuple[int, str]] = []
        results = triage_many(service, paths, "ansel", "baseline", batch_size=2,
                              on_result=lambda i, p, r, e: seen.append((i, "ok" if r is not None else "error")))
    finally:
        service.close()
    assert seen == [(0, "ok"), (1, "error"), (2, "ok"), (3, "ok")]
    assert isinstance(results[1], Exception) and "IMG_9.jpg" in str(results[1])
    assert all(isinstance(r, TriageScores) for i, r in enumerate(results) if i != 1)
    assert rank([r if isinstance(r, TriageScores) else None for r in results])[-1] == 1  # unreadable last


def test_the_critique_policy_selects_and_orders_frames():
    from app.engine.review.bursts import Burst
    from app.engine.review.selection import CritiqueQueue, frames_to_critique, parse_policy

    def scored(value: float) -> TriageScores:
        return TriageScores(scores={k: int(value) for k in DIMENSIONS}, expected={k: value for k in DIMENSIONS},
                            stats=GenerationStats(), edge=512)

    frames = ["a", "b", "c", "d", "e"]
    triage = {"a": scored(5.0), "b": scored(8.2), "c": scored(8.0), "d": None, "e": scored(6.5)}
    bursts = [Burst(number=1, members=["b", "c"], best="b")]
    assert frames_to_critique(parse_policy("all"), frames, triage) == ["b", "c", "e", "a", "d"]
    assert frames_to_critique(parse_policy("top:2"), frames, triage, bursts=bursts) == ["b", "e"]
    assert frames_to_critique(parse_policy("bursts"), frames, triage, bursts=bursts) == ["b", "e", "a", "d"]
    assert frames_to_critique(parse_policy("picks"), frames, triage, picks={"a", "c"}) == ["c", "a"]
    assert frames_to_critique(parse_policy("none"), frames, triage) == []
    for bad in ("top:0", "top:x", "best", ""):
        with pytest.raises(ValueError, match="critique policy"):
            parse_policy(bad)
    assert str(parse_policy(" TOP:3 ")) == "top:3"
    queue = CritiqueQueue(["b", "e", "a"])
    queue.jump("a")
    queue.jump("d")  # opened by the user, not selected: it still comes first
    assert queue.take(2) == ["d", "a"] and queue.take(5) == ["b", "e"] and len(queue) == 0
