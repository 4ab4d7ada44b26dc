"""LoRA mode: one pass with the advisor's active adapter applied to the resident base model.

Available when the advisor has an active adapter version that validates against the loaded
model (files, manifest base model, shapes); falls back to RAG otherwise, with the reason. When
the user asks for ``lora`` by name and the advisor's adapter is broken, that is an error
(:class:`~app.engine.adapters.manager.AdapterError`), not a silent fallback; with no adapter at all,
it falls back like ``auto`` does.
"""

from __future__ import annotations

from dataclasses import replace

from app.engine.adapters import versions as adapter_versions
from app.engine.adapters.manager import AdapterError, AdapterManager
from app.engine.adapters.versions import AdapterStoreError, AdapterVersion
from app.engine.advisors import Advisor
from app.engine.critique.prompts import critique_prompt
from app.engine.model.host import ModelHost
from app.engine.settings import Settings
from app.engine.strategies.base import AnalysisInput, AnalysisOutcome, AnalysisStrategy
from app.engine.strategies.baseline import run_report_generation


class LoRAStrategy(AnalysisStrategy):
    name = "lora"
    fallback = "rag"

    def __init__(self, host: ModelHost, settings: Settings, adapters: AdapterManager):
        self.host = host
        self.settings = settings
        self.adapters = adapters

    def active_adapter(self, advisor: Advisor) -> AdapterVersion | None:
        try:
            return adapter_versions.active_version(advisor.id)
        except AdapterStoreError:
            return None

    def is_available(self, advisor: Advisor) -> tuple[bool, str]:
        version = self.active_adapter(advisor)
        if version is None:
            return False, f"advisor {advisor.id!r} has no active adapter"
        try:
            self.adapters.validate(version)
        except AdapterError as exc:
            return False, f"adapter {version.version} of {advisor.id!r} is unusable: {exc.problem}"
        return True, ""

    def check_explicit(self, advisor: Advisor, reason: str) -> None:
        """Asked for by name: a broken adapter is an error (no adapter at all still falls back)."""
        version = self.active_adapter(advisor)
        if version is not None:
            self.adapters.validate(version)  # raises the AdapterError that made it unavailable

    def analyze(self, inp: AnalysisInput) -> AnalysisOutcome:
        version = self.active_adapter(inp.advisor)
        if version is None:
            raise AdapterError(adapter_versions.advisor_root(inp.advisor.id), "no active adapter", "missing")
        info = self.adapters.validate(version)
        prompt = critique_prompt(inp.advisor, facts=inp.facts)
        outcome = run_report_generation(self.host, self.settings, inp, prompt, self.name, adapter=version)
        return replace(outcome, adapter_version=info.label)
