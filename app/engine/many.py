"""Many critiques at once: a batch of photos with one advisor, or one photo before an advisor panel.

A mixin of :class:`app.engine.service.MondrianService` (the facade keeps one name for every front
end). Both record ordinary jobs (one per photo and advisor) and decode their one-pass critiques
together on the batched path (app/engine/modes/batched.py); RAG critiques, and everything under a
sampling temperature, run one at a time through the same recording.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.engine.advisors import Advisor, get_advisor
from app.engine.critique.result import CritiqueResult
from app.engine.model.cancel import CancelScope
from app.engine.model.host import ModelHost, TokenCallback
from app.engine.modes.batched import run_one_pass_batch
from app.engine.modes.pipelines import CritiqueRequest, PipelineOutcome
from app.engine.modes.presets import Pipeline
from app.engine.modes.resolve import Plan
from app.engine.modes.weights import WeightsPolicy
from app.engine.photos.errors import ImageLoadError
from app.engine.photos.prepare import PreparedPhoto, prepare_photo
from app.engine.settings import Settings
from app.engine.technical import TechnicalAnalysis
from app.engine.vocabulary import Mode, ModelUsed, parse_mode

if TYPE_CHECKING:
    from app.engine.jobs import JobRecorder

DEFAULT_BATCH = 4  # photos decoded together by critique_many
# Per-photo failures of critique_many: that photo is reported and the others go on.
PHOTO_ERRORS: tuple[type[Exception], ...] = (ImageLoadError, FileNotFoundError, PermissionError)
ManyResultCallback = Callable[[int, Path, "CritiqueResult | None", "Exception | None"], None]
ManyTokenCallback = Callable[[int, str], None]  # (index of the photo or advisor, text chunk)


@dataclass(frozen=True)
class _Item:
    """One critique of a batch: where it sits in the caller's list, the photo, the advisor."""

    index: int
    name: str
    photo_file: Path
    prepared: PreparedPhoto
    advisor: Advisor


class ManyCritiques:
    """The facade's batch and panel critiques (the service provides the attributes below)."""

    settings: Settings
    host: ModelHost
    recorder: JobRecorder
    weights_policy: WeightsPolicy | None

    if TYPE_CHECKING:  # the service's own
        def _plan(self, requested: Mode, advisor: Advisor, policy: WeightsPolicy | None) -> Plan | None: ...
        def _run(self, plan: Plan, prepared: PreparedPhoto, name: str, advisor: Advisor,
                 on_token: TokenCallback | None, scope: CancelScope | None,
                 request_id: str | None) -> CritiqueResult: ...
        @staticmethod
        def _result(plan: Plan, prepared: PreparedPhoto, name: str, advisor: Advisor,
                    outcome: PipelineOutcome) -> CritiqueResult: ...
        def _technical_result(self, name: str, advisor: Advisor, requested: Mode,
                              analysis: TechnicalAnalysis) -> CritiqueResult: ...
        def _record(self, job_id: str | None, result: CritiqueResult, prepared: PreparedPhoto,
                    pair_id: str | None = None) -> None: ...

    def critique_many(self, photos: Sequence[str | Path], advisor_id: str, mode: str = "auto", *,
                      on_result: ManyResultCallback | None = None, on_token: ManyTokenCallback | None = None,
                      scope: CancelScope | None = None, batch_size: int = DEFAULT_BATCH,
                      prepare: Callable[[Path], PreparedPhoto] | None = None) -> list[CritiqueResult | Exception]:
        """Critique ``photos`` with one advisor, ``batch_size`` photos decoded together (``prepare``:
        :func:`prepare_photo` unless the caller prepared them ahead, as a review does). Each outcome
        (a result, or the photo's error: unreadable, missing) goes to ``on_result(index, path, result,
        error)`` as soon as its batch is done; tokens to ``on_token(index, chunk)``. Raises
        CancelledError when ``scope`` is cancelled and the input errors (AdvisorError,
        UnknownModeError, AdapterError) before anything runs."""
        advisor = get_advisor(advisor_id)
        scope = scope or CancelScope()
        out: list[CritiqueResult | Exception] = []
        paths = [Path(p) for p in photos]
        size = max(1, int(batch_size))
        for first in range(0, len(paths), size):
            scope.check()
            items: list[_Item] = []
            for index in range(first, min(first + size, len(paths))):
                try:
                    prepared = (prepare or self._prepare)(paths[index])
                except PHOTO_ERRORS as exc:
                    out.append(exc)
                    if on_result is not None:
                        on_result(index, paths[index], None, exc)
                    continue
                items.append(_Item(index, str(paths[index]), paths[index], prepared, advisor))
            for item, result in self._critique_items(items, mode, on_token, scope):
                out.append(result)
                if on_result is not None:
                    on_result(item.index, paths[item.index], result, None)
        return out

    def _prepare(self, path: Path) -> PreparedPhoto:
        return prepare_photo(path, self.settings)

    def critique_panel(self, photo: str | Path, advisor_ids: Sequence[str], mode: str = "auto", *,
                       on_result: ManyResultCallback | None = None, on_token: ManyTokenCallback | None = None,
                       scope: CancelScope | None = None) -> list[CritiqueResult]:
        """One photo critiqued by several advisors in one batch on one encoding of the photo; one
        job per advisor. ``on_result``/``on_token`` get the advisor's index in ``advisor_ids``.
        Raises ImageLoadError / AdvisorError / UnknownModeError on bad input, before anything runs."""
        advisors = [get_advisor(a) for a in advisor_ids]
        if not advisors:
            raise ValueError("a panel needs at least one advisor")
        path = Path(photo)
        prepared = prepare_photo(path, self.settings)
        items = [_Item(i, str(path), path, prepared, a) for i, a in enumerate(advisors)]
        results: list[CritiqueResult] = []
        for item, result in self._critique_items(items, mode, on_token, scope or CancelScope()):
            results.append(result)
            if on_result is not None:
                on_result(item.index, path, result, None)
        return results

    def _critique_items(self, items: list[_Item], mode: str, on_token: ManyTokenCallback | None,
                        scope: CancelScope) -> list[tuple[_Item, CritiqueResult]]:
        """Plan and record each item, run the one-pass ones in batches by weights, the rest one at
        a time; results in the items' order. Jobs of a cancelled or failed batch are marked failed."""
        requested = parse_mode(mode)
        plans = [self._plan(requested, item.advisor, self.weights_policy) for item in items]  # may raise: no job yet
        planned: list[tuple[_Item, Plan | None, str | None]] = []
        for item, plan in zip(items, plans, strict=True):
            job_id = self.recorder.begin(item.name, item.advisor.id, requested.value, image=item.prepared.image,
                                         photo_file=item.photo_file, model_id=self.settings.model,
                                         model_used=(plan.model_used if plan else ModelUsed.NONE).value,
                                         adapter_version=plan.adapter_version if plan else None)
            planned.append((item, plan, job_id))
        done: dict[int, CritiqueResult] = {}

        def tokens(item: _Item) -> TokenCallback | None:
            return None if on_token is None else (lambda _rid, text: on_token(item.index, text))

        batchable = self.settings.temperature == 0
        groups: list[list[int]] = []  # positions of the one-pass critiques, by the weights they run on
        for pos, (_, plan, _) in enumerate(planned):
            if plan is not None and plan.pipeline is Pipeline.ONE_PASS and batchable:
                same = next((g for g in groups if getattr(planned[g[0]][1], "weights", None) == plan.weights), None)
                if same is None:
                    groups.append(same := [])
                same.append(pos)
        try:
            for members in groups:
                plan0 = planned[members[0]][1]
                assert plan0 is not None
                requests = [CritiqueRequest(prepared=planned[p][0].prepared, advisor=planned[p][0].advisor,
                                            on_token=tokens(planned[p][0]), scope=scope) for p in members]
                outcomes = run_one_pass_batch(plan0.weights, requests, self.host, self.settings, scope)
                for pos, outcome in zip(members, outcomes, strict=True):
                    item, plan, _ = planned[pos]
                    assert plan is not None
                    done[pos] = self._result(plan, item.prepared, item.name, item.advisor, outcome)
            for pos, (item, plan, _) in enumerate(planned):
                if pos in done:
                    continue
                scope.check()
                done[pos] = (self._technical_result(item.name, item.advisor, requested, item.prepared.analysis)
                             if plan is None else
                             self._run(plan, item.prepared, item.name, item.advisor, tokens(item), scope, None))
        except BaseException as exc:
            for pos, (_, _, job_id) in enumerate(planned):
                if pos not in done:
                    self.recorder.fail(job_id, exc)
            raise
        out = []
        for pos, (item, _, job_id) in enumerate(planned):
            result = done[pos]
            self._record(job_id, result, item.prepared)
            out.append((item, result))
        return out
