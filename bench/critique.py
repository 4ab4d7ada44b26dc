"""Critique benchmark on the tiny model: engine overhead, constrained decoding cost, load and import.

Run: ``.venv/bin/python bench/critique.py [--repeats 3]``. Prints one table; each row has a ratio
against the baseline measured in the same process. Targets: engine / raw <= 1.05.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MONDRIAN_HOME", tempfile.mkdtemp(prefix="mondrian-bench-"))


def best_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out  # min: robust against other load on the machine


def import_seconds(module: str) -> float:
    code = f"import time; t=time.perf_counter(); import {module}; print(time.perf_counter()-t)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    return float(out.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--text-chars", type=int, default=200, help="schema maxLength: sets the report length")
    args = parser.parse_args()

    from app.engine.advisors import get_advisor
    from app.engine.critique.prompts import critique_prompt
    from app.engine.critique.report import report_json_schema
    from app.engine.model.host import ModelHost, render_prompt
    from app.engine.model.structured import json_schema_logits_processor
    from app.engine.service import MondrianService
    from app.engine.settings import Settings
    from app.engine.technical import analyze_photo, grounding_facts
    from app.testing.tiny_model import build_tiny_model

    model_dir = build_tiny_model(Path(tempfile.mkdtemp()) / "tiny")
    photo = ROOT / "resources" / "samples" / "sample.jpg"
    settings = Settings(model=str(model_dir), max_text_chars=args.text_chars, max_tokens=20000)
    host = ModelHost(str(model_dir))
    service = MondrianService(settings, host=host, **({"store": None} if _accepts_store() else {}))
    load_s = host.load().result().load_seconds
    advisor = get_advisor("ansel")
    schema = report_json_schema(args.text_chars)
    image = service.load_image(photo)
    facts = grounding_facts(analyze_photo(image)) if settings.grounding else []
    prompt = critique_prompt(advisor, facts=facts)

    def raw(constrained: bool):
        def run(loaded):
            from mlx_vlm import stream_generate

            text = render_prompt(loaded.processor, loaded.model.config, prompt)
            kw = {"logits_processors": [json_schema_logits_processor(loaded.processor.tokenizer, schema)]} \
                if constrained else {}
            tokens = 0
            for result in stream_generate(loaded.model, loaded.processor, text, image=[image], max_tokens=n_tokens,
                                          temperature=0.0, **kw):
                tokens = result.generation_tokens
            return tokens
        return lambda: host.call(run).result()

    def engine():
        result = service.critique(photo, "ansel", "baseline")
        assert result.ok, result.parse_problems
        return result.stats.generation_tokens

    def engine_generation():
        # The engine's generation path alone: queue to the model thread, token callbacks, parse.
        from app.engine.critique.report import parse_report
        from app.engine.model.host import GenerationRequest

        req = GenerationRequest(prompt=prompt, image=image, max_tokens=n_tokens, schema=schema,
                                on_token=lambda _rid, _t: None)
        out = host.generate(req).result()
        parse_report(out.text)
        return out.stats.generation_tokens

    engine()  # warm-up (grammar compile, caches)
    n_tokens = 20000
    t_engine, n_tokens = best_time(engine, args.repeats)
    raw(True)()
    t_raw_c, n_raw = best_time(raw(True), args.repeats)
    t_raw_u, n_raw_u = best_time(raw(False), args.repeats)
    t_gen, n_gen = best_time(engine_generation, args.repeats)
    service.close()

    imp_engine = import_seconds("app.engine.service")
    imp_vlm = import_seconds("mlx_vlm")
    rows = [
        ("raw mlx_vlm.stream_generate, constrained (baseline)", t_raw_c, n_raw, 1.0),
        ("engine generation path (queue, stream, parse)", t_gen, n_gen, t_gen / t_raw_c),
        ("engine critique (+ load photo, measure it, store)", t_engine, n_tokens, t_engine / t_raw_c),
        ("raw stream_generate, unconstrained, same token budget", t_raw_u, n_raw_u, t_raw_u / t_raw_c),
        ("model load (tiny model, resident afterwards)", load_s, 0, load_s / t_raw_c),
        ("import mlx_vlm (baseline for imports)", imp_vlm, 0, 1.0),
        ("import app.engine.service (no mlx_vlm at import)", imp_engine, 0, imp_engine / imp_vlm),
    ]
    print(f"{'measurement':<58} {'seconds':>9} {'tokens':>7} {'ratio':>7}")
    for name, secs, toks, ratio in rows:
        print(f"{name:<58} {secs:9.3f} {toks or '':>7} {ratio:7.3f}")
    print(f"\nengine generation/raw = {t_gen / t_raw_c:.3f} (target <= 1.05); full critique adds "
          f"{(t_engine - t_gen) * 1000:.0f} ms for loading and measuring the photo; "
          f"constrained/unconstrained = {t_raw_c / t_raw_u:.3f}")
    return 0


def _accepts_store() -> bool:
    import inspect

    from app.engine.service import MondrianService

    return "store" in inspect.signature(MondrianService.__init__).parameters


if __name__ == "__main__":
    sys.exit(main())
