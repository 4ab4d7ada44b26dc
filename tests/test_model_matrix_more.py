"""The passes that read digit probabilities, on the families whose tokenizers differ most from Qwen's.

SmolVLM (``idefics3``: byte-level BPE with every digit its own token, photos split into tiles),
PaliGemma (``paligemma``: SentencePiece-style pieces with byte fallback, so a digit has two
spellings, ``7`` and ``<0x37>``, and no chat template) and Mistral Small 3.1 (``mistral3``: Tekken's
specials, a Pixtral tower that keeps the photo's aspect, the spatial merge at the top of the config). On each: the review's triage stage
(expected scores read at the score positions), the cull scorer (``training.cull_scoring``) and two
steps of learning from culls (``training.learn``). The model matrix (tests/test_model_matrix.py)
runs the critique, RAG and training tests on them too.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from app.engine.critique.report import DIMENSIONS
from app.engine.critique.triage import ScoreSteps, TriageScores, is_score_piece, score_pieces, triage_edge
from training.common import CommandError

FAMILIES = ("idefics3", "paligemma", "mistral3")


@dataclass
class Tiny:
    family: str
    model_dir: Path
    root: Path


@pytest.fixture(scope="module", params=FAMILIES)
def tiny(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tiny]:
    from app.testing.tiny_model import build_tiny_model

    root = tmp_path_factory.mktemp(f"more-{request.param}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MONDRIAN_HOME", str(root / "home"))
        yield Tiny(request.param, build_tiny_model(root / "model", arch=request.param), root)


def _loaded(tiny: Tiny) -> tuple[Any, Any]:
    import mlx_vlm

    return mlx_vlm.load(str(tiny.model_dir))


def _trainable(processor: Any) -> bool:
    """mlx-vlm 0.7.10's SFT dataset renders the conversation through the chat template and needs a
    prefix-stable one; PaliGemma has none (mlx-vlm then keeps only the last message)."""
    tokenizer = getattr(processor, "tokenizer", processor)
    return bool(getattr(processor, "chat_template", None) or getattr(tokenizer, "chat_template", None))


# --- units: no model -------------------------------------------------------------------------------


def test_a_score_piece_is_a_digit_or_two_after_at_most_one_space():
    assert all(is_score_piece(t) for t in (" ", "7", " 7", "10", " 10", "\n"))
    assert not any(is_score_piece(t) for t in ("", "  ", "  7", "100", "7,", "a", ' "', "▁"))


def test_score_pieces_counts_every_spelling_of_a_digit():
    class Vocab:
        """A SentencePiece-like vocabulary: digits, their byte-fallback spellings, two spaces, words."""

        texts = [str(d) for d in range(10)] * 2 + [" ", " "] + [f"w{i}" for i in range(40)]

        def __len__(self) -> int:
            return len(self.texts)

        def batch_decode(self, ids: list[list[int]]) -> list[str]:
            return ["".join(self.texts[i] for i in row) for row in ids]

    assert score_pieces(Vocab()) == 22  # more than the 16 the decode loop shows by default


def test_expected_score_sums_a_digits_spellings():
    """With byte fallback the grammar allows "7" and "<0x37>" at a score position: both are a 7."""
    steps = ScoreSteps(lambda ids: {1: "7", 2: "7", 3: "2", 9: " "}.get(ids[0], "x") if ids else "", 22)
    steps([9], [1, 2, 3], [0.25, 0.25, 0.5])
    assert steps.steps == [{"7": 0.5, "2": 0.5}]
    assert steps.expected() == [pytest.approx(4.5)]


def test_the_triage_edge_reads_a_merge_kept_at_the_top_of_the_config():
    """Mistral 3 keeps spatial_merge_size beside vision_config: 16 merged patches of 28 px, not the
    tower's 1540 px maximum (3025 image tokens)."""
    from types import SimpleNamespace as Ns

    mistral3 = Ns(spatial_merge_size=2, vision_config=Ns(patch_size=14, image_size=1540))
    assert triage_edge(mistral3) == 14 * 2 * 16 == 448
    assert triage_edge(Ns(vision_config=Ns(patch_size=14, image_size=896))) == 896  # no merge: the fixed size


# --- on the tiny models ---------------------------------------------------------------------------


def test_the_tokenizer_is_of_its_kind(tiny: Tiny):
    _model, processor = _loaded(tiny)
    tokenizer = processor.tokenizer
    ids = tokenizer.encode('{"composition": 10}', add_special_tokens=False)
    pieces = [tokenizer.decode([i]) for i in ids]
    assert pieces[-4:] == [" ", "1", "0", "}"]  # digits one by one, the space on its own in both
    if tiny.family == "paligemma":
        assert "▁" in tokenizer.convert_ids_to_tokens(ids) and tokenizer.encode("é", add_special_tokens=False) == [
            tokenizer.convert_tokens_to_ids("<0xC3>"), tokenizer.convert_tokens_to_ids("<0xA9>")]
        assert score_pieces(tokenizer) > 16
    else:
        assert "Ġ" in tokenizer.convert_ids_to_tokens(ids)


def test_the_review_triage_stage_reads_expected_scores(tiny: Tiny):
    from app.engine.review.triage import triage_many
    from app.engine.service import MondrianService
    from app.engine.settings import Settings

    paths = []
    for i in range(3):
        path = tiny.root / f"IMG_{i}.jpg"
        Image.new("RGB", (300, 200), (40 + 70 * i, 120, 200 - 60 * i)).save(path)
        paths.append(path)
    service = MondrianService(Settings(model=str(tiny.model_dir)))
    try:
        results = triage_many(service, paths, "ansel", "baseline", batch_size=3)
    finally:
        service.close()
    for r in results:
        assert isinstance(r, TriageScores), r
        assert set(r.scores) == set(DIMENSIONS)
        assert set(r.expected) == set(DIMENSIONS)  # read at every score position
        assert all(0 <= v <= 10 for v in r.expected.values())


def test_the_cull_scorer_reads_expected_scores(tiny: Tiny):
    from app.engine.advisors import load_advisors
    from app.engine.critique.triage import triage_prompt
    from training.cull_scoring import FrameScorer

    model, processor = _loaded(tiny)
    prompt = triage_prompt(load_advisors()["ansel"])
    turns = [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}]
    rows = [{"messages": turns, "images": [Image.new("RGB", (96, 64), color)]} for color in ((250, 250, 250), (5, 5, 5))]
    if not _trainable(processor):
        # mlx-vlm renders only the last message: the probe answer is not where the completion starts
        with pytest.raises(ValueError, match="prefix|not found in the tokenized row"):
            FrameScorer(model, processor).score_rows(rows)
        pytest.xfail("mlx-vlm 0.7.10's SFT dataset needs a chat template; this family has none")
    scores = FrameScorer(model, processor).score_rows(rows)
    assert len(scores) == 2 and all(0 <= s <= 10 for s in scores) and scores[0] != scores[1]


def test_learning_from_culls_runs_two_steps(tiny: Tiny):
    from app.engine.advisors import Advisor, save_user_advisor
    from app.testing.synthetic_photographer import decisions as photographer
    from training.learn import Learning, LearnOptions

    _model, processor = _loaded(tiny)
    save_user_advisor(Advisor(id="eye", name="Eye", bio="Likes sharp, bright frames."))
    opts = LearnOptions(advisor_id="eye", reviews=["synthetic"], model=str(tiny.model_dir), method="sft", steps=2,
                        lr=5e-3, held_out=0.0, bootstrap=20, decisions=photographer(tiny.root / "photos", 2))
    if not _trainable(processor):  # refused up front, by name, not deep in mlx-vlm's dataset
        with pytest.raises(CommandError, match="has no chat template: mlx-vlm's trainer renders every training row"):
            Learning(opts, io.StringIO()).run()
        return
    result = Learning(opts, io.StringIO()).run()
    assert result["training"]["steps"] == 2 and result["version"] == "v1"
    assert result["agreement"]["after"]["train"]["pairs"] > 0


def test_a_model_without_a_chat_template_still_gets_the_advisors_instructions(tiny: Tiny):
    """mlx-vlm keeps only the last turn when a model has no chat template (PaliGemma): the system
    turn (the advisor, the scale, the dimensions) goes into the one turn there is."""
    from app.engine.advisors import load_advisors
    from app.engine.critique.triage import triage_prompt
    from app.engine.model.requests import has_chat_template, render_prompt

    model, processor = _loaded(tiny)
    prompt = triage_prompt(load_advisors()["ansel"])
    text = render_prompt(processor, model.config, prompt)
    marker = prompt.system.strip().splitlines()[0][:60]
    assert marker in text and prompt.user.strip()[:60] in text, (has_chat_template(processor), text[:400])


def test_the_training_forward_is_made_causal_whatever_the_family(tiny: Tiny):
    """mlx-vlm 0.7.10's trainer hands its 2-D padding mask to the model; SmolVLM's language model
    takes it as the attention mask (every position sees the whole row), Gemma 3's embedding step
    turns it into a full 4-D mask. ``ensure_causal`` measures it on a real row and fixes it."""
    from app.engine.advisors import load_advisors
    from app.engine.critique.triage import triage_prompt
    from training.causal import ensure_causal, leaks_future
    from training.cull_scoring import FrameScorer

    model, processor = _loaded(tiny)
    if not _trainable(processor):
        return  # no training rows without a chat template (refused by name elsewhere)
    prompt = triage_prompt(load_advisors()["ansel"])
    turns = [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user},
             {"role": "assistant", "content": '{"composition": 7}'}]
    from mlx_vlm.trainer.vlm.sft.runtime import collate_vlm_batch

    scorer = FrameScorer(model, processor)
    row = scorer.dataset.process({"messages": turns, "images": [Image.new("RGB", (96, 64), (90, 120, 200))]})
    batch = collate_vlm_batch([row], 1 << 20, pad_to_multiple=32)  # padded on the right, as the trainer does
    ensure_causal(model, batch)
    assert leaks_future(model, batch) <= 1e-4
