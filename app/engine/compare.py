"""Comparisons as engine operations: base vs fine-tuned on one photo, and the blind A/B draw.

Both honour the mode asked for: its pipeline is resolved once (under a weights policy, like
``serve --model-mode``), then only the weights differ between the arms, so a comparison never
sets RAG on one side against one pass on the other. The arms are typed (:class:`ModelUsed`), never
read back from strings. A base-vs-fine-tuned pair is linked in the store by one ``pair_id``
(:meth:`Comparisons.paired_jobs` reads it back); the blind arm stays hidden until the user rates.

Errors are :class:`ComparisonError` in the engine's words; the window names its buttons, the CLI
its flags.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.engine.adapters import versions as adapter_versions
from app.engine.adapters.versions import AdapterStoreError, AdapterVersion
from app.engine.advisors import get_advisor
from app.engine.critique.report import DIMENSIONS
from app.engine.critique.result import CritiqueResult
from app.engine.model.cancel import CancelScope
from app.engine.model.host import TokenCallback
from app.engine.modes.weights import BASE_WEIGHTS, ABDrawPolicy, Draw, WeightsPolicy, adapter_weights
from app.engine.photos.prepare import PreparedPhoto, prepare_photo
from app.engine.runs import CritiqueRunner, RunItem
from app.engine.store.database import JobRow, Store
from app.engine.vocabulary import Mode, ModelMode, ModelUsed, parse_mode

StageCallback = Callable[[str, float], None]  # (what runs now, fraction done)
BLIND_ARMS = (ModelUsed.AB_TEST_BASE, ModelUsed.AB_TEST_FINE_TUNED)


class ComparisonError(ValueError):
    """A comparison cannot run as asked; ``kind`` says why (``no_adapter``, ``technical``)."""

    def __init__(self, message: str, kind: str):
        self.kind = kind
        super().__init__(message)


@dataclass
class Comparison:
    """Base and fine-tuned reports of one photo, made one after the other on the one resident model."""

    base: CritiqueResult
    tuned: CritiqueResult
    pair_id: str | None = None

    def deltas(self) -> dict[str, float | None]:
        """Fine-tuned minus base score per dimension (None when either is missing)."""
        out: dict[str, float | None] = {}
        for key in DIMENSIONS:
            a = self.base.report.dimensions.get(key) if self.base.report else None
            b = self.tuned.report.dimensions.get(key) if self.tuned.report else None
            out[key] = (b.score - a.score) if a and b and a.score is not None and b.score is not None else None
        return out


@dataclass
class BlindResult:
    """A blind A/B critique: which arm ran (typed) stays hidden in front ends until the user rates it."""

    result: CritiqueResult
    arm: ModelUsed  # AB_TEST_BASE or AB_TEST_FINE_TUNED
    adapter_version: str | None  # the version under test (recorded on the rating for both arms)

    @property
    def fine_tuned(self) -> bool:
        return self.arm is ModelUsed.AB_TEST_FINE_TUNED


class ArmPolicy(WeightsPolicy):
    """One arm of a base-vs-fine-tuned comparison: the pipeline is resolved as under any adapter
    policy (so both arms resolve the same one), then the weights are this arm's."""

    name = ModelMode.FINE_TUNED

    def __init__(self, version: AdapterVersion, fine_tuned: bool):
        self.weights = adapter_weights(version)
        self.version = version
        self.fine_tuned = fine_tuned

    def draw(self) -> Draw:
        if self.fine_tuned:
            return Draw(self.weights, ModelUsed.FINE_TUNED, self.version.version,
                        f"the comparison's fine-tuned side (adapter {self.version.version})")
        return Draw(BASE_WEIGHTS, ModelUsed.BASE, None, "the comparison's base side")


class Comparisons:
    """Base vs fine-tuned and blind A/B over the service's one :class:`CritiqueRunner`."""

    def __init__(self, runner: CritiqueRunner, store: Callable[[], Store | None]):
        self.runner = runner
        self._store = store

    @staticmethod
    def new_pair_id() -> str:
        """An id that links the critiques of one comparison (base and fine-tuned of one photo)."""
        return f"pair-{uuid.uuid4().hex[:16]}"

    def adapter_under_test(self, advisor_id: str) -> AdapterVersion:
        """The advisor's active adapter version; ComparisonError when there is none to compare."""
        get_advisor(advisor_id)
        try:
            version = adapter_versions.read_active(advisor_id)
        except AdapterStoreError as exc:
            raise ComparisonError(f"advisor {advisor_id!r} has no usable fine-tuned adapter: {exc}",
                                  "no_adapter") from exc
        if version is None:
            raise ComparisonError(f"advisor {advisor_id!r} has no fine-tuned adapter yet: train one or "
                                  "activate a version to compare against", "no_adapter")
        return version

    def available(self, advisor_id: str) -> bool:
        """Whether a comparison or a blind A/B can run for the advisor (it has an active adapter
        version); the one place that decides it for every front end."""
        try:
            self.adapter_under_test(advisor_id)
        except (ComparisonError, ValueError):
            return False
        return True

    def _check_mode(self, mode: str) -> Mode:
        requested = parse_mode(mode)
        if requested is Mode.TECHNICAL or not self.runner.model_available():
            why = "the technical mode runs no model" if requested is Mode.TECHNICAL else "no model is installed"
            raise ComparisonError(f"a comparison needs the vision model, but {why}", "technical")
        return requested

    def _photo(self, photo: str | Path | PreparedPhoto, name: str | None,
               prepared: PreparedPhoto | None = None) -> tuple[PreparedPhoto, str, Path | None]:
        """The photo prepared once for both arms (a file, or an upload already decoded); ``prepared``:
        the file already prepared by the caller (the window, which showed its preview)."""
        if isinstance(photo, PreparedPhoto):
            return photo, name or "photo", None
        path = Path(photo)
        return prepared or prepare_photo(path, self.runner.settings), name or str(path), path

    def compare(self, photo: str | Path | PreparedPhoto, advisor_id: str, mode: str = "auto", *,
                name: str | None = None, photo_hash: str | None = None, on_token: TokenCallback | None = None,
                scope: CancelScope | None = None, request_id: str | None = None,
                on_stage: StageCallback | None = None, prepared: PreparedPhoto | None = None) -> Comparison:
        """The photo critiqued on the base model, then on the advisor's active adapter, in the
        pipeline ``mode`` resolves to; two jobs linked by one pair id. The photo is decoded once."""
        requested = self._check_mode(mode)
        version = self.adapter_under_test(advisor_id)
        advisor = get_advisor(advisor_id)
        prepared, label, path = self._photo(photo, name, prepared)
        pair = self.new_pair_id()
        scope = scope or CancelScope()
        results = []
        for i, fine in enumerate((False, True)):
            if on_stage is not None:
                on_stage("Fine-tuned (2 of 2)…" if fine else "Base model (1 of 2)…", i / 2)
            if fine and on_token is not None:
                on_token(request_id or "", "\n\n")
            item = RunItem(0, label, prepared, advisor, photo_file=path, photo_hash=photo_hash,
                           weights=ArmPolicy(version, fine), pair_id=pair, on_token=on_token, request_id=request_id)
            results.append(self.runner.run([item], requested, scope)[0])
        return Comparison(base=results[0], tuned=results[1], pair_id=pair)

    def blind(self, photo: str | Path | PreparedPhoto, advisor_id: str, mode: str = "auto", *, split: float = 0.5,
              seed: int | None = None, name: str | None = None, photo_hash: str | None = None,
              on_token: TokenCallback | None = None, scope: CancelScope | None = None,
              request_id: str | None = None, prepared: PreparedPhoto | None = None) -> BlindResult:
        """One blind critique in ``mode``'s pipeline: the fine-tuned arm with probability ``split``
        (seedable), else the base; recorded as ab_test_base / ab_test_fine_tuned."""
        requested = self._check_mode(mode)
        version = self.adapter_under_test(advisor_id)
        advisor = get_advisor(advisor_id)
        prepared, label, path = self._photo(photo, name, prepared)
        item = RunItem(0, label, prepared, advisor, photo_file=path, photo_hash=photo_hash,
                       weights=ABDrawPolicy(version, split, seed), on_token=on_token, request_id=request_id)
        result = self.runner.run([item], requested, scope)[0]
        arm = ModelUsed(result.model_used)
        if arm not in BLIND_ARMS:
            raise RuntimeError(f"a blind critique ran as {arm.value}, not an A/B arm")
        return BlindResult(result=result, arm=arm, adapter_version=version.version)

    def paired_jobs(self, job: JobRow) -> list[JobRow]:
        """The finished jobs of the comparison ``job`` belongs to, oldest first (the base ran first);
        ``[job]`` alone when it was no comparison, or either half failed or is gone."""
        pair_id = job.details.get("pair_id")
        store = self._store()
        if not pair_id or store is None:
            return [job]
        jobs = store.jobs.jobs_in_pair(str(pair_id))
        return jobs if len(jobs) == 2 and job.id in {j.id for j in jobs} else [job]

    @staticmethod
    def from_jobs(jobs: list[JobRow]) -> Comparison | None:
        """A stored pair as a comparison (base and fine-tuned by their recorded arm), else None."""
        results = [CritiqueResult.from_job(job) for job in jobs]
        base = [r for r in results if r.model_used == ModelUsed.BASE.value]
        tuned = [r for r in results if r.model_used == ModelUsed.FINE_TUNED.value]
        if len(results) == 2 and len(base) == 1 and len(tuned) == 1:
            return Comparison(base=base[0], tuned=tuned[0], pair_id=jobs[0].details.get("pair_id"))
        return None
