"""One critique as every front end sees it: :class:`CritiqueResult`, and its one JSON shape.

It sits low (it needs only the report; :class:`GenerationStats` lives here too, the model host
fills it in) so that the store, the job
recorder, the exports and the UI all import it downward. A stored job maps back to it with
:meth:`CritiqueResult.from_job`, and :func:`job_dict` gives a stored job the same JSON shape as a
fresh critique (``POST /analyze`` and ``GET /jobs/{id}`` answer alike), plus the job's own fields.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from app.engine.critique.budget import TokenBudget
from app.engine.critique.report import Report, parse_partial_report
from app.engine.vocabulary import ModelUsed

# What a stored job adds to a critique; ``id`` is the job id under the name /jobs always used.
JOB_FIELDS = ("id", "status", "error", "created_at", "started_at", "completed_at", "duration_s",
              "user_rating", "photo_hash", "thumbnail_path", "review_id")


@dataclass
class GenerationStats:
    """What the model spent on a critique (both passes of RAG added up)."""

    prompt_tokens: int = 0
    generation_tokens: int = 0
    time_to_first_token_s: float = 0.0
    total_s: float = 0.0
    prompt_tps: float = 0.0
    generation_tps: float = 0.0
    peak_memory_gb: float = 0.0
    cached_prompt_tokens: int = 0  # prompt tokens whose K/V came from the prefix cache
    # Forward passes of the decode (0: not counted, mlx-vlm's one-token-per-pass loop) and the
    # tokens the model chose; the rest were forced by the grammar and fed in those passes.
    forward_passes: int = 0
    sampled_tokens: int = 0
    batch_passes: int = 0  # in a batch: the passes the whole batch ran (rows move in lockstep)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class StoredJob(Protocol):
    """The columns of a job row the mapping reads (``app.engine.store.database.JobRow``)."""

    id: str
    photo_path: str
    advisor_id: str
    requested_mode: str
    effective_mode: str | None
    fallback_reason: str | None
    model_used: str | None
    base_model: str | None
    adapter_version: str | None
    raw_output: str | None
    prompt_tokens: int | None
    generation_tokens: int | None
    time_to_first_token_s: float | None
    total_s: float | None
    peak_memory_gb: float | None

    @property
    def report(self) -> Report | None: ...

    @property
    def details(self) -> dict[str, Any]: ...


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
    model_used: str = ModelUsed.BASE.value
    partial_report: Report | None = None  # the dimensions a generation cut at its token limit completed
    budget: TokenBudget | None = None  # how the generation's token limit was derived
    shooting: dict[str, Any] | None = None  # the camera settings from EXIF (ShootingData.to_dict), if any
    notes: list[str] = field(default_factory=list)  # about the pixels: "only the first of 12 frames ..."
    pair_id: str | None = None  # links the two critiques of a base vs fine-tuned comparison

    @property
    def ok(self) -> bool:
        return self.report is not None

    def to_dict(self) -> dict[str, Any]:
        """The critique JSON (the CLI's ``--json``, ``POST /analyze``, the JSON export)."""
        return {
            "photo": self.photo,
            "advisor_id": self.advisor_id,
            "requested_mode": self.requested_mode,
            "effective_mode": self.effective_mode,
            "fallback_reason": self.fallback_reason,
            "model_id": self.model_id,
            "model_used": str(self.model_used),
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
            "shooting": self.shooting,
            "notes": self.notes,
            "pair_id": self.pair_id,
        }

    def details(self) -> dict[str, Any]:
        """What a stored job keeps beside its report and raw output (``jobs.details_json``)."""
        return {"references": self.references, "technical": self.technical, "parse_problems": self.parse_problems,
                "notice": self.notice, "shooting": self.shooting, "notes": self.notes, "pair_id": self.pair_id}

    @classmethod
    def from_job(cls, job: StoredJob) -> CritiqueResult:
        """Rebuild a critique from its stored job (history, ``GET /jobs/{id}``)."""
        details = job.details
        stats = None
        if job.total_s is not None or job.generation_tokens is not None:
            stats = GenerationStats(prompt_tokens=job.prompt_tokens or 0,
                                    generation_tokens=job.generation_tokens or 0,
                                    time_to_first_token_s=job.time_to_first_token_s or 0.0,
                                    total_s=job.total_s or 0.0, peak_memory_gb=job.peak_memory_gb or 0.0)
            if stats.total_s > 0 and stats.generation_tokens:
                stats.generation_tps = stats.generation_tokens / max(1e-6, stats.total_s - stats.time_to_first_token_s)
        return cls(
            photo=job.photo_path, advisor_id=job.advisor_id, requested_mode=job.requested_mode,
            effective_mode=job.effective_mode or job.requested_mode, report=job.report,
            raw_text=job.raw_output or "", fallback_reason=job.fallback_reason,
            parse_problems=list(details.get("parse_problems") or []), stats=stats, model_id=job.base_model or "",
            adapter_version=job.adapter_version, references=list(details.get("references") or []),
            technical=details.get("technical"), notice=details.get("notice"), job_id=job.id,
            model_used=job.model_used or ModelUsed.BASE.value, shooting=details.get("shooting") or None,
            notes=[str(n) for n in details.get("notes") or []], pair_id=details.get("pair_id"),
            # a cut-off generation's completed dimensions are derived again from the kept raw output
            partial_report=parse_partial_report(job.raw_output) if job.report is None and job.raw_output else None,
        )


def job_dict(job: StoredJob, *, brief: bool = False) -> dict[str, Any]:
    """A stored job as JSON: the critique's shape plus :data:`JOB_FIELDS`. ``brief`` (job lists)
    leaves out the bulky ``raw_text``, ``technical`` and ``references``."""
    out = CritiqueResult.from_job(job).to_dict()
    out.update({name: getattr(job, name, None) for name in JOB_FIELDS})
    if brief:
        for name in ("raw_text", "technical", "references"):
            out.pop(name)
    return out
