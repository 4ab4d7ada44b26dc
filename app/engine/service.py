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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from app.engine.adapters.manager import AdapterManager
from app.engine.advisors import Advisor, get_advisor, load_advisors
from app.engine.compare import BlindResult, Comparison, Comparisons, StageCallback
from app.engine.critique.result import CritiqueResult
from app.engine.jobs import DEFAULT_STORE, JobRecorder
from app.engine.model.caches import CacheBudget
from app.engine.model.cancel import CancelScope
from app.engine.model.generate import ReportPass
from app.engine.model.host import Handle, LoadedModel, ModelHost, TokenCallback
from app.engine.modes.presets import MODE_CHOICES
from app.engine.modes.resolve import ModeConditions, plan_critique
from app.engine.modes.weights import WeightsPolicy
from app.engine.photos.decode import load_photo
from app.engine.photos.prepare import PreparedPhoto, prepare_image, prepare_photo
from app.engine.rag.draft import draft_profile_of_file
from app.engine.rag.index import IndexSummary, ProgressCallback, ReferenceIndex
from app.engine.runs import DEFAULT_BATCH, CritiqueRunner, ManyResultCallback, ManyTokenCallback, RunItem
from app.engine.settings import Settings, load_settings
from app.engine.store.database import JobRow, ProfileRow, Store, open_default_store
from app.engine.vocabulary import Mode, parse_mode

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModeInfo:
    """How a request would run now: the effective mode and why it differs from the one asked for."""

    advisor_id: str
    requested: str
    effective: str
    reason: str | None
    model_available: bool


class MondrianService:
    """Owns the settings, the model host (with its adapter manager), the job recorder and the
    :class:`~app.engine.runs.CritiqueRunner` every critique goes through."""

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
        self.runner = CritiqueRunner(settings=self.settings, recorder=self.recorder, host=lambda: self.host,
                                     conditions=self._conditions, profiles=self._profiles,
                                     policy=lambda: self.weights_policy, strict=lambda: self.strict_modes)
        self.comparisons = Comparisons(self.runner, lambda: self.store)

    # ---- queries -------------------------------------------------------------------------------
    def advisors(self) -> dict[str, Advisor]:
        return load_advisors()

    @property
    def modes(self) -> list[str]:
        return list(MODE_CHOICES)

    def model_available(self) -> bool:
        return self.runner.model_available()

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
        return self._profiles_store().profiles.list_profiles(advisor_id)

    def _conditions(self) -> ModeConditions:
        return ModeConditions(self.adapters, lambda advisor_id: self._profiles_store().profiles.count_profiles(advisor_id))

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
                             weights or self.weights_policy, draw=False)  # a preview: no A/B draw taken
        return ModeInfo(advisor_id, requested.value, plan.effective.value, plan.fallback_reason, True)

    # ---- critique ------------------------------------------------------------------------------
    def load_image(self, photo: str | Path) -> Image.Image:
        return load_photo(photo, max_edge=self.settings.max_image_edge)

    def prepare(self, photo: str | Path) -> PreparedPhoto:
        """The photo file decoded once into what a critique needs (:func:`prepare_photo`)."""
        return prepare_photo(photo, self.settings)

    def critique(self, photo: str | Path, advisor_id: str, mode: str = "auto", *,
                 on_token: TokenCallback | None = None, scope: CancelScope | None = None,
                 request_id: str | None = None, weights: WeightsPolicy | None = None,
                 pair_id: str | None = None, prepared: PreparedPhoto | None = None) -> CritiqueResult:
        """Critique the photo file. Raises ImageLoadError / AdvisorError / UnknownModeError on bad input.
        ``pair_id`` links the critiques of one comparison (:meth:`new_pair_id`, :meth:`paired_jobs`).
        ``prepared``: the file already prepared by the caller (:meth:`prepare`; the window shows its
        preview meanwhile), so it is decoded once."""
        advisor = get_advisor(advisor_id)
        prepared = prepared or self.prepare(photo)
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
        item = RunItem(0, name, prepared, advisor, photo_file=photo_file, photo_hash=photo_hash, weights=weights,
                       pair_id=pair_id, on_token=on_token, request_id=request_id)
        return self.runner.run([item], mode, scope)[0]

    def critique_many(self, photos: Sequence[str | Path], advisor_id: str, mode: str = "auto", *,
                      on_result: ManyResultCallback | None = None, on_token: ManyTokenCallback | None = None,
                      scope: CancelScope | None = None, batch_size: int = DEFAULT_BATCH,
                      prepare: Callable[[Path], PreparedPhoto] | None = None) -> list[CritiqueResult | Exception]:
        """Photos with one advisor, decoded together in batches (:meth:`CritiqueRunner.critique_many`)."""
        return self.runner.critique_many(photos, advisor_id, mode, on_result=on_result, on_token=on_token,
                                         scope=scope, batch_size=batch_size, prepare=prepare)

    def critique_panel(self, photo: str | Path, advisor_ids: Sequence[str], mode: str = "auto", *,
                       on_result: ManyResultCallback | None = None, on_token: ManyTokenCallback | None = None,
                       scope: CancelScope | None = None) -> list[CritiqueResult]:
        """One photo before several advisors, one encoding (:meth:`CritiqueRunner.critique_panel`)."""
        return self.runner.critique_panel(photo, advisor_ids, mode, on_result=on_result, on_token=on_token,
                                          scope=scope)

    # ---- comparisons -----------------------------------------------------------------------------
    def compare(self, photo: str | Path | PreparedPhoto, advisor_id: str, mode: str = "auto", *,
                name: str | None = None, photo_hash: str | None = None, on_token: TokenCallback | None = None,
                scope: CancelScope | None = None, request_id: str | None = None,
                on_stage: StageCallback | None = None, prepared: PreparedPhoto | None = None) -> Comparison:
        """Base vs fine-tuned on one photo in ``mode``'s pipeline (:meth:`Comparisons.compare`)."""
        return self.comparisons.compare(photo, advisor_id, mode, name=name, photo_hash=photo_hash,
                                        on_token=on_token, scope=scope, request_id=request_id, on_stage=on_stage,
                                        prepared=prepared)

    def blind(self, photo: str | Path | PreparedPhoto, advisor_id: str, mode: str = "auto", *,
              split: float | None = None, seed: int | None = None, name: str | None = None,
              photo_hash: str | None = None, on_token: TokenCallback | None = None,
              scope: CancelScope | None = None, request_id: str | None = None,
              prepared: PreparedPhoto | None = None) -> BlindResult:
        """One blind A/B critique (:meth:`Comparisons.blind`); ``split`` defaults to the settings'."""
        return self.comparisons.blind(photo, advisor_id, mode,
                                      split=self.settings.ab_test_split if split is None else split, seed=seed,
                                      name=name, photo_hash=photo_hash, on_token=on_token, scope=scope,
                                      request_id=request_id, prepared=prepared)

    def new_pair_id(self) -> str:
        """An id that links the critiques of one comparison (base and fine-tuned of one photo)."""
        return self.comparisons.new_pair_id()

    def paired_jobs(self, job: JobRow) -> list[JobRow]:
        """The finished jobs of the comparison ``job`` belongs to (:meth:`Comparisons.paired_jobs`)."""
        return self.comparisons.paired_jobs(job)

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
