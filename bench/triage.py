"""Triage and full-critique cost per frame: counts measured here, minutes on a Mac estimated.

Run: ``.venv/bin/python bench/triage.py [--frames 3]``. Prints, per frame, for the full critique
(the review's pass) and the triage pass:

* prompt tokens computed (after the caches) and image tokens, on the tiny model (measured) and on
  the default model (Qwen3-VL-4B: image tokens by Qwen3-VL's processor arithmetic, text tokens
  counted with a ~150k-token byte-level BPE trained here on English text, the way the test suite
  trains its tiny tokenizers, since Qwen's own tokenizer is not on this machine);
* generated tokens and forward passes: on the tiny model from real runs of the decode loop (its
  512-token tokenizer), and with the 150k tokenizer by walking a realistic answer through the same
  llguidance grammar the loop uses (at each step the grammar's forced tokens are taken as the loop
  takes them, the next token is the tokenizer's own for the answer's remaining text);
* batch passes per token (a batch of ``--frames`` rows in lockstep);
* an ESTIMATE of seconds per frame and minutes per 1,000 frames on an M3 Pro and an M4 Max from
  those counts and the published rates in :data:`RATES` (with their sources).

Writes ``bench/results/triage.json``. The 150k tokenizer is trained once (a few minutes on two
cores) and kept in ``~/.cache/mondrian-bench/``.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MONDRIAN_HOME", tempfile.mkdtemp(prefix="mondrian-bench-triage-"))

REALISTIC_VOCAB = 150_000
TOKENIZER_CACHE = Path.home() / ".cache" / "mondrian-bench" / f"byte-bpe-{REALISTIC_VOCAB}.json"
REVIEW_EDGE = 1024  # the review's image edge (the max_image_edge setting's default)
FRAME = (6000, 4000)  # a 24 MP 3:2 frame

# Published per-token rates of the default model's language side (Qwen3-4B, 4-bit, MLX), tokens/s.
# Source: the figures quoted in issue 21 ("Qwen3-4B 4-bit: prefill ~1,600 tok/s and decode ~135
# tok/s on an M4 Max, ~615 and ~45 on an M3 Pro; mlx-lm's own benchmarks"); not re-measured here
# (no Mac on this machine). A forward pass carrying a few forced tokens is costed as one decode
# step: decode on Apple silicon is bound by reading the weights, not by the tokens in the pass.
RATES = {"M3 Pro": {"prefill": 615.0, "decode": 45.0}, "M4 Max": {"prefill": 1600.0, "decode": 135.0}}
# The vision tower (Qwen3-VL-4B: ~0.4 B parameters) sees 4 patches per merged image token, so its
# cost per image token is ~4 x 0.4 / 4 = 0.4 of the language model's prefill cost per token.
VISION_COST_PER_IMAGE_TOKEN = 0.4
# Preparing a 24 MP JPEG (decode, measure, EXIF, hash, thumbnail): 0.31 s a frame measured on this
# CPU (`review --mode technical`, 60 frames, issue 21); overlapped with the model it costs nothing
# (issue 21 item 4, not done here), so the estimate shows it separately.
PREPARE_S = 0.31

# A realistic full report: two-sentence comments, as the default model writes them.
_COMMENTS = {
    "composition": ("The couple sits on the left third with the arch framing them, and the path leads the eye "
                    "from the corner to their faces.", "Step a pace to the right so the arch does not clip the "
                    "bride's veil."),
    "lighting": ("Soft window light falls from the left and models the faces gently, though the background is a "
                 "stop brighter than the subjects.", "Expose for the faces and let the window burn out, or add a "
                 "reflector on the shadow side."),
    "focus_sharpness": ("Focus is on the groom's near eye and the bride is just inside the depth of field at "
                        "f/2.8.", "Stop down to f/4 when two faces sit at different distances."),
    "color_harmony": ("Warm skin tones sit against the cool grey stone, a pleasant contrast that the green "
                      "foliage slightly muddies.", "Pull the green saturation down a little in post."),
    "subject_isolation": ("The couple separates well from the background thanks to the shallow depth and the "
                          "darker doorway behind them.", "Keep the guests out of the doorway behind them."),
    "depth_perspective": ("The receding columns give a clear sense of depth and a low camera makes the space "
                          "feel grand.", "Try a slightly lower angle to include more of the vaulted ceiling."),
    "visual_balance": ("The heavy arch on the right balances the couple on the left, though the bright window "
                       "pulls the eye away.", "Crop a sliver from the right to calm the bright edge."),
    "emotional_impact": ("The shared glance and the bride's laugh make the moment feel genuine and tender.",
                         "Shoot a short burst during moments like this to catch the peak of the laugh."),
}
FULL_ANSWER: dict[str, Any] = {
    "dimensional_analysis": {k: {"score": s, "comment": c, "recommendation": r}
                             for (k, (c, r)), s in zip(_COMMENTS.items(), [8, 7, 8, 7, 8, 7, 6, 9], strict=True)},
    "overall_grade": "B+",
    "summary": ("A warm, well-timed portrait of the couple under the arch, with gentle light and a genuine "
                "moment; a brighter background and a busy right edge hold it back from excellent."),
}
TRIAGE_ANSWER = {k: v["score"] for k, v in FULL_ANSWER["dimensional_analysis"].items()}
FACTS = ["Exposure: mean luminance 0.46, 0.3 % clipped highlights, 0.1 % crushed shadows",
         "Sharpness: Laplacian variance 182 (sharp)", "Colour: warm cast (+0.04), saturation 0.31",
         "Shot at 1/250 s, f/2.8, ISO 400, 85 mm"]


def english_corpus(limit_bytes: int = 60 << 20) -> list[str]:
    """English text on this machine: the Debian package documentation (READMEs, changelogs)."""
    out, total = [], 0
    for path in sorted(glob.glob("/usr/share/doc/**/*", recursive=True)):
        try:
            if path.endswith(".gz"):
                with gzip.open(path, "rt", encoding="utf-8", errors="ignore") as f:
                    text = f.read()
            elif os.path.isfile(path) and not os.path.islink(path) and os.path.getsize(path) < (4 << 20):
                text = Path(path).read_text(encoding="utf-8", errors="ignore")
            else:
                continue
        except (OSError, EOFError, gzip.BadGzipFile):
            continue
        out.extend(line for line in text.splitlines() if line.strip())
        total += len(text)
        if total >= limit_bytes:
            break
    return out


def realistic_tokenizer() -> Any:
    """A ~150k-token byte-level BPE (Qwen's special tokens and chat template) as a HF tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from app.testing.tiny_families import QWEN_CHAT_TEMPLATE, QWEN_SPECIAL_TOKENS

    if not TOKENIZER_CACHE.exists():
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=REALISTIC_VOCAB, special_tokens=list(QWEN_SPECIAL_TOKENS),
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        corpus = english_corpus() + [json.dumps(FULL_ANSWER)]  # JSON punctuation as a real vocabulary has
        tok.train_from_iterator(corpus, trainer=trainer)
        TOKENIZER_CACHE.parent.mkdir(parents=True, exist_ok=True)
        tok.save(str(TOKENIZER_CACHE))
    fast = PreTrainedTokenizerFast(tokenizer_file=str(TOKENIZER_CACHE), eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", clean_up_tokenization_spaces=False)
    fast.chat_template = QWEN_CHAT_TEMPLATE
    return fast


def walk(text: str, tokenizer: Any, schema: dict[str, Any]) -> dict[str, int]:
    """Generated tokens and forward passes of ``text`` under the decode loop's rules, walked
    through llguidance: forced tokens are taken from ``compute_ff_tokens`` (held-back bytes are
    sampled), every other token is the tokenizer's own next token for the remaining text."""
    import llguidance
    import llguidance.numpy
    import numpy as np
    from mlx_vlm.structured import build_json_schema_logits_processor

    stock = build_json_schema_logits_processor(tokenizer, schema)
    llg = stock.llg_tokenizer
    matcher = llguidance.LLMatcher(llg, stock.grammar)
    data = text.encode()
    pos, tokens, passes = 0, 0, 0
    mask = llguidance.numpy.allocate_token_bitmask(1, llg.vocab_size)

    def force() -> None:
        nonlocal pos, tokens
        ff = matcher.compute_ff_tokens()
        if ff:
            matcher.consume_tokens(ff)
            pos += len(llg.decode_bytes(ff))
            tokens += len(ff)

    force()
    while not matcher.is_stopped():
        rest = data[pos:]
        if not rest:
            break
        llguidance.numpy.fill_next_token_bitmask(matcher, mask, 0)
        allowed = np.unpackbits(mask[0].view(np.uint8), bitorder="little")
        candidates = [t for t in tokenizer.encode(rest.decode(errors="ignore"), add_special_tokens=False)[:1]
                      if allowed[t]]
        if not candidates:  # the canonical token is not allowed here: the longest allowed prefix token
            candidates = [max((t for t in np.flatnonzero(allowed) if rest.startswith(llg.decode_bytes([int(t)]))
                               and llg.decode_bytes([int(t)])), key=lambda t: len(llg.decode_bytes([int(t)])))]
        token = int(candidates[0])
        passes += 1
        matcher.consume_token(token)
        pos += len(llg.decode_bytes([token]))
        tokens += 1
        force()
    return {"generated_tokens": tokens, "forward_passes": passes}


def qwen3_vl_image_tokens(size: tuple[int, int], edge: int, *, patch: int = 16, merge: int = 2,
                          min_pixels: int = 65_536, max_pixels: int = 16_777_216) -> int:
    """Image tokens of a photo scaled to ``edge`` by Qwen3-VL's processor arithmetic (smart_resize
    to multiples of patch x merge within its pixel bounds, one token per merged patch)."""
    w, h = size
    scale = min(1.0, edge / max(w, h))
    w, h = round(w * scale), round(h * scale)
    factor = patch * merge
    hb, wb = max(factor, round(h / factor) * factor), max(factor, round(w / factor) * factor)
    if hb * wb > max_pixels:
        beta = math.sqrt(h * w / max_pixels)
        hb, wb = math.floor(h / beta / factor) * factor, math.floor(w / beta / factor) * factor
    elif hb * wb < min_pixels:
        beta = math.sqrt(min_pixels / (h * w))
        hb, wb = math.ceil(h * beta / factor) * factor, math.ceil(w * beta / factor) * factor
    return (hb // factor) * (wb // factor)


def text_after_photo(tokenizer: Any, prompt: Any) -> int:
    """Tokens of the prompt after the photo (the photo's facts, the ask, the turn's end): what the
    text cache does not cover, the image's own tokens excluded."""
    messages = [{"role": "system", "content": prompt.system},  # the photo first in the user turn, as mlx-vlm puts it
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt.user}]}]
    rendered = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    after = rendered.split("<|vision_end|>", 1)[1]
    return len(tokenizer.encode(after, add_special_tokens=False)) + 2  # + <|vision_start|>, <|vision_end|>


def estimate(prompt_tokens: int, image_tokens: int, passes: float) -> dict[str, dict[str, float]]:
    """ESTIMATE: seconds per frame and minutes per 1,000 frames on each Mac class."""
    out = {}
    for mac, rate in RATES.items():
        model_s = (prompt_tokens + VISION_COST_PER_IMAGE_TOKEN * image_tokens) / rate["prefill"] \
            + passes / rate["decode"]
        out[mac] = {"s_per_frame": round(model_s, 2), "min_per_1000": round(model_s * 1000 / 60, 1),
                    "min_per_1000_with_serial_prepare": round((model_s + PREPARE_S) * 1000 / 60, 1)}
    return out


def tiny_runs(frames: int) -> dict[str, Any]:
    """Full critiques and triage of ``frames`` photos on the tiny model, batched, caches on."""
    from PIL import Image

    from app.engine.advisors import get_advisor
    from app.engine.critique.prompts import critique_prompt
    from app.engine.critique.triage import triage_edge
    from app.engine.model.generate import generate_reports
    from app.engine.model.host import ModelHost
    from app.engine.model.prefill import prepare_model_inputs
    from app.engine.model.requests import render_prompt
    from app.engine.model.triage import scaled, triage_frames
    from app.engine.settings import Settings
    from app.testing.tiny_model import build_tiny_model

    folder = Path(tempfile.mkdtemp(prefix="mondrian-bench-tiny-"))
    model_dir = build_tiny_model(folder / "tiny-qwen3-vl")
    host = ModelHost(str(model_dir))
    advisor = get_advisor("ansel")
    images = []
    for i in range(frames):
        img = Image.new("RGB", (1536, 1024))
        img.putdata([((x * (i + 3)) % 256, (y * 7 + i * 40) % 256, (x + y) % 256)
                     for y in range(1024) for x in range(1536)])
        images.append(scaled(img, REVIEW_EDGE))
    settings = Settings(model=str(model_dir), max_text_chars=160)
    full = generate_reports(host, settings, [(im, critique_prompt(advisor, facts=FACTS)) for im in images])
    triage = triage_frames(host, images, advisor, facts=[FACTS] * frames)
    loaded = host.loaded
    edge = triage_edge(loaded.model.config)

    def image_tokens(image: Image.Image) -> int:
        text = render_prompt(loaded.processor, loaded.model.config, critique_prompt(advisor))
        ids = prepare_model_inputs(loaded, text, image)["input_ids"][0].tolist()
        pad = loaded.model.config.image_token_id
        return sum(1 for t in ids if t == pad)

    review_img, triage_img = image_tokens(images[0]), image_tokens(scaled(images[0], edge))
    host.shutdown()
    rows = []
    for f, t in zip(full, triage, strict=True):
        if isinstance(t, BaseException):
            raise t
        fs, ts = f.output.stats, t.stats
        rows.append({
            "full": {"prompt_tokens": fs.prompt_tokens, "computed": fs.prompt_tokens - fs.cached_prompt_tokens,
                     "image_tokens": review_img, "generated": fs.generation_tokens,
                     "forward_passes": fs.forward_passes, "batch_passes": fs.batch_passes},
            "triage": {"prompt_tokens": ts.prompt_tokens, "computed": ts.prompt_tokens - ts.cached_prompt_tokens,
                       "image_tokens": triage_img, "generated": ts.generation_tokens,
                       "forward_passes": ts.forward_passes, "batch_passes": ts.batch_passes,
                       "edge": t.edge, "expected_overall": round(t.expected_overall, 3)},
        })
    return {"edge": edge, "rows": rows}


def realistic_counts() -> dict[str, Any]:
    from app.engine.advisors import get_advisor
    from app.engine.critique.prompts import critique_prompt
    from app.engine.critique.report import report_json_schema
    from app.engine.critique.triage import triage_edge, triage_prompt, triage_schema

    tokenizer = realistic_tokenizer()
    advisor = get_advisor("ansel")
    qwen3 = type("C", (), {"vision_config": type("V", (), {"patch_size": 16, "spatial_merge_size": 2})()})()
    edge = triage_edge(qwen3)
    out: dict[str, Any] = {"vocab": len(tokenizer), "triage_edge": edge}
    for kind, prompt, answer, schema, at in (
            ("full", critique_prompt(advisor, facts=FACTS), FULL_ANSWER, report_json_schema(), REVIEW_EDGE),
            ("triage", triage_prompt(advisor, facts=FACTS), TRIAGE_ANSWER, triage_schema(), edge)):
        image = qwen3_vl_image_tokens(FRAME, at)
        text = text_after_photo(tokenizer, prompt)
        counts = walk(json.dumps(answer), tokenizer, schema)
        computed = image + text
        out[kind] = {"edge": at, "image_tokens": image, "text_after_photo": text, "computed": computed,
                     **counts, "passes_per_token": round(counts["forward_passes"] / counts["generated_tokens"], 3),
                     "estimate": estimate(computed, image, counts["forward_passes"])}
        before = estimate(computed, image, counts["generated_tokens"])  # one pass per token
        out[kind]["estimate_one_pass_per_token"] = before
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=3)
    args = parser.parse_args()
    real = realistic_counts()
    tiny = tiny_runs(args.frames)
    print(f"default model (Qwen3-VL-4B arithmetic; text counted with a {real['vocab']:,}-token byte-level BPE "
          f"trained here), a 24 MP 3:2 frame:")
    print("| pass | edge | image tokens | prompt tokens computed | generated | forward passes | passes/token |")
    print("|---|---|---|---|---|---|---|")
    for kind in ("full", "triage"):
        r = real[kind]
        print(f"| {kind} | {r['edge']} | {r['image_tokens']} | {r['computed']} | {r['generated_tokens']} | "
              f"{r['forward_passes']} | {r['passes_per_token']} |")
    print("\nESTIMATE (published rates in RATES, model time; + serial preparation in brackets):")
    print("| pass | Mac | s/frame, one pass per token | s/frame, forced tokens skipped | min/1000 frames |")
    print("|---|---|---|---|---|")
    for kind in ("full", "triage"):
        for mac in RATES:
            e, b = real[kind]["estimate"][mac], real[kind]["estimate_one_pass_per_token"][mac]
            print(f"| {kind} | {mac} | {b['s_per_frame']} | {e['s_per_frame']} | {e['min_per_1000']} "
                  f"({e['min_per_1000_with_serial_prepare']}) |")
    print(f"\ntiny model (512-token tokenizer), {args.frames} frames batched, per frame:")
    print("| frame | pass | image tokens | prompt tokens | computed | generated | forward passes | passes/token "
          "| batch passes/token |")
    print("|---|---|---|---|---|---|---|---|---|")
    for i, row in enumerate(tiny["rows"]):
        for kind in ("full", "triage"):
            r = row[kind]
            longest = max(x[kind]["generated"] for x in tiny["rows"])
            print(f"| {i} | {kind} | {r['image_tokens']} | {r['prompt_tokens']} | {r['computed']} | {r['generated']} "
                  f"| {r['forward_passes']} | {r['forward_passes'] / max(r['generated'], 1):.2f} "
                  f"| {r['batch_passes'] / max(longest, 1):.2f} |")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "triage.json").write_text(json.dumps({"realistic": real, "tiny": tiny}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
