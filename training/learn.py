"""``python -m training learn``: teach an advisor from the user's culls of one or more reviewed shoots.

    python -m training learn --advisor me --from-review REVIEW_ID [REVIEW_ID ...]
        [--method orpo|sft] [--steps 60] [--lr 1e-4] [--rank 8] [--held-out 0.25]
        [--min-pairs 20] [--activate auto|always|never] [--model M]

The decisions become examples (:mod:`training.culls`), whole bursts (or whole shoots, when there
are several) are held out, and mlx-vlm's own trainer runs: SFT on the target answers, or ORPO
(the default) on chosen/rejected pairs (reference-free, so it starts from the active personal
adapter when its layout matches; DPO would need a second, frozen model). Before and after, on the
training and held-out frames, the advisor's scores are judged by agreement with the user's
ordering (:mod:`training.agreement`); the new version is published with ``eval.json``/``eval.md``
and activated only when it agrees better than the active one by more than the interval, on
enough pairs (``--activate always`` overrides, ``never`` publishes without activating).
Progress is the JSON-lines protocol of ``train_lora`` (``training/events.py``); SIGTERM/SIGINT
stop at the next step with nothing published.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from app.engine import atomic
from app.engine.adapters import versions as adapter_versions
from app.engine.adapters.versions import ADAPTER_CONFIG, ADAPTER_WEIGHTS, AdapterManifest
from app.engine.advisors import AdvisorError, validate_advisor_id

from . import agreement as agree
from .causal import make_training_causal
from .common import EXIT_OK, CommandError, JsonLines, reported, run_main, setup
from .culls import Decision, Examples, build_examples, kept, review_decisions, user_level
from .stopping import Signals, StopRequested
from .trainer_support import progress_callback_class, stop_at_step

METHODS = ("orpo", "sft")
LORA_SCALE = 2.0  # alpha / rank of the adapters trained here (mlx-vlm's LoRALinear scale)
ACTIVATE = ("auto", "always", "never")


@dataclass
class LearnOptions:
    advisor_id: str
    reviews: list[str]
    model: str = ""
    method: str = "orpo"
    steps: int = 60
    lr: float = 1e-4
    rank: int = 8
    beta: float = 0.1
    held_out: float = 0.25
    min_pairs: int = agree.MIN_PAIRS
    activate: str = "auto"
    seed: int = 0
    bootstrap: int = agree.BOOTSTRAP
    image_edge: int = 0  # 0: the settings' triage edge, else derived from the model
    facts: bool = True  # the measured facts in the prompt, as the review's triage pass has them
    decisions: list[Decision] | None = None  # given directly (tests, bench) instead of read from reviews
    extra: dict[str, Any] = field(default_factory=dict)


def training_edge(config: Any, setting: int = 0) -> int:
    """One fixed photo edge for every row, the triage pass's (``app.engine.critique.triage.triage_edge``:
    derived from the model's patch arithmetic), so the adapter learns on the photo it will rank."""
    from app.engine.critique.triage import triage_edge

    return triage_edge(config, setting)


def judged(decisions: Sequence[Decision], scores: Sequence[float]) -> list[agree.Judged]:
    return [agree.Judged(key=d.path, group=d.group, user=user_level(d), kept=kept(d), score=s)
            for d, s in zip(decisions, scores, strict=True)]


def split(decisions: Sequence[Decision], fraction: float, seed: int) -> tuple[list[Decision], list[Decision]]:
    """Train and held-out decisions: whole shoots held out when there are several, else whole bursts."""
    by_shoot = len({d.shoot for d in decisions}) > 1
    unit: Callable[[Decision], str] = (lambda d: d.shoot) if by_shoot else (lambda d: d.group)
    held = agree.held_out_groups([unit(d) for d in decisions], fraction, seed=seed)
    return [d for d in decisions if unit(d) not in held], [d for d in decisions if unit(d) in held]


class Learning:
    """One run: decisions -> examples -> score before -> train -> score after -> publish."""

    def __init__(self, opts: LearnOptions, out: IO[str] | None, *, should_stop: Callable[[], bool] = lambda: False):
        self.opts = opts
        self.out = JsonLines(out)
        self.should_stop = should_stop
        self.timings: dict[str, float] = {}
        self.unmatched_active: str | None = None  # an active version this run could not start from

    # ---- pieces ----------------------------------------------------------------------------------
    def decisions(self) -> list[Decision]:
        if self.opts.decisions is not None:
            return [d for d in self.opts.decisions if d.decided]
        from app.engine.store.database import open_default_store

        store = open_default_store()
        try:
            found: list[Decision] = []
            for review in self.opts.reviews:
                if store.reviews.find_review(review) is None:
                    raise CommandError(f"no review {review!r} (`mondrian review FOLDER --json` prints a review's id)")
                found += review_decisions(store, review)
        finally:
            store.close()
        decided = [d for d in found if d.decided]
        if not decided:
            raise CommandError("none of the frames of " + ", ".join(self.opts.reviews) + " has a decision (stars, "
                               "pick or reject, set in Mondrian or in Lightroom): cull the shoot first")
        return decided

    def load_model(self) -> tuple[Any, Any, str]:
        import mlx.core as mx
        import mlx_vlm
        from mlx_vlm.trainer import prepare_model_for_training

        from app.engine.model.source import ModelNotAvailableError, resolve_model
        from app.engine.settings import load_settings

        ref = self.opts.model or load_settings().model
        try:
            path = resolve_model(ref)
        except ModelNotAvailableError as exc:
            raise CommandError(str(exc)) from None
        model, processor = mlx_vlm.load(str(path))
        make_training_causal(model)  # Gemma 3's training forward attends to the future in mlx-vlm 0.7.10
        mx.random.seed(self.opts.seed)
        start = self._active_adapter()
        prepare_model_for_training(model, train_type="lora", lora_rank=self.opts.rank,
                                   lora_alpha=LORA_SCALE * self.opts.rank, lora_dropout=0.0, verbose=False)
        if start is not None:
            try:
                model.load_weights(str(start / ADAPTER_WEIGHTS), strict=False)
                self.out.emit("note", message=f"starting from the active adapter {start.name}")
            except (ValueError, OSError) as exc:  # another layout of the same rank: start from the base
                self.unmatched_active = start.name
                self.out.emit("note", message=f"the active adapter {start.name} does not fit ({exc}): starting fresh")
        return model, processor, ref

    def _active_adapter(self) -> Path | None:
        """The active version's folder when its layout is the one trained here (LoRA, same rank)."""
        try:
            active = adapter_versions.active_version(self.opts.advisor_id)
        except adapter_versions.AdapterStoreError:
            return None
        if active is None:
            return None
        try:
            config = json.loads((active.path / ADAPTER_CONFIG).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        lora = config.get("lora_parameters") if isinstance(config.get("lora_parameters"), dict) else config
        layout = (config.get("fine_tune_type", "lora"), int(lora.get("rank", lora.get("lora_rank", -1)) or -1),
                  float(lora.get("scale", LORA_SCALE)))
        if layout != ("lora", self.opts.rank, LORA_SCALE):
            self.out.emit("note", message=f"the active adapter {active.version} has another layout "
                                          f"({layout[0]}, rank {layout[1]}, scale {layout[2]:g}): starting fresh")
            self.unmatched_active = active.version
            return None
        return active.path

    def train(self, model: Any, processor: Any, examples: Examples, adapter_file: Path) -> dict[str, Any]:
        import mlx.optimizers as optim
        from datasets import Dataset
        from mlx_vlm.trainer import Trainer, VLMTrainingArgs
        from mlx_vlm.trainer.vlm.orpo.config import ORPOTrainingArgs

        o = self.opts
        common: dict[str, Any] = {"batch_size": 1, "iters": o.steps, "steps_per_report": 1, "steps_per_eval": None,
                  "steps_per_save": o.steps + 1, "max_seq_length": 1 << 20, "train_on_completions": True,
                  "adapter_file": str(adapter_file)}
        if o.method == "orpo":
            args: Any = ORPOTrainingArgs(beta=o.beta, **common)
            rows = Dataset.from_list(examples.preference)
        else:
            args = VLMTrainingArgs(**common)
            rows = Dataset.from_list(examples.sft)
        callback = progress_callback_class()(self.out, o.steps, 1)
        callback.begin_epoch(1)
        trainer = Trainer(model, args, train_dataset=rows, processing_class=processor,
                          optimizer=optim.Adam(learning_rate=o.lr), training_callback=callback, seed=o.seed)
        stop_at_step(trainer, self.should_stop)
        started = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):
            trainer.train()
            trainer.save_adapter(str(adapter_file))
        seconds = time.perf_counter() - started
        steps = max(len(callback.losses), 1)
        return {"steps": len(callback.losses), "seconds": seconds, "step_time_s": seconds / steps,
                "peak_memory_gb": callback.peak_gb, "first_loss": callback.losses[0] if callback.losses else None,
                "final_loss": callback.losses[-1] if callback.losses else None}

    # ---- the run ---------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """The evaluation (eval.json's content); publishes a version unless the run was stopped."""
        from app.engine.advisors import get_advisor
        from app.engine.photos.decode import load_photo
        from app.engine.photos.errors import ImageLoadError
        from app.engine.photos.prepare import prepare_photo
        from app.engine.settings import load_settings

        from .cull_scoring import FrameScorer

        o = self.opts
        if o.method not in METHODS:
            raise CommandError(f"--method must be one of {', '.join(METHODS)}, not {o.method!r}")
        try:
            advisor = get_advisor(o.advisor_id)
        except AdvisorError as exc:
            raise CommandError(str(exc)) from None
        decisions = self.decisions()
        train_d, held_d = split(decisions, o.held_out, o.seed)
        self.out.emit("note", message=f"{len(decisions)} decided frames: {len(train_d)} to train on, {len(held_d)} "
                                      "held out (whole bursts or shoots)")
        model, processor, ref = self.load_model()
        settings = load_settings()
        edge = training_edge(model.config, o.image_edge or settings.triage_image_edge)
        cache: dict[str, Any] = {}
        facts: dict[str, list[str]] = {}

        def image(path: str) -> Any:
            if path not in cache:
                cache[path] = load_photo(Path(path), max_edge=edge).convert("RGB")
            return cache[path]

        def facts_of(path: str) -> list[str]:
            if path not in facts:
                facts[path] = list(prepare_photo(Path(path), settings).facts)
            return facts[path]

        readable = []
        for d in train_d + held_d:  # a photo gone or damaged since the cull: that frame only is left out
            try:
                image(d.path)
                if o.facts:
                    facts_of(d.path)
                readable.append(d.path)
            except (ImageLoadError, OSError) as exc:
                self.out.emit("skipped", file=d.path, reason=str(exc))
        train_d = [d for d in train_d if d.path in readable]
        held_d = [d for d in held_d if d.path in readable]
        train_x = build_examples(train_d, advisor, image, facts_of if o.facts else None)
        held_x = build_examples(held_d, advisor, image, facts_of if o.facts else None)
        if not train_x.sft:
            raise CommandError("no decided frames are left to train on after holding some out: "
                               "cull more frames or lower --held-out")
        self.out.emit("start", advisor_id=o.advisor_id, model=ref, dataset="reviews:" + ",".join(o.reviews),
                      train_rows=len(train_x.sft), val_rows=len(held_x.sft), epochs=1, steps_per_epoch=o.steps,
                      hyperparameters={"method": o.method, "steps": o.steps, "lr": o.lr, "rank": o.rank,
                                       "beta": o.beta, "image_edge": edge, "facts": o.facts})
        scorer = FrameScorer(model, processor)
        t = time.perf_counter()
        before = {"train": scorer.score_rows(train_x.sft), "held_out": scorer.score_rows(held_x.sft)}
        self.timings["score_s"] = time.perf_counter() - t
        staged = adapter_versions.staging_dir(o.advisor_id)
        try:
            try:
                run = self.train(model, processor, train_x, staged / ADAPTER_WEIGHTS)
            except StopRequested:
                self.out.emit("stopped", signal="stop-request", message="stopped; nothing was published")
                raise
            after = {"train": scorer.score_rows(train_x.sft), "held_out": scorer.score_rows(held_x.sft)}
            result = self.evaluation(train_d, held_d, before, after, run, ref)
            self.publish(staged, result, ref)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
        return result

    def evaluation(self, train_d: list[Decision], held_d: list[Decision], before: dict[str, list[float]],
                   after: dict[str, list[float]], run: dict[str, Any], ref: str) -> dict[str, Any]:
        o = self.opts
        sets = {"train": train_d, "held_out": held_d}
        table = {when: {name: agree.agreement(judged(ds, scores[name]), bootstrap=o.bootstrap, seed=o.seed)
                        for name, ds in sets.items()}
                 for when, scores in (("before", before), ("after", after))}
        comparison = agree.compare(judged(held_d, before["held_out"]), after["held_out"], bootstrap=o.bootstrap,
                                   seed=o.seed) if held_d else {"pairwise_difference": None, "ci": None, "pairs": 0}
        if o.activate == "never":
            activate, reason = False, "not activated: --activate never"
        elif o.activate == "auto" and self.unmatched_active:
            # "before" was the base model, not the active version: no fair comparison with it
            activate, reason = False, (f"not activated: the active version {self.unmatched_active} has another "
                                       "layout, so this run started from the base model and was not compared with "
                                       "it; `mondrian train versions activate` chooses by hand")
        else:
            activate, reason = agree.activation_decision(comparison, min_pairs=o.min_pairs,
                                                         override=o.activate == "always")
        return {"advisor_id": o.advisor_id, "model": ref, "method": o.method, "reviews": o.reviews,
                "frames": {"train": len(train_d), "held_out": len(held_d)}, "agreement": table,
                "comparison": comparison, "activate": activate, "reason": reason, "training": run,
                "scores": {"before": before, "after": after},
                "frames_detail": [{"path": d.path, "group": d.group, "split": name, "user": user_level(d),
                                   "kept": kept(d), "source": d.source} for name, ds in sets.items() for d in ds]}

    def publish(self, staged: Path, result: dict[str, Any], ref: str) -> None:
        o = self.opts
        atomic.write_json(staged / "training_args.json", {"advisor_id": o.advisor_id, "model": ref,
                                                          "from_reviews": o.reviews, "method": o.method,
                                                          "steps": o.steps, "lr": o.lr, "rank": o.rank,
                                                          "beta": o.beta, "held_out": o.held_out})
        held = result["agreement"]["after"]["held_out"]
        metrics = {"method": o.method, "agreement_held_out": held["pairwise"]["value"],
                   "agreement_train": result["agreement"]["after"]["train"]["pairwise"]["value"],
                   "agreement_before_held_out": result["agreement"]["before"]["held_out"]["pairwise"]["value"],
                   "mean_step_time_s": result["training"]["step_time_s"],
                   "peak_memory_gb": result["training"]["peak_memory_gb"], "steps": result["training"]["steps"]}
        manifest = AdapterManifest(advisor_id=o.advisor_id, version="", base_model=ref,
                                   dataset_hash="reviews:" + ",".join(o.reviews),
                                   hyperparameters={"method": o.method, "steps": o.steps, "lr": o.lr, "rank": o.rank,
                                                    "lora_scale": LORA_SCALE, "from_reviews": o.reviews},
                                   metrics=metrics)
        version = adapter_versions.publish(o.advisor_id, staged, manifest, activate=bool(result["activate"]))
        result["version"] = version.version
        atomic.write_json(version.path / "eval.json", result)
        atomic.write_text(version.path / "eval.md", render_markdown(result))
        self.out.emit("done", path=str(version.path / "eval.json"),
                      base=_brief(result["agreement"]["before"]), fine_tuned=_brief(result["agreement"]["after"]),
                      comparison=result["comparison"] | {"activate": result["activate"], "reason": result["reason"]})
        self.out.emit("published", advisor_id=o.advisor_id, version=version.version, path=str(version.path),
                      active=bool(result["activate"]), metrics=metrics)


def _brief(side: dict[str, Any]) -> dict[str, Any]:
    return {name: {m: side[name][m]["value"] for m in agree.METRICS} for name in side}


def summary_line(result: dict[str, Any]) -> str:
    """One sentence for the Training tab: held-out agreement before -> after, and the decision."""
    def pairwise(when: str, name: str) -> str:
        value = result["agreement"][when][name]["pairwise"]["value"]
        return "n/a" if value is None else f"{value:.2f}"

    frames = result.get("frames", {})
    return (f"Agreement with your culls ({result.get('method', '').upper()}): held-out "
            f"{pairwise('before', 'held_out')} → {pairwise('after', 'held_out')} on {frames.get('held_out', 0)} "
            f"frames, training {pairwise('before', 'train')} → {pairwise('after', 'train')}; {result.get('reason', '')}")


def _cell(metric: dict[str, Any]) -> str:
    value, ci = metric.get("value"), metric.get("ci")
    if value is None:
        return "-"
    return f"{value:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{value:.3f}"


def render_markdown(result: dict[str, Any]) -> str:
    """eval.md: the agreement table before/after, training and held-out frames, and the decision."""
    lines = [f"# Learning from culls: {result['advisor_id']} {result.get('version', '')}", "",
             f"Method {result['method'].upper()}, model `{result['model']}`, reviews {', '.join(result['reviews'])}; "
             f"{result['frames']['train']} training frames, {result['frames']['held_out']} held out (whole bursts "
             "or shoots). Values with 95 % bootstrap intervals over bursts.", "",
             "| frames | when | pairs | pairwise | within bursts | across stars | Spearman | pick precision |",
             "|---|---|---|---|---|---|---|---|"]
    for name in ("train", "held_out"):
        for when in ("before", "after"):
            a = result["agreement"][when][name]
            lines.append(f"| {name.replace('_', '-')} | {when} | {a['pairs']} | " + " | ".join(
                _cell(a[m]) for m in agree.METRICS) + " |")
    c = result["comparison"]
    diff = c.get("pairwise_difference")
    lines += ["", "Held-out pairwise agreement, after minus before: "
              + (f"{diff:+.3f}" if diff is not None else "-")
              + (f" [{c['ci'][0]:+.3f}, {c['ci'][1]:+.3f}]" if c.get("ci") else "") + f" on {c.get('pairs', 0)} pairs.",
              "", f"**{result['reason']}**", "",
              f"Training: {result['training']['steps']} steps, {result['training']['step_time_s']:.2f} s a step, "
              f"peak memory {result['training']['peak_memory_gb']:.2f} GB.", ""]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training learn",
                                description="Teach an advisor from your culls of reviewed shoots (JSON lines).")
    p.add_argument("--advisor", required=True)
    p.add_argument("--from-review", dest="reviews", nargs="+", required=True, metavar="REVIEW_ID")
    p.add_argument("--model", default="", help="base model: repo id or folder (default: settings.model)")
    p.add_argument("--method", choices=METHODS, default="orpo", help="orpo (pairs, default) or sft (targets)")
    p.add_argument("--steps", type=int, default=60, help="optimizer steps (default 60)")
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (default 1e-4)")
    p.add_argument("--rank", type=int, default=8, help="LoRA rank (default 8)")
    p.add_argument("--beta", type=float, default=0.1, help="ORPO's odds-ratio weight (default 0.1)")
    p.add_argument("--held-out", type=float, default=0.25, help="share of bursts/shoots held out (default 0.25)")
    p.add_argument("--min-pairs", type=int, default=agree.MIN_PAIRS,
                   help=f"held-out pairs needed to activate automatically (default {agree.MIN_PAIRS})")
    p.add_argument("--activate", choices=ACTIVATE, default="auto",
                   help="auto: only when agreement is better by more than its interval; always; never")
    p.add_argument("--image-edge", type=int, default=0, help="photo edge for training (default: the triage edge)")
    p.add_argument("--no-facts", dest="facts", action="store_false",
                   help="leave the measured facts out of the prompt (the review's triage pass has them)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup(args.verbose)
    out = sys.stdout
    say = JsonLines(out)
    with reported(say):
        try:
            validate_advisor_id(args.advisor)
        except AdvisorError as exc:
            raise CommandError(str(exc)) from None
        if args.steps < 1 or args.rank < 1 or not 0 <= args.held_out < 1 or args.lr <= 0:
            raise CommandError("--steps and --rank must be at least 1, --lr above 0, --held-out in [0, 1)")
        opts = LearnOptions(advisor_id=args.advisor, reviews=list(args.reviews), model=args.model,
                            method=args.method, steps=args.steps, lr=args.lr, rank=args.rank, beta=args.beta,
                            held_out=args.held_out, min_pairs=args.min_pairs, activate=args.activate,
                            seed=args.seed, image_edge=args.image_edge, facts=args.facts)
        signals = Signals()
        with signals.installed(), contextlib.redirect_stdout(sys.stderr):
            learning = Learning(opts, out, should_stop=lambda: signals.received is not None)
            try:
                learning.run()
            except StopRequested:
                return signals.exit_code
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(run_main(main))
