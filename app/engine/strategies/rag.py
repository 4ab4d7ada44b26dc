"""RAG mode: pass 1 profiles the photo, the nearest reference profiles are retrieved, pass 2 critiques.

Available for an advisor only when it has reference profiles (``python -m app index``); falls
back to baseline otherwise. Pass 1 runs on the base model with the neutral profile prompt — the
same prompt the references were profiled with, so their scores are comparable — and is not
streamed (the user watches the report, pass 2). If pass 1 does not parse, pass 2 still runs,
without references, and ``extra_stats['profile_problems']`` says so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

from app.engine.advisors import Advisor
from app.engine.critique.prompts import critique_prompt
from app.engine.model.host import GenerationStats, ModelHost, new_request_id
from app.engine.rag.index import DEFAULT_K, nearest_profiles, profile_photo
from app.engine.settings import Settings
from app.engine.store.database import Store, open_default_store
from app.engine.strategies.base import AnalysisInput, AnalysisOutcome, AnalysisStrategy
from app.engine.strategies.baseline import run_report_generation


def combine_stats(first: GenerationStats, second: GenerationStats) -> GenerationStats:
    """Both passes as one: token counts and time add up; first-token time is that of the report."""
    return GenerationStats(
        prompt_tokens=first.prompt_tokens + second.prompt_tokens,
        generation_tokens=first.generation_tokens + second.generation_tokens,
        time_to_first_token_s=first.total_s + second.time_to_first_token_s,
        total_s=first.total_s + second.total_s,
        prompt_tps=second.prompt_tps, generation_tps=second.generation_tps,
        peak_memory_gb=max(first.peak_memory_gb, second.peak_memory_gb),
    )


class RAGStrategy(AnalysisStrategy):
    name = "rag"
    fallback = "baseline"

    def __init__(self, host: ModelHost, settings: Settings,
                 store: Store | Callable[[], Store | None] | None = None, k: int = DEFAULT_K):
        """``store``: the profiles' store, or a function returning it (the service's, resolved when
        first needed); None or a function returning None: the data folder's default database."""
        self.host = host
        self.settings = settings
        self.k = k
        self._source = store
        self._store: Store | None = store if isinstance(store, Store) else None
        self._owned = False
        self._lock = threading.Lock()

    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                found = self._source() if callable(self._source) else None
                if found is None:
                    found, self._owned = open_default_store(), True
                self._store = found
            return self._store

    def close(self) -> None:
        """Close the store if this strategy opened it."""
        if self._owned and self._store is not None:
            self._store.close()
            self._store, self._owned = None, False

    def is_available(self, advisor: Advisor) -> tuple[bool, str]:
        if self.store.count_profiles(advisor.id) == 0:
            return False, f"advisor {advisor.id!r} has no indexed reference photos (run: python -m app index " \
                          f"--advisor {advisor.id} --folder DIR)"
        return True, ""

    def analyze(self, inp: AnalysisInput) -> AnalysisOutcome:
        start = time.perf_counter()
        base_id = inp.request_id or new_request_id(self.name)
        pass1 = profile_photo(self.host, self.settings, inp.image, facts=inp.facts, scope=inp.scope,
                              request_id=f"{base_id}-profile")
        inp.scope.check()
        neighbors = nearest_profiles(self.store.list_profiles(inp.advisor.id), pass1.report, self.k) \
            if pass1.report is not None else []
        prompt = critique_prompt(inp.advisor, facts=inp.facts, references=[n.to_reference() for n in neighbors])
        outcome = run_report_generation(self.host, self.settings, replace(inp, request_id=base_id), prompt,
                                        self.name)
        extra = {"passes": {"profile": pass1.output.stats.to_dict(), "critique": outcome.stats.to_dict()},
                 "photo_profile": pass1.report.scores if pass1.report else None,
                 "wall_s": time.perf_counter() - start}
        if pass1.report is None:
            extra["profile_problems"] = ["pass 1 (profile) did not parse, so no references were used",
                                         *pass1.problems[:3]]
        return replace(outcome, stats=combine_stats(pass1.output.stats, outcome.stats),
                       references=[n.to_dict() for n in neighbors], extra_stats=extra)
