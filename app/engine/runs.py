"""One way to run critiques: 1 to N items (a photo, an advisor panel, a batch, a review's frames).

:class:`CritiqueRunner` plans every item (mode -> pipeline + weights), records a job per item,
runs them and records the outcomes, on one path whatever the count: one-pass items on the same
weights decode together (the batched generation path) when there are two or more of them and
decoding is greedy; everything else (RAG, a sampling temperature, a lone item) runs one at a time.
The service facade holds one runner and hands it its collaborators (composition, not a mixin).

Each item carries its own weights policy (a blind A/B draw, a comparison's arm), so a batch
honours per-request weights, and its own pair id (the comparisons of ``compare.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.engine.advisors import Advisor, get_advisor
from app.engine.critique.result import CritiqueResult
from app.engine.jobs import JobRecorder
from app.engine.model import source as model_source
from app.engine.model.cancel import CancelScope
from app.engine.model.host import ModelHost, TokenCallback
from app.engine.modes.batched import run_one_pass_batch
from app.engine.modes.pipelines import CritiqueRequest, PipelineOutcome, ProfileSource, run_pipeline
from app.engine.modes.presets import Pipeline
from app.engine.modes.resolve import ModeConditions, Plan, plan_critique
from app.engine.modes.weights import Weights, WeightsPolicy
from app.engine.photos.errors import ImageLoadError
from app.engine.photos.prepare import PreparedPhoto, prepare_photo
from app.engine.settings import Settings
from app.engine.technical import TechnicalAnalysis, technical_report
from app.engine.vocabulary import Mode, ModelUsed, parse_mode

DEFAULT_BATCH = 4  # photos decoded together by critique_many
# Per-photo failures of critique_many: that photo is reported and the others go on.
PHOTO_ERRORS: tuple[type[Exception], ...] = (ImageLoadError, FileNotFoundError, PermissionError)
ManyResultCallback = Callable[[int, Path, "CritiqueResult | None", "Exception | None"], None]
ManyTokenCallback = Callable[[int, str], None]  # (index of the photo or advisor, text chunk)


@dataclass(frozen=True)
class RunItem:
    """One critique to run: where it sits in the caller's list, the prepared photo, the advisor,
    and what is its own (weights policy, comparison link, token stream, request id)."""

    index: int
    name: str
    prepared: PreparedPhoto
    advisor: Advisor
    photo_file: Path | None = None
    photo_hash: str | None = None
    weights: WeightsPolicy | None = None  # None: the service's policy (``serve --model-mode``)
    pair_id: str | None = None  # links the critiques of one comparison
    on_token: TokenCallback | None = None
    request_id: str | None = None


@dataclass
class _Planned:
    item: RunItem
    plan: Plan | None  # None: a measurement-only report
    job_id: str | None


class CritiqueRunner:
    """Plans, records and runs critiques for the service (see the module docstring).

    Collaborators are handed in as callables where the service may replace them (``switch_model``
    makes a new host and adapter manager; ``serve`` sets the weights policy)."""

    def __init__(self, *, settings: Settings, recorder: JobRecorder, host: Callable[[], ModelHost],
                 conditions: Callable[[], ModeConditions], profiles: ProfileSource,
                 policy: Callable[[], WeightsPolicy | None], strict: Callable[[], bool] = lambda: False):
        self.settings = settings
        self.recorder = recorder
        self._host = host
        self._conditions = conditions
        self._profiles = profiles
        self._policy = policy
        self._strict = strict  # a mode asked for by name that cannot run raises (only auto falls back)

    # ---- planning ------------------------------------------------------------------------------
    def model_available(self) -> bool:
        return model_source.is_model_available(self.settings.model)

    def plan(self, requested: Mode, advisor: Advisor, policy: WeightsPolicy | None = None) -> Plan | None:
        """How a critique would run (None: a measurement-only report, asked for or no model).
        Strict (the command line's rule): a mode named explicitly that needs a missing model raises
        :class:`~app.engine.model.source.ModelNotAvailableError` instead of falling back."""
        if requested is Mode.TECHNICAL:
            return None
        strict = self._strict()
        if not self.model_available():
            if strict and requested is not Mode.AUTO:
                raise model_source.ModelNotAvailableError(self.settings.model,
                                                          model_source.missing_model_message(self.settings.model))
            return None
        return plan_critique(requested, advisor, self._conditions(), policy or self._policy(), strict=strict)

    # ---- the one path --------------------------------------------------------------------------
    def run(self, items: Sequence[RunItem], mode: str | Mode, scope: CancelScope | None = None,
            on_done: Callable[[RunItem, CritiqueResult], None] | None = None) -> list[CritiqueResult]:
        """Critique ``items`` and record one job each; results in the items' order (also given to
        ``on_done`` as each is recorded). A plan that cannot run (an explicit ``lora`` with a broken
        adapter) is recorded as that item's failed job and raised before anything runs; the jobs
        of a cancelled or failed run are marked so."""
        requested = parse_mode(mode) if isinstance(mode, str) else mode
        scope = scope or CancelScope()
        plans: list[Plan | None] = []
        for item in items:
            try:
                plans.append(self.plan(requested, item.advisor, item.weights))
            except BaseException as exc:
                self.recorder.fail(self._begin(item, requested, None, planned=False), exc)
                raise
        planned = [_Planned(item, plan, self._begin(item, requested, plan))
                   for item, plan in zip(items, plans, strict=True)]
        done: dict[int, CritiqueResult] = {}
        try:
            for members in self._batches(planned):
                self._run_batch([planned[p] for p in members], scope, done, members)
            for pos, entry in enumerate(planned):
                if pos not in done:
                    scope.check()
                    done[pos] = self._run_one(entry, requested, scope)
        except BaseException as exc:
            for pos, entry in enumerate(planned):
                if pos not in done:
                    self.recorder.fail(entry.job_id, exc)
            raise
        out = []
        for pos, entry in enumerate(planned):
            result = done[pos]
            self._record(entry, result)
            if on_done is not None:
                on_done(entry.item, result)
            out.append(result)
        return out

    def _begin(self, item: RunItem, requested: Mode, plan: Plan | None, *, planned: bool = True) -> str | None:
        """Record the item's job as running (``planned`` False: its plan failed, nothing ran)."""
        used = None if not planned else plan.model_used if plan else ModelUsed.NONE
        return self.recorder.begin(item.name, item.advisor.id, requested.value, image=item.prepared.image,
                                   photo_file=item.photo_file, photo_hash=item.photo_hash,
                                   model_id=self.settings.model, model_used=used.value if used else None,
                                   adapter_version=plan.adapter_version if plan else None)

    def _batches(self, planned: list[_Planned]) -> list[list[int]]:
        """Positions of the one-pass items that decode together, grouped by the weights they run on
        (two or more per group; greedy decoding only, so the reports are those of one at a time)."""
        if self.settings.temperature != 0:
            return []
        groups: list[tuple[Weights, list[int]]] = []
        for pos, entry in enumerate(planned):
            plan = entry.plan
            if plan is None or plan.pipeline is not Pipeline.ONE_PASS:
                continue
            same = next((g for w, g in groups if w == plan.weights), None)
            if same is None:
                groups.append((plan.weights, same := []))
            same.append(pos)
        return [g for _, g in groups if len(g) > 1]

    def _run_batch(self, entries: list[_Planned], scope: CancelScope, done: dict[int, CritiqueResult],
                   positions: list[int]) -> None:
        first = entries[0].plan
        assert first is not None
        requests = [CritiqueRequest(prepared=e.item.prepared, advisor=e.item.advisor, on_token=e.item.on_token,
                                    scope=scope, request_id=e.item.request_id) for e in entries]
        outcomes = run_one_pass_batch(first.weights, requests, self._host(), self.settings, scope)
        for pos, entry, outcome in zip(positions, entries, outcomes, strict=True):
            assert entry.plan is not None
            done[pos] = self._result(entry.plan, entry.item, outcome)

    def _run_one(self, entry: _Planned, requested: Mode, scope: CancelScope) -> CritiqueResult:
        item, plan = entry.item, entry.plan
        if plan is None:
            return self._technical_result(item, requested, item.prepared.analysis)
        req = CritiqueRequest(prepared=item.prepared, advisor=item.advisor, on_token=item.on_token, scope=scope,
                              request_id=item.request_id)
        outcome = run_pipeline(plan.pipeline, plan.weights, req, self._host(), self.settings, self._profiles)
        return self._result(plan, item, outcome)

    def _record(self, entry: _Planned, result: CritiqueResult) -> None:
        """Complete the job with what the photo itself says (shooting data, notes) and its link."""
        prepared = entry.item.prepared
        result.job_id = entry.job_id
        result.shooting = prepared.shooting.to_dict() if prepared.shooting and not prepared.shooting.empty else None
        result.notes = list(prepared.notes)
        result.pair_id = entry.item.pair_id
        self.recorder.complete(entry.job_id, result)

    @staticmethod
    def _result(plan: Plan, item: RunItem, outcome: PipelineOutcome) -> CritiqueResult:
        return CritiqueResult(
            photo=item.name, advisor_id=item.advisor.id, requested_mode=plan.requested.value,
            effective_mode=plan.effective.value, fallback_reason=plan.fallback_reason, report=outcome.report,
            raw_text=outcome.raw_text, parse_problems=outcome.parse_problems, stats=outcome.stats,
            model_id=outcome.model_id, adapter_version=plan.adapter_version, references=outcome.references,
            partial_report=outcome.partial_report, budget=outcome.budget,
            technical=item.prepared.analysis.to_dict(), model_used=plan.model_used.value,
        )

    def _technical_result(self, item: RunItem, requested: Mode, analysis: TechnicalAnalysis) -> CritiqueResult:
        notice = None
        if requested is not Mode.TECHNICAL:
            notice = ("No vision-language model is installed, so this is a measurement-only report. "
                      + model_source.missing_model_message(self.settings.model))
        return CritiqueResult(
            photo=item.name, advisor_id=item.advisor.id, requested_mode=requested.value,
            effective_mode=Mode.TECHNICAL.value, report=technical_report(analysis), technical=analysis.to_dict(),
            notice=notice, model_id="", model_used=ModelUsed.NONE.value,
        )

    # ---- the shapes front ends ask for ---------------------------------------------------------
    def critique_many(self, photos: Sequence[str | Path], advisor_id: str, mode: str = "auto", *,
                      on_result: ManyResultCallback | None = None, on_token: ManyTokenCallback | None = None,
                      scope: CancelScope | None = None, batch_size: int = DEFAULT_BATCH,
                      prepare: Callable[[Path], PreparedPhoto] | None = None) -> list[CritiqueResult | Exception]:
        """``photos`` with one advisor, ``batch_size`` prepared and decoded together (``prepare``:
        :func:`prepare_photo` unless the caller prepared them ahead, as a review does). Each outcome
        (a result, or the photo's error: unreadable, missing) goes to ``on_result(index, path,
        result, error)`` as soon as its batch is done; tokens to ``on_token(index, chunk)``. Raises
        CancelledError when ``scope`` is cancelled and the input errors (AdvisorError,
        UnknownModeError, AdapterError) before anything runs."""
        advisor = get_advisor(advisor_id)
        requested = parse_mode(mode)
        scope = scope or CancelScope()
        out: list[CritiqueResult | Exception] = []
        paths = [Path(p) for p in photos]
        size = max(1, int(batch_size))
        for first in range(0, len(paths), size):
            scope.check()
            items: list[RunItem] = []
            for index in range(first, min(first + size, len(paths))):
                try:
                    prepared = prepare(paths[index]) if prepare else prepare_photo(paths[index], self.settings)
                except PHOTO_ERRORS as exc:
                    out.append(exc)
                    if on_result is not None:
                        on_result(index, paths[index], None, exc)
                    continue
                items.append(RunItem(index, str(paths[index]), prepared, advisor, photo_file=paths[index],
                                     on_token=_indexed(on_token, index)))

            def delivered(item: RunItem, result: CritiqueResult) -> None:
                out.append(result)
                if on_result is not None:
                    on_result(item.index, paths[item.index], result, None)

            self.run(items, requested, scope, on_done=delivered)
        return out

    def critique_panel(self, photo: str | Path, advisor_ids: Sequence[str], mode: str = "auto", *,
                       on_result: ManyResultCallback | None = None, on_token: ManyTokenCallback | None = None,
                       scope: CancelScope | None = None) -> list[CritiqueResult]:
        """One photo critiqued by several advisors in one batch on one encoding of the photo; one
        job per advisor. ``on_result``/``on_token`` get the advisor's index in ``advisor_ids``.
        Raises ImageLoadError / AdvisorError / UnknownModeError on bad input, before anything runs."""
        advisors = [get_advisor(a) for a in advisor_ids]
        if not advisors:
            raise ValueError("a panel needs at least one advisor")
        requested = parse_mode(mode)
        path = Path(photo)
        prepared = prepare_photo(path, self.settings)
        items = [RunItem(i, str(path), prepared, a, photo_file=path, on_token=_indexed(on_token, i))
                 for i, a in enumerate(advisors)]

        def delivered(item: RunItem, result: CritiqueResult) -> None:
            if on_result is not None:
                on_result(item.index, path, result, None)

        return self.run(items, requested, scope, on_done=delivered)


def _indexed(on_token: ManyTokenCallback | None, index: int) -> TokenCallback | None:
    return None if on_token is None else (lambda _rid, text: on_token(index, text))
