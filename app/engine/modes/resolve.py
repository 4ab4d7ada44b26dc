"""From a requested mode to a :class:`Plan` (pipeline + weights + what to record), in one walk.

The walk goes along the preset chain (``lora -> rag -> baseline``; ``auto`` starts at ``lora``)
until a preset is available, collecting the reason each skipped one could not run. Then the
weights are decided once: the preset's own (the base, or the advisor's active adapter), or, under
a weights policy, the policy's draw. ``model_used`` is decided here and nowhere else.

A ``lora`` asked for by name whose advisor adapter is broken is an error (the adapter manager's
``AdapterError``), not a silent fallback; with no adapter at all it falls back like ``auto``. A
broken ``active`` pointer (garbage, a path, a missing version) is such an error for ``lora`` and
the fallback reason, naming the file and the problem, for ``auto``.
Under a policy with its own adapter the advisor's adapter is never looked at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.engine.adapters import versions as adapter_versions
from app.engine.adapters.manager import AdapterError, AdapterManager
from app.engine.adapters.versions import ActivePointerError, AdapterStoreError, AdapterVersion
from app.engine.advisors import Advisor
from app.engine.modes.presets import AUTO_HEAD, PRESETS, Pipeline, Preset, WeightsSource, effective_mode
from app.engine.modes.weights import BASE_WEIGHTS, Weights, WeightsPolicy
from app.engine.vocabulary import Mode, ModelUsed


class ModeUnavailableError(RuntimeError):
    """A mode asked for by name cannot run as asked (strict planning: the command line's rule)."""

    def __init__(self, requested: Mode, reasons: tuple[str, ...]):
        self.requested, self.reasons = requested, reasons
        super().__init__(f"mode {requested.value} cannot run: {'; '.join(reasons)} (ask for --mode auto to let "
                         "it fall back)")


@dataclass(frozen=True)
class Plan:
    """How one critique runs and how it is recorded."""

    requested: Mode
    pipeline: Pipeline
    weights: Weights
    model_used: ModelUsed
    adapter_version: str | None
    reasons: tuple[str, ...] = ()

    @property
    def effective(self) -> Mode:
        return effective_mode(self.pipeline, self.weights.fine_tuned)

    @property
    def fallback_reason(self) -> str | None:
        """Why the effective mode is not the one asked for (None when it is, or for auto's head)."""
        if not self.reasons:
            return None
        text = "; ".join(self.reasons)
        return f"auto: {text}" if self.requested is Mode.AUTO else text


class ModeConditions:
    """What decides whether a preset can run for an advisor: its active adapter, its references."""

    def __init__(self, adapters: AdapterManager, count_profiles: Callable[[str], int]):
        self.adapters = adapters
        self.count_profiles = count_profiles

    @staticmethod
    def active_adapter(advisor: Advisor) -> AdapterVersion | None:
        """The advisor's active version; a broken ``active`` pointer raises ActivePointerError."""
        return adapter_versions.read_active(advisor.id)

    def advisor_adapter(self, advisor: Advisor) -> tuple[AdapterVersion | None, str]:
        """The advisor's active adapter when it validates against the loaded model, else why not
        (a broken ``active`` pointer: the file and its problem)."""
        try:
            version = self.active_adapter(advisor)
        except AdapterStoreError as exc:
            return None, str(exc)
        if version is None:
            return None, f"advisor {advisor.id!r} has no active adapter"
        try:
            self.adapters.validate(version)
        except AdapterError as exc:
            return None, f"adapter {version.version} of {advisor.id!r} is unusable: {exc.problem}"
        return version, ""

    def check_explicit_adapter(self, advisor: Advisor) -> None:
        """``lora`` asked for by name: a broken adapter or ``active`` pointer raises AdapterError (none at
        all does not)."""
        try:
            version = self.active_adapter(advisor)
        except ActivePointerError as exc:
            raise AdapterError(exc.pointer, exc.problem, "bad_pointer") from None
        if version is not None:
            self.adapters.validate(version)

    def references(self, advisor: Advisor) -> str | None:
        """None when the advisor has indexed reference photos, else why RAG cannot run."""
        if self.count_profiles(advisor.id) == 0:
            return (f"advisor {advisor.id!r} has no indexed reference photos (run: mondrian index "
                    f"--advisor {advisor.id} --folder DIR)")
        return None


def _unavailable(preset: Preset, advisor: Advisor, conditions: ModeConditions,
                 policy: WeightsPolicy | None) -> tuple[str | None, AdapterVersion | None]:
    """(why the preset cannot run or None, the advisor's adapter when the preset runs on it)."""
    if preset.pipeline is Pipeline.RAG:
        why = conditions.references(advisor)
        if why:
            return why, None
    if preset.weights is WeightsSource.ADVISOR_ADAPTER:
        if policy is not None:
            return policy.blocks_adapter, None  # the policy supplies (or forbids) the adapter
        version, why = conditions.advisor_adapter(advisor)
        return (None, version) if version is not None else (why, None)
    return None, None


def plan_critique(requested: Mode, advisor: Advisor, conditions: ModeConditions,
                  policy: WeightsPolicy | None = None, *, draw: bool = True, strict: bool = False) -> Plan:
    """Resolve ``requested`` (not ``technical``) for ``advisor``; ``draw=False`` previews an A/B
    policy without taking a draw. ``strict``: a mode asked for by name (not ``auto``) that would
    fall back raises ModeUnavailableError instead."""
    if requested is Mode.TECHNICAL:
        raise ValueError("the technical mode runs no model: there is nothing to plan")
    name: Mode | None = AUTO_HEAD if requested is Mode.AUTO else requested
    reasons: list[str] = []
    while name is not None:
        preset = PRESETS[name]
        why, version = _unavailable(preset, advisor, conditions, policy)
        if why is None:
            break
        if name is requested and preset.weights is WeightsSource.ADVISOR_ADAPTER and policy is None:
            conditions.check_explicit_adapter(advisor)
        reasons.append(f"{name} unavailable ({why})")
        if strict and requested is not Mode.AUTO:
            raise ModeUnavailableError(requested, tuple(reasons))
        name = preset.fallback
    else:  # baseline is always available: only a broken preset table gets here
        raise RuntimeError(f"no analysis mode is available for advisor {advisor.id!r}: {'; '.join(reasons)}")
    if policy is None:
        weights = Weights(version, version.version) if version is not None else BASE_WEIGHTS
        used = ModelUsed.FINE_TUNED if weights.fine_tuned else ModelUsed.BASE
        return Plan(requested, preset.pipeline, weights, used, weights.label, tuple(reasons))
    chosen = policy.draw() if draw else policy.preview()
    plan = Plan(requested, preset.pipeline, chosen.weights, chosen.model_used, chosen.adapter_version,
                tuple(reasons))
    if plan.effective is not preset.mode:  # the policy's weights changed what the preset names
        wanted = "unavailable" if preset.weights is WeightsSource.ADVISOR_ADAPTER else "ran on an adapter"
        plan = Plan(requested, plan.pipeline, plan.weights, plan.model_used, plan.adapter_version,
                    (*reasons, f"{preset.mode} {wanted} ({chosen.why})"))
    return plan
