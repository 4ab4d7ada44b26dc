"""``python -m training learn``: teach an advisor from the user's culls of one or more reviewed shoots.

    python -m training learn --advisor me --from-review REVIEW_ID [REVIEW_ID ...]
        [--method orpo|sft] [--steps 60] [--lr 1e-4] [--rank 8] [--held-out 0.25]
        [--min-pairs 20] [--activate auto|always|never] [--model M] [--prepare-only]
    python -m training learn --advisor me [--batch-size N] ...   # from the culls prepared before

The decided frames are written first as a folder that travels (:mod:`training.culls_dataset`: the
photos at the training edge, decisions, facts), and every run trains from that folder: on this
Mac, or on several under ``mondrian train distributed launch ... -- learn --advisor me`` (each
process finds the copied folder, checks its hash against rank 0's, scores its share of the frames,
and takes its share of every batch; rank 0 alone speaks and publishes). The decisions become
examples (:mod:`training.culls`), whole bursts (or whole shoots, when there
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
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from app.engine import atomic
from app.engine.adapters import versions as adapter_versions
from app.engine.adapters.versions import ADAPTER_CONFIG, ADAPTER_WEIGHTS, AdapterManifest
from app.engine.advisors import AdvisorError, validate_advisor_id
from app.engine.store.path_text import json_safe

from . import agreement as agree
from .causal import make_training_causal
from .common import EXIT_OK, EXIT_PEER_LOST, CommandError, JsonLines, reported, run_main, setup
from .culls import Decision, Examples, build_examples, kept, review_decisions, user_level
from .culls_dataset import CullsDataset, load_culls, write_culls
from .run_state import STOP_FILE, run_dir
from .stopping import Signals, StopRequested
from .trainer_support import chat_template_problem, progress_callback_class, stop_at_step
from .world import PeerLost, World, peer_errors

METHODS = ("orpo", "sft", "grpo")  # grpo: opt-in, 5-12x an SFT step (bench/learn_methods.py)
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
    prepare_only: bool = False  # write the culls folder (to copy to other Macs) and stop
    batch_size: int = 1  # the global batch: rows of one optimizer step over every process
    pairs: bool = False  # SFT: two-frame "which is stronger" rows too, where the model takes two photos
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

    def __init__(self, opts: LearnOptions, out: IO[str] | None, *, should_stop: Callable[[], bool] = lambda: False,
                 world: World | None = None):
        self.opts = opts
        self.world = world or World(group=None, rank=0, size=1)
        self.out = JsonLines(out if self.world.leader else None)  # one voice: rank 0's
        self._should_stop = should_stop
        self.timings: dict[str, float] = {}
        self.unmatched_active: str | None = None  # an active version this run could not start from
        self._active_adapter_name: str | None = None  # the active version this run starts from

    # ---- pieces ----------------------------------------------------------------------------------
    def decisions(self) -> list[Decision]:
        if self.opts.decisions is not None:
            return [d for d in self.opts.decisions if d.decided]
        from app.engine.store.database import open_default_store
        from app.engine.store.path_text import display_text

        store = open_default_store()
        named = []  # what the photographer sees: the folder reviewed (the id in brackets)
        try:
            found: list[Decision] = []
            for review in self.opts.reviews:
                row = store.reviews.find_review(review)
                if row is None:
                    raise CommandError(f"no review {review!r} (`mondrian review FOLDER --json` prints a review's id)")
                folder = row.folder if not row.folder.startswith("files:") else "a selection of files"
                named.append(f"{display_text(folder)} [{review}]")
                found += review_decisions(store, review)
        finally:
            store.close()
        decided = [d for d in found if d.decided]
        if not decided:
            raise CommandError("none of the frames of " + ", ".join(named) + " has a decision (stars, "
                               "pick or reject, set in Mondrian or in Lightroom): cull the shoot first")
        return decided

    def model_path(self) -> tuple[Path, str]:
        from app.engine.model.source import ModelNotAvailableError, resolve_model
        from app.engine.settings import load_settings

        ref = self.opts.model or load_settings().model
        try:
            return resolve_model(ref), ref
        except ModelNotAvailableError as exc:
            raise CommandError(str(exc)) from None

    def load_model(self) -> tuple[Any, Any, str]:
        """The base model with fresh LoRA layers, from the active adapter when it fits; under several
        processes every rank starts from rank 0's weights (its active adapter is on this Mac only)."""
        import mlx.core as mx
        import mlx_vlm
        from mlx_vlm.trainer import prepare_model_for_training

        loaded: tuple[Any, Any] | None = None
        problem = None
        try:
            path, ref = self.model_path()
            loaded = mlx_vlm.load(str(path))
        except CommandError as exc:
            problem = str(exc)
        except Exception as exc:  # noqa: BLE001 - a broken model folder on one Mac: every process hears why
            problem = f"the model {self.opts.model or 'in settings'} could not be loaded ({exc})"
        if loaded is not None:
            problem = chat_template_problem(loaded[1], ref)
        self.world.check_all(problem)  # a failure on one process ends all of them, not a hang in the next step
        assert loaded is not None
        model, processor = loaded
        make_training_causal(model)  # Gemma 3's training forward attends to the future in mlx-vlm 0.7.10
        mx.random.seed(self.opts.seed)
        start = self._active_adapter() if self.world.leader else None
        prepare_model_for_training(model, train_type="lora", lora_rank=self.opts.rank,
                                   lora_alpha=LORA_SCALE * self.opts.rank, lora_dropout=0.0, verbose=False)
        if start is not None:
            try:
                model.load_weights(str(start / ADAPTER_WEIGHTS), strict=False)
                self._active_adapter_name = start.name
                self.out.emit("note", message=f"starting from the active adapter {start.name}")
            except (ValueError, OSError) as exc:  # another layout of the same rank: start from the base
                self.unmatched_active = start.name
                self.out.emit("note", message=f"the active adapter {start.name} does not fit ({exc}): starting fresh")
        if self.world.distributed:
            model.update(self.world.broadcast_tree(model.trainable_parameters()))
        return model, processor, ref

    def model_config(self) -> tuple[Any, str]:
        """The model's configuration only (``--prepare-only`` needs its photo edge, not its weights)."""
        from types import SimpleNamespace

        from mlx_vlm.utils import load_config

        path, ref = self.model_path()

        def namespace(value: Any) -> Any:
            return SimpleNamespace(**{k: namespace(v) for k, v in value.items()}) if isinstance(value, dict) else value

        return namespace(load_config(path)), ref

    def should_stop(self) -> bool:
        """Asked before every batch on every process: a signal here, or (rank 0) the stop file the
        distributed launcher writes on Cancel; true everywhere when true anywhere."""
        asked = self._should_stop()
        if self.world.leader and not asked:
            asked = (run_dir(self.opts.advisor_id) / STOP_FILE).exists() if self.world.distributed else False
        return self.world.any(asked)

    def scores(self, scorer: Any, rows: Sequence[dict[str, Any]]) -> list[float]:
        """The advisor's expected score per row; several processes score a share each and sum."""
        if not self.world.distributed:
            return [float(x) for x in scorer.score_rows(rows)]
        mine = list(range(self.world.rank, len(rows), self.world.size))
        values = [0.0] * len(rows)
        for index, value in zip(mine, scorer.score_rows([rows[i] for i in mine]), strict=True):
            values[index] = float(value)
        return self.world.sum_floats(values)

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

    def train(self, model: Any, processor: Any, examples: Examples, adapter_file: Path,
              pairs: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        """mlx-vlm's trainer for the method: SFT on the targets (and ``pairs``), ORPO on the
        chosen/rejected rows, or GRPO with the cull reward (:mod:`training.learn_grpo`)."""
        if self.opts.method == "grpo":
            from .learn_grpo import train_grpo

            return train_grpo(model, processor, examples, adapter_file, steps=self.opts.steps, lr=self.opts.lr,
                              seed=self.opts.seed, out=self.out, should_stop=self.should_stop)
        import mlx.optimizers as optim
        from datasets import Dataset
        from mlx_vlm.trainer import Trainer, VLMTrainingArgs
        from mlx_vlm.trainer.vlm.orpo.config import ORPOTrainingArgs

        o = self.opts
        common: dict[str, Any] = {"batch_size": o.batch_size, "iters": o.steps, "steps_per_report": 1, "steps_per_eval": None,
                  "steps_per_save": o.steps + 1, "max_seq_length": 1 << 20, "train_on_completions": True,
                  "adapter_file": str(adapter_file)}
        if o.method == "orpo":
            args: Any = ORPOTrainingArgs(beta=o.beta, **common)
            rows = Dataset.from_list(examples.preference)
        else:
            args = VLMTrainingArgs(**common)
            rows = Dataset.from_list([*examples.sft, *pairs])
        callback = progress_callback_class()(self.out, o.steps, 1)
        callback.begin_epoch(1)
        trainer = Trainer(model, args, train_dataset=rows, processing_class=processor,
                          optimizer=optim.Adam(learning_rate=o.lr), training_callback=callback, seed=o.seed)
        stop_at_step(trainer, self.should_stop)
        started = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr), peer_errors():
            trainer.train()
            if self.world.leader:
                trainer.save_adapter(str(adapter_file))
        seconds = time.perf_counter() - started
        steps = max(len(callback.losses), 1)
        return {"steps": len(callback.losses), "seconds": seconds, "step_time_s": seconds / steps,
                "peak_memory_gb": callback.peak_gb, "first_loss": callback.losses[0] if callback.losses else None,
                "final_loss": callback.losses[-1] if callback.losses else None}

    # ---- the run ---------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """The evaluation (eval.json's content); publishes a version unless the run was stopped or
        it was only preparing. Other processes than rank 0 return an empty dict."""
        from app.engine.advisors import get_advisor

        from .cull_scoring import FrameScorer

        o = self.opts
        if o.method not in METHODS:
            raise CommandError(f"--method must be one of {', '.join(METHODS)}, not {o.method!r}")
        try:
            advisor = get_advisor(o.advisor_id)
        except AdvisorError as exc:
            raise CommandError(str(exc)) from None
        fresh = bool(o.reviews) or o.decisions is not None
        if self.world.distributed and (fresh or o.prepare_only):
            raise CommandError("on several Macs, learn from culls prepared before: run `mondrian train learn "
                               f"--advisor {o.advisor_id} --from-review REVIEW_ID --prepare-only` on this Mac, copy "
                               "the folder it names to the same place on the others, then launch without "
                               "--from-review")
        if o.prepare_only:
            config, _ = self.model_config()
            self.prepare(self.decisions(), training_edge(config, o.image_edge or self._triage_setting()))
            return {}
        decisions = self.decisions() if fresh else None
        model, processor, ref = self.load_model()
        edge = training_edge(model.config, o.image_edge or self._triage_setting())
        culls = self.prepare(decisions, edge) if decisions is not None else self.prepared(edge)
        train_d, held_d = split(culls.decisions, o.held_out, o.seed)
        self.out.emit("note", message=f"{len(culls.decisions)} decided frames: {len(train_d)} to train on, "
                                      f"{len(held_d)} held out (whole bursts or shoots)")

        def image(path: str) -> Any:
            return culls.image(path, edge)

        facts_of = culls.facts_of if o.facts else None
        train_x = build_examples(train_d, advisor, image, facts_of)
        held_x = build_examples(held_d, advisor, image, facts_of)
        if not train_x.sft:
            raise CommandError("no decided frames are left to train on after holding some out: "
                               "cull more frames or lower --held-out")
        pairs = self.pair_rows(model, processor, train_d, advisor, image, facts_of)
        if o.method == "grpo" and self._active_adapter_name is None:
            self.out.emit("note", message="GRPO from the base model: its sampled answers rarely hold a readable "
                                          "score, so there is little to learn from (SFT or ORPO first)")
        self.world.check_all(None if o.batch_size % self.world.size == 0 else
                             f"--batch-size {o.batch_size} does not divide by the {self.world.size} processes: "
                             "each takes an equal share of every batch")
        self.out.emit("start", advisor_id=o.advisor_id, model=ref, dataset="culls:" + culls.hash[:12],
                      train_rows=len(train_x.sft), val_rows=len(held_x.sft), epochs=1, steps_per_epoch=o.steps,
                      world_size=self.world.size,
                      hyperparameters={"method": o.method, "steps": o.steps, "lr": o.lr, "rank": o.rank,
                                       "beta": o.beta, "image_edge": edge, "facts": o.facts,
                                       "batch_size": o.batch_size, "pair_rows": len(pairs)})
        scorer = FrameScorer(model, processor)
        t = time.perf_counter()
        with peer_errors():
            before = {"train": self.scores(scorer, train_x.sft), "held_out": self.scores(scorer, held_x.sft)}
        self.timings["score_s"] = time.perf_counter() - t
        staged = adapter_versions.staging_dir(o.advisor_id) if self.world.leader else Path(
            tempfile.mkdtemp(prefix="mondrian-learn-"))
        try:
            try:
                run = self.train(model, processor, train_x, staged / ADAPTER_WEIGHTS, pairs)
            except StopRequested:
                self.out.emit("stopped", signal="stop-request", message="stopped; nothing was published")
                raise
            with peer_errors():
                after = {"train": self.scores(scorer, train_x.sft), "held_out": self.scores(scorer, held_x.sft)}
            if not self.world.leader:
                return {}
            result = self.evaluation(train_d, held_d, before, after, run, ref)
            result["reviews"] = culls.reviews
            result["culls"] = {"path": str(culls.path), "hash": culls.hash, "edge": culls.edge}
            result["world_size"] = self.world.size
            self.publish(staged, result, ref)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
        return result

    def pair_rows(self, model: Any, processor: Any, decisions: list[Decision], advisor: Any,
                  image: Callable[[str], Any], facts_of: Callable[[str], Sequence[str]] | None) -> list[dict[str, Any]]:
        """SFT's two-frame "which is stronger" rows (:mod:`training.pairs`), only where the loaded model
        takes two photos in one training row; the scored and held-out rows stay single frames."""
        o = self.opts
        if not (o.pairs and o.method == "sft"):
            return []
        from .pairs import pair_rows, several_images_problem

        problem = several_images_problem(model, processor)
        if problem is not None:
            self.out.emit("note", message=f"no two-frame rows: {problem}")
            return []
        return pair_rows(decisions, advisor, image, facts_of)

    def _triage_setting(self) -> int:
        from app.engine.settings import load_settings

        return int(load_settings().triage_image_edge)

    def prepare(self, decisions: list[Decision], edge: int) -> CullsDataset:
        """Write the decided frames as the culls folder (:mod:`training.culls_dataset`): the photos at
        ``edge`` and, unless ``--no-facts``, their measured facts, as the review's triage pass has them."""
        from app.engine.photos.decode import load_photo
        from app.engine.photos.prepare import prepare_photo
        from app.engine.settings import load_settings

        settings = load_settings()
        o = self.opts

        def facts_of(path: str) -> list[str]:
            return list(prepare_photo(Path(path), settings).facts)

        culls = write_culls(o.advisor_id, o.reviews, decisions, edge=edge,
                            image=lambda path: load_photo(Path(path), max_edge=edge),
                            facts_of=facts_of if o.facts else None,
                            skipped=lambda path, why: self.out.emit("skipped", file=path, reason=why))
        if not culls.decisions:
            raise CommandError("none of the decided frames could be read: " + ", ".join(o.reviews))
        self.out.emit("saved", advisor_id=o.advisor_id, path=str(culls.path), hash=culls.hash,
                      counts={"frames": len(culls.decisions), "edge": edge})
        return culls

    def prepared(self, edge: int) -> CullsDataset:
        """The culls prepared before (copied here from the first Mac), the same on every process."""
        culls: CullsDataset | None = None
        problem = None
        try:
            culls = load_culls(self.opts.advisor_id)
        except CommandError as exc:
            problem = str(exc)
        self.world.check_all(problem)
        assert culls is not None
        hashes = self.world.gather_text(culls.hash)
        self.world.check_all(None if hashes[self.world.rank] == hashes[0] else
                             f"its culls differ from the first Mac's (hash {hashes[self.world.rank][:12]} vs "
                             f"{hashes[0][:12]}): copy {culls.path} again")
        if culls.edge < edge:
            self.out.emit("note", message=f"the culls were prepared at a {culls.edge}-px edge, below this model's "
                                          f"{edge}: training at {culls.edge}")
        return culls


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
        reviews, culls = result["reviews"], result["culls"]
        atomic.write_json(staged / "training_args.json", {"advisor_id": o.advisor_id, "model": ref,
                                                          "from_reviews": reviews, "culls_hash": culls["hash"],
                                                          "method": o.method, "steps": o.steps, "lr": o.lr,
                                                          "rank": o.rank, "beta": o.beta, "held_out": o.held_out,
                                                          "batch_size": o.batch_size,
                                                          "world_size": result["world_size"]})
        held = result["agreement"]["after"]["held_out"]
        metrics = {"method": o.method, "agreement_held_out": held["pairwise"]["value"],
                   "agreement_train": result["agreement"]["after"]["train"]["pairwise"]["value"],
                   "agreement_before_held_out": result["agreement"]["before"]["held_out"]["pairwise"]["value"],
                   "mean_step_time_s": result["training"]["step_time_s"],
                   "peak_memory_gb": result["training"]["peak_memory_gb"], "steps": result["training"]["steps"]}
        manifest = AdapterManifest(advisor_id=o.advisor_id, version="", base_model=ref,
                                   dataset_hash="culls:" + culls["hash"],
                                   hyperparameters={"method": o.method, "steps": o.steps, "lr": o.lr, "rank": o.rank,
                                                    "lora_scale": LORA_SCALE, "from_reviews": reviews,
                                                    "batch_size": o.batch_size},
                                   metrics=metrics)
        version = adapter_versions.publish(o.advisor_id, staged, manifest, activate=bool(result["activate"]))
        result["version"] = version.version
        atomic.write_json(version.path / "eval.json", json_safe(result))  # names shown \xNN, exact in *_b64
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
    p.add_argument("--from-review", dest="reviews", nargs="+", default=[], metavar="REVIEW_ID",
                   help="the reviewed shoots to learn from (without it: the culls prepared before, as on the "
                        "other Macs of a several-Mac run)")
    p.add_argument("--prepare-only", action="store_true",
                   help="write the culls folder (photos at the training edge, decisions) and stop, to copy it "
                        "to the other Macs before `mondrian train distributed launch ... -- learn`")
    p.add_argument("--batch-size", type=int, default=1,
                   help="rows of one optimizer step over all processes (default 1; on several Macs a multiple "
                        "of their number)")
    p.add_argument("--model", default="", help="base model: repo id or folder (default: settings.model)")
    p.add_argument("--method", choices=METHODS, default="orpo",
                   help="orpo (chosen/rejected answers, default), sft (targets), or grpo (sampled answers rewarded "
                        "by your cull: 5-12x slower a step, needs an advisor that already answers in the format)")
    p.add_argument("--pairs", action="store_true",
                   help="sft: add two-frame 'which is stronger' rows for the pairs of a burst you ranked apart "
                        "(only where the model takes two photos in one row; opt-in: on the tiny test models they "
                        "helped on 8 bursts and hurt on 3)")
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
    world = World.current()
    out = sys.stdout if world.leader else None
    say = JsonLines(out)
    with reported(say):
        try:
            validate_advisor_id(args.advisor)
        except AdvisorError as exc:
            raise CommandError(str(exc)) from None
        if args.steps < 1 or args.rank < 1 or args.batch_size < 1 or not 0 <= args.held_out < 1 or args.lr <= 0:
            raise CommandError("--steps, --rank and --batch-size must be at least 1, --lr above 0, --held-out in "
                               "[0, 1)")
        if args.prepare_only and not args.reviews:
            raise CommandError("--prepare-only needs --from-review REVIEW_ID: the reviews whose culls to prepare")
        opts = LearnOptions(advisor_id=args.advisor, reviews=list(args.reviews), model=args.model,
                            method=args.method, steps=args.steps, lr=args.lr, rank=args.rank, beta=args.beta,
                            held_out=args.held_out, min_pairs=args.min_pairs, activate=args.activate,
                            seed=args.seed, image_edge=args.image_edge, facts=args.facts,
                            prepare_only=args.prepare_only, batch_size=args.batch_size, pairs=args.pairs)
        signals = Signals()
        with signals.installed(), contextlib.redirect_stdout(sys.stderr):
            learning = Learning(opts, out, should_stop=lambda: signals.received is not None, world=world)
            try:
                learning.run()
            except StopRequested:
                return signals.exit_code
            except PeerLost as exc:
                message = (f"a training process of this run was lost ({exc}): the run stopped and nothing was "
                           "published; fix or leave out that Mac and launch again")
                if world.leader:
                    say.emit_error(message, EXIT_PEER_LOST, reason="peer_lost")
                print(f"error: {message}", file=sys.stderr, flush=True)
                return EXIT_PEER_LOST
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(run_main(main))
