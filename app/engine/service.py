"""The engine facade: one object the CLI, the HTTP API and the GUI all call.

``critique`` is blocking and thread-safe: the model work itself is queued to the model host's
thread; the GUI calls it from a worker thread and receives tokens through ``on_token``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from app.engine.adapters.manager import AdapterManager
from app.engine.advisors import Advisor, get_advisor, load_advisors
from app.engine.critique.budget import TokenBudget
from app.engine.critique.report import Report
from app.engine.jobs import DEFAULT_STORE, JobRecorder
from app.engine.model import source as model_source
from app.engine.model.cancel import CancelScope
from app.engine.model.host import GenerationStats, ModelHost, TokenCallback
from app.engine.model_strategy import ModelRoute, ModelStrategy, pin_request, use_route
from app.engine.photos.decode import load_photo
from app.engine.photos.prepare import PreparedPhoto, prepare_image, prepare_photo
from app.engine.settings import Settings, load_settings
from app.engine.strategies.base import AnalysisInput, AnalysisStrategy
from app.engine.strategies.baseline import BaselineStrategy
from app.engine.strategies.context import StrategyContext, UnknownModeError
from app.engine.strategies.lora import LoRAStrategy
from app.engine.strategies.rag import RAGStrategy
from app.engine.technical import technical_report

log = logging.getLogger(__name__)

TECHNICAL_MODE = "technical"


@dataclass
class CritiqueResult:
    """Everything about one critique, for display, storage and export."""

    photo: str
    advisor_id: str
    requested_mode: str
    effective_mode: str
    report: Report | None
    raw_text: str = ""
    fallback_reason: str | None = None
    parse_problems: list[str] = field(default_factory=list)
    stats: GenerationStats | None = None
    model_id: str = ""
    adapter_version: str | None = None
    references: list[dict[str, Any]] = field(default_factory=list)
    technical: dict[str, Any] | None = None
    notice: str | None = None  # something the user should be told (e.g. "no model installed")
    job_id: str | None = None
    model_used: str = "base"
    partial_report: Report | None = None  # the dimensions a generation cut at its token limit completed
    budget: TokenBudget | None = None  # how the generation limit was derived

    @property
    def ok(self) -> bool:
        return self.report is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "photo": self.photo,
            "advisor_id": self.advisor_id,
            "requested_mode": self.requested_mode,
            "effective_mode": self.effective_mode,
            "fallback_reason": self.fallback_reason,
            "model_id": self.model_id,
            "model_used": self.model_used,
            "adapter_version": self.adapter_version,
            "report": self.report.to_dict() if self.report else None,
            "overall_score": self.report.overall_score if self.report else None,
            "parse_problems": self.parse_problems,
            "raw_text": self.raw_text,
            "stats": self.stats.to_dict() if self.stats else None,
            "references": self.references,
            "technical": self.technical,
            "notice": self.notice,
            "job_id": self.job_id,
            "partial_report": self.partial_report.to_dict() if self.partial_report else None,
            "budget": self.budget.to_dict() if self.budget else None,
        }


class MondrianService:
    """Owns the settings, the model host and the strategies."""

    def __init__(self, settings: Settings | None = None, *, model_ref: str | None = None,
                 host: ModelHost | None = None, store: Any = DEFAULT_STORE,
                 model_strategy: ModelStrategy | None = None):
        """``store``: where jobs are recorded (default: the data folder's database, opened when
        first needed; None: not recorded). ``model_strategy``: the service's base / fine_tuned /
        ab_test routing (None: the analysis mode decides the adapter)."""
        self.settings = settings or load_settings()
        if model_ref:
            self.settings.model = model_ref
        self.host = host or ModelHost(self.settings.model)
        self.host.request_hook = pin_request  # a no-op unless a request runs under a model route
        self.adapters = AdapterManager(self.host)  # applies each request's adapter to the one resident model
        self._lock = threading.Lock()
        self.context = StrategyContext(self._build_strategies(), head="lora")
        self.recorder = JobRecorder(store)
        self.model_strategy = model_strategy

    def _build_strategies(self) -> list[AnalysisStrategy]:
        # RAG reads profiles from the job store when there is one (else it opens the default database)
        return [LoRAStrategy(self.host, self.settings, self.adapters),
                RAGStrategy(self.host, self.settings, lambda: self.store),
                BaselineStrategy(self.host, self.settings)]

    # ---- queries -------------------------------------------------------------------------------
    def advisors(self) -> dict[str, Advisor]:
        return load_advisors()

    @property
    def modes(self) -> list[str]:
        return [*self.context.modes, TECHNICAL_MODE]

    def model_available(self) -> bool:
        return model_source.is_model_available(self.settings.model)

    # ---- critique ------------------------------------------------------------------------------
    def load_image(self, photo: str | Path) -> Image.Image:
        return load_photo(photo, max_edge=self.settings.max_image_edge)

    def critique(self, photo: str | Path, advisor_id: str, mode: str = "auto", *,
                 on_token: TokenCallback | None = None, scope: CancelScope | None = None,
                 request_id: str | None = None) -> CritiqueResult:
        """Critique the photo file. Raises ImageLoadError / AdvisorError / UnknownModeError on bad input."""
        advisor = get_advisor(advisor_id)
        prepared = prepare_photo(photo, self.settings)
        return self.critique_image(prepared, str(photo), advisor, mode, on_token=on_token, scope=scope,
                                   request_id=request_id, photo_file=Path(photo))

    @property
    def store(self) -> Any:
        """The job store (None when recording is off)."""
        return self.recorder.store

    def critique_image(self, image: Image.Image | PreparedPhoto, name: str, advisor: Advisor, mode: str = "auto", *,
                       on_token: TokenCallback | None = None, scope: CancelScope | None = None,
                       request_id: str | None = None, photo_file: Path | None = None,
                       photo_hash: str | None = None) -> CritiqueResult:
        """Critique a loaded image and record it as a job (``photo_file``/``photo_hash`` identify it)."""
        prepared = image if isinstance(image, PreparedPhoto) else prepare_image(image, self.settings)
        image = prepared.image
        if mode != TECHNICAL_MODE and (mode or "auto").strip().lower() not in self.context.modes:
            raise UnknownModeError(f"unknown mode {mode!r}; choose one of: {', '.join(self.modes)}")
        route = self.model_strategy.route() if self.model_strategy else None
        job_id = self.recorder.begin(name, advisor.id, mode or "auto", image=image, photo_file=photo_file,
                                     photo_hash=photo_hash, model_id=self.settings.model, route=route)
        try:
            with use_route(route):
                result = self._critique(prepared, name, advisor, mode, on_token, scope, request_id, route)
        except BaseException as exc:
            self.recorder.fail(job_id, exc)
            raise
        result.job_id = job_id
        self.recorder.complete(job_id, result)
        return result

    def _critique(self, prepared: PreparedPhoto, name: str, advisor: Advisor, mode: str,
                  on_token: TokenCallback | None, scope: CancelScope | None, request_id: str | None,
                  route: ModelRoute | None) -> CritiqueResult:
        analysis = prepared.analysis
        if mode == TECHNICAL_MODE or not self.model_available():
            return self._technical_result(name, advisor, mode, analysis)
        if route is not None and self.model_strategy is not None:
            resolution = self.model_strategy.resolve(self.context, mode, advisor, route)
        else:
            resolution = self.context.resolve(mode, advisor)
        inp = AnalysisInput(image=prepared.image, advisor=advisor, facts=prepared.facts, on_token=on_token,
                            scope=scope or CancelScope(), request_id=request_id)
        outcome = resolution.strategy.analyze(inp)
        result = CritiqueResult(
            photo=name, advisor_id=advisor.id, requested_mode=resolution.requested,
            effective_mode=outcome.mode, fallback_reason=resolution.fallback_reason, report=outcome.report,
            raw_text=outcome.raw_text, parse_problems=outcome.parse_problems, stats=outcome.stats,
            model_id=outcome.model_id, adapter_version=outcome.adapter_version, references=outcome.references,
            technical=analysis.to_dict(), model_used="fine_tuned" if outcome.adapter_version else "base",
            partial_report=outcome.partial_report, budget=outcome.budget,
        )
        return ModelStrategy.label_result(result, route) if route is not None else result

    def _technical_result(self, name: str, advisor: Advisor, mode: str, analysis: Any) -> CritiqueResult:
        notice = None
        if mode != TECHNICAL_MODE:
            notice = ("No vision-language model is installed, so this is a measurement-only report. "
                      + model_source.missing_model_message(self.settings.model))
        return CritiqueResult(
            photo=name, advisor_id=advisor.id, requested_mode=mode, effective_mode=TECHNICAL_MODE,
            report=technical_report(analysis), technical=analysis.to_dict(), notice=notice,
            model_id="", model_used="none",
        )

    def close(self) -> None:
        self.host.shutdown()
        self.recorder.close()
