"""The engine facade: one object the CLI, the HTTP API and the GUI all call.

``critique`` is blocking and thread-safe: the model work itself is queued to the model host's
thread; the GUI calls it from a worker thread and receives tokens through the per-request
``on_token`` callback and cancels through its ``scope``. The GUI reaches the model only through
the facade: :meth:`MondrianService.ensure_loaded`, :meth:`~MondrianService.resolve_mode`,
:meth:`~MondrianService.switch_model` and :meth:`~MondrianService.run_on_model`.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from app.engine.adapters.manager import AdapterManager
from app.engine.advisors import Advisor, get_advisor, load_advisors
from app.engine.critique.result import CritiqueResult
from app.engine.jobs import DEFAULT_STORE, JobRecorder
from app.engine.many import ManyCritiques
from app.engine.model import source as model_source
from app.engine.model.caches import CacheBudget
from app.engine.model.cancel import CancelScope
from app.engine.model.generate import ReportPass
from app.engine.model.host import Handle, LoadedModel, ModelHost, TokenCallback
from app.engine.modes.pipelines import CritiqueRequest, PipelineOutcome, run_pipeline
from app.engine.modes.presets import MODE_CHOICES
from app.engine.modes.resolve import ModeConditions, Plan, plan_critique
from app.engine.modes.weights import WeightsPolicy
from app.engine.photos.decode import load_photo
from app.engine.photos.prepare import PreparedPhoto, prepare_image, prepare_photo
from app.engine.rag.draft import draft_profile_of_file
from app.engine.rag.index import IndexSummary, ProgressCallback, ReferenceIndex
from app.engine.settings import Settings, load_settings
from app.engine.store.database import JobRow, ProfileRow, Store, open_default_store
from app.engine.technical import TechnicalAnalysis, technical_report
from app.engine.vocabulary import Mode, ModelUsed, parse_mode

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModeInfo:
    """How a request would run now: the effective mode and why it differs from the one asked for."""

    advisor_id: str
    requested: str
    effective: str
    reason: str | None
    model_available: bool


class MondrianService(ManyCritiques):
    """Owns the settings, the model host (with its adapter manager) and the job recorder."""

    def __init__(self, settings: Settings | None = None, *, model_ref: str | None = None,
                 host: ModelHost | None = None, store: Store | None | Any = DEFAULT_STORE,
                 weights_policy: WeightsPolicy | None = None, strict_modes: bool = False):
        """``store``: where jobs are recorded (default: the data folder's database, opened when
        first needed; None: not recorded). ``weights_policy``: the service-wide weights
        (``serve --model-mode``); None lets each mode preset choose. ``strict_modes``: a mode
        asked for by name that cannot run (no model, no adapter, no references) raises instead of
        falling back; only ``auto`` falls back (the command line's rule)."""
        self.settings = settings or load_settings()
        if model_ref:
            self.settings.model = model_ref
        self.host = host or ModelHost(self.settings.model, cache_budget=CacheBudget.from_settings(self.settings))
        self.adapters = AdapterManager(self.host)  # applies each request's weights to the one resident model
        self.recorder = JobRecorder(store)
        self.weights_policy = weights_policy
        self.strict_modes = strict_modes
        self._own_profiles: Store | None = None
        self._lock = threading.Lock()
        self._before_close: list[Callable[[], None]] = []

    # ---- queries -------------------------------------------------------------------------------
    def advisors(self) -> dict[str, Advisor]:
        return load_advisors()

    @property
    def modes(self) -> list[str]:
        return list(MODE_CHOICES)

    def model_available(self) -> bool:
        return model_source.is_model_available(self.settings.model)

    @property
    def store(self) -> Store | None:
        """The job store (None when recording is off)."""
        return self.recorder.store

    def _profiles_store(self) -> Store:
        """Where RAG reads reference profiles: the job store, else the data folder's database."""
        store = self.recorder.store
        if store is not None:
            return store
        with self._lock:
            if self._own_profiles is None:
                self._own_profiles = open_default_store()
            return self._own_profiles

    def _profiles(self, advisor_id: str) -> list[ProfileRow]:
        return self._profiles_store().list_profiles(advisor_id)

    def _conditions(self) -> ModeConditions:
        return ModeConditions(self.adapters, lambda advisor_id: self._profiles_store().count_profiles(advisor_id))

    # ---- the model, for front ends -------------------------------------------------------------
    @property
    def model_loaded(self) -> bool:
        return self.host.loaded is not None

    @property
    def model_id(self) -> str:
        return self.host.model_id

    @property
    def model_ref(self) -> str | None:
        return self.host.model_ref

    def ensure_loaded(self) -> Handle | None:
        """Queue the model load when it is installed and not loaded yet (None: nothing to wait for)."""
        if self.model_loaded or not self.model_available():
            return None
        return self.host.load()

    def run_on_model(self, fn: Callable[[LoadedModel], Any]) -> Handle:
        """Run ``fn(loaded_model)`` on the model thread (MLX work must run there)."""
        return self.host.call(fn)

    def switch_model(self, model_ref: str) -> threading.Thread:
        """Point the service at another model without waiting: a fresh host and adapter manager
        (so no cache of the old model survives: loaded weights, applied adapters, layer shapes);
        the old host finishes its queue and stops on the returned thread."""
        old = self.host
        self.settings.model = model_ref
        self.host = ModelHost(model_ref, cache_budget=CacheBudget.from_settings(self.settings))
        self.adapters = AdapterManager(self.host)
        stopper = threading.Thread(target=old.shutdown, kwargs={"timeout": 60.0}, name="mondrian-model-stop",
                                   daemon=True)
        stopper.start()
        return stopper

    # ---- modes -----------------------------------------------------------------------------------
    def resolve_mode(self, advisor_id: str, mode: str, *, weights: WeightsPolicy | None = None) -> ModeInfo:
        """The effective mode and the reason, without running (checking an adapter may load the model)."""
        requested = parse_mode(mode)
        if requested is Mode.TECHNICAL or not self.model_available():
            reason = None if requested is Mode.TECHNICAL else "no model installed"
            return ModeInfo(advisor_id, requested.value, Mode.TECHNICAL.value, reason, self.model_available())
        plan = plan_critique(requested, get_advisor(advisor_id), self._conditions(),
                             weights or self.weights_policy, draw=False)
        return ModeInfo(advisor_id, requested.value, plan.effective.value, plan.fallback_reason, True)

    # ---- critique ------------------------------------------------------------------------------
    def load_image(self, photo: str | Path) -> Image.Image:
        return load_photo(photo, max_edge=self.settings.max_image_edge)

    def critique(self, photo: str | Path, advisor_id: str, mode: str = "auto", *,
                 on_token: TokenCallback | None = None, scope: CancelScope | None = None,
                 request_id: str | None = None, weights: WeightsPolicy | None = None,
                 pair_id: str | None = None) -> CritiqueResult:
        """Critique the photo file. Raises ImageLoadError / AdvisorError / UnknownModeError on bad input.
        ``pair_id`` links the critiques of one comparison (:meth:`new_pair_id`, :meth:`paired_jobs`)."""
        advisor = get_advisor(advisor_id)
        prepared = prepare_photo(photo, self.settings)
        return self.critique_image(prepared, str(photo), advisor, mode, on_token=on_token, scope=scope,
                                   request_id=request_id, photo_file=Path(photo), weights=weights, pair_id=pair_id)

    def critique_image(self, image: Image.Image | PreparedPhoto, name: str, advisor: Advisor, mode: str = "auto", *,
                       on_token: TokenCallback | None = None, scope: CancelScope | None = None,
                       request_id: str | None = None, photo_file: Path | None = None,
                       photo_hash: str | None = None, weights: WeightsPolicy | None = None,
                       pair_id: str | None = None) -> CritiqueResult:
        """Critique a loaded image and record it as a job (``photo_file``/``photo_hash`` identify it).
        ``weights`` overrides the service's weights policy for this request (the GUI's blind A/B)."""
        prepared = image if isinstance(image, PreparedPhoto) else prepare_image(image, self.settings, name=name)
        requested = parse_mode(mode)
        def begin(plan: Plan | None, used: ModelUsed | None) -> str | None:
            return self.recorder.begin(name, advisor.id, requested.value, image=prepared.image,
                                       photo_file=photo_file, photo_hash=photo_hash, model_id=self.settings.model,
                                       model_used=used.value if used else None,
                                       adapter_version=plan.adapter_version if plan else None)

        try:
            plan = self._plan(requested, advisor, weights or self.weights_policy)
        except BaseException as exc:  # an explicit lora with a broken adapter: a failed job, then the error
            self.recorder.fail(begin(None, None), exc)
            raise
        job_id = begin(plan, plan.model_used if plan else ModelUsed.NONE)
        try:
            if plan is None:
                result = self._technical_result(name, advisor, requested, prepared.analysis)
            else:
                result = self._run(plan, prepared, name, advisor, on_token, scope, request_id)
        except BaseException as exc:
            self.recorder.fail(job_id, exc)
            raise
        self._record(job_id, result, prepared, pair_id)
        return result

    def _record(self, job_id: str | None, result: CritiqueResult, prepared: PreparedPhoto,
                pair_id: str | None = None) -> None:
        """Complete the job with what the photo itself says (shooting data, notes) and its link."""
        result.job_id = job_id
        result.shooting = prepared.shooting.to_dict() if prepared.shooting and not prepared.shooting.empty else None
        result.notes = list(prepared.notes)
        result.pair_id = pair_id
        self.recorder.complete(job_id, result)

    @staticmethod
    def new_pair_id() -> str:
        """An id that links the critiques of one comparison (base and fine-tuned of one photo)."""
        return f"pair-{uuid.uuid4().hex[:16]}"

    def paired_jobs(self, job: JobRow) -> list[JobRow]:
        """The finished jobs of the comparison ``job`` belongs to, oldest first (the base ran first);
        ``[job]`` alone when it was no comparison, or either half failed or is gone."""
        pair_id = job.details.get("pair_id")
        store = self.store
        if not pair_id or store is None:
            return [job]
        jobs = store.jobs_in_pair(str(pair_id))
        return jobs if len(jobs) == 2 and job.id in {j.id for j in jobs} else [job]

    def _plan(self, requested: Mode, advisor: Advisor, policy: WeightsPolicy | None) -> Plan | None:
        """None: a measurement-only report (asked for, or no model installed)."""
        if requested is Mode.TECHNICAL:
            return None
        if not self.model_available():
            if self.strict_modes and requested is not Mode.AUTO:
                raise model_source.ModelNotAvailableError(self.settings.model,
                                                          model_source.missing_model_message(self.settings.model))
            return None
        return plan_critique(requested, advisor, self._conditions(), policy, strict=self.strict_modes)

    def _run(self, plan: Plan, prepared: PreparedPhoto, name: str, advisor: Advisor,
             on_token: TokenCallback | None, scope: CancelScope | None, request_id: str | None) -> CritiqueResult:
        req = CritiqueRequest(prepared=prepared, advisor=advisor, on_token=on_token, scope=scope or CancelScope(),
                              request_id=request_id)
        outcome = run_pipeline(plan.pipeline, plan.weights, req, self.host, self.settings, self._profiles)
        return self._result(plan, prepared, name, advisor, outcome)

    @staticmethod
    def _result(plan: Plan, prepared: PreparedPhoto, name: str, advisor: Advisor,
                outcome: PipelineOutcome) -> CritiqueResult:
        return CritiqueResult(
            photo=name, advisor_id=advisor.id, requested_mode=plan.requested.value,
            effective_mode=plan.effective.value, fallback_reason=plan.fallback_reason, report=outcome.report,
            raw_text=outcome.raw_text, parse_problems=outcome.parse_problems, stats=outcome.stats,
            model_id=outcome.model_id, adapter_version=plan.adapter_version, references=outcome.references,
            partial_report=outcome.partial_report, budget=outcome.budget,
            technical=prepared.analysis.to_dict(), model_used=plan.model_used.value,
        )

    def _technical_result(self, name: str, advisor: Advisor, requested: Mode,
                          analysis: TechnicalAnalysis) -> CritiqueResult:
        notice = None
        if requested is not Mode.TECHNICAL:
            notice = ("No vision-language model is installed, so this is a measurement-only report. "
                      + model_source.missing_model_message(self.settings.model))
        return CritiqueResult(
            photo=name, advisor_id=advisor.id, requested_mode=requested.value, effective_mode=Mode.TECHNICAL.value,
            report=technical_report(analysis), technical=analysis.to_dict(), notice=notice,
            model_id="", model_used=ModelUsed.NONE.value,
        )

    def draft_profile(self, photo: str | Path, *, scope: CancelScope | None = None,
                      request_id: str | None = None) -> ReportPass:
        """A profile draft of a photo file on the base model, prepared as its critique would be
        (RAG's pass 1; the Training tab's drafts). Raises ImageLoadError."""
        return draft_profile_of_file(self.host, self.settings, photo, scope=scope, request_id=request_id)

    def index_references(self, advisor_id: str, folder: str | Path, *, on_progress: ProgressCallback | None = None,
                         scope: CancelScope | None = None) -> IndexSummary:
        """Import a folder as the advisor's reference photos and profile the new ones on the base
        model (RAG's index; the GUI's Add Reference Photos). The originals are only read."""
        return ReferenceIndex(self.host, self.settings, self._profiles_store()).update(
            advisor_id, folder, on_progress=on_progress, scope=scope)

    def prepare_weights(self, timeout: float | None = None) -> None:
        """Load the model and check the weights policy can run (``serve`` does it before listening)."""
        if self.weights_policy is not None:
            self.weights_policy.prepare(self.host, self.adapters, timeout)
        else:
            self.host.load().result(timeout)

    def before_close(self, stop: Callable[[], None]) -> None:
        """Run ``stop`` first when the service closes: background work on it (a review started over
        HTTP) ends cleanly, its state saved, before the model and the database go."""
        self._before_close.append(stop)

    def close(self) -> None:
        for stop in self._before_close:
            try:
                stop()
            except Exception:  # closing must go on
                log.exception("stopping background work failed")
        self._before_close.clear()
        self.host.shutdown()
        self.recorder.close()
        with self._lock:
            if self._own_profiles is not None:
                self._own_profiles.close()
                self._own_profiles = None
