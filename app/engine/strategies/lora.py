"""LoRA mode: one pass with the advisor's active adapter applied to the resident base model.

Available when the advisor has an active adapter version that validates against the loaded
model (files, manifest base model, shapes); falls back to RAG otherwise, with the reason. When
the user asks for ``lora`` by name and the advisor's adapter is broken, that is an error
(:class:`~app.engine.adapters.AdapterError`), not a silent fallback; with no adapter at all,
it falls back like ``auto`` does.
"""

from __future__ import annotations

from dataclasses import replace

from .. import adapter_store
from ..adapter_store import AdapterStoreError, AdapterVersion
from ..adapters import AdapterError, AdapterManager
from ..advisors import Advisor
from ..model_host import ModelHost
from ..prompts import critique_prompt
from ..settings import Settings
from .base import AnalysisInput, AnalysisOutcome, AnalysisStrategy
from .baseline import run_report_generation


class LoRAStrategy(AnalysisStrategy):
    name = "lora"
    fallback = "rag"

    def __init__(self, host: ModelHost, settings: Settings, adapters: AdapterManager):
        self.host = host
        self.settings = settings
        self.adapters = adapters

    def active_adapter(self, advisor: Advisor) -> AdapterVersion | None:
        try:
            return adapter_store.active_version(advisor.id)
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
            raise AdapterError(adapter_store.advisor_root(inp.advisor.id), "no active adapter", "missing")
        info = self.adapters.validate(version)
        prompt = critique_prompt(inp.advisor, facts=inp.facts)
        outcome = run_report_generation(self.host, self.settings, inp, prompt, self.name, adapter=version)
        return replace(outcome, adapter_version=info.label)
