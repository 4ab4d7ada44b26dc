"""The Versions view shows a learn-from-culls version's agreement table (issue 25 leftover): pairwise,
within bursts, across stars, Spearman and pick precision, before -> after with their intervals, from
the version's eval.json, not only a summary line.

A real published adapter version (the tiny model's), an eval.json built with training.agreement
on known orderings, and the real Qt widgets.
"""

from __future__ import annotations

from pathlib import Path

from ui_support import publish_adapter

from app.engine import atomic
from training import agreement as agree
from training.learn import render_markdown

LEVELS = [("b1", 4.5), ("b1", 2), ("b1", 0), ("b2", 4.5), ("b2", 2), ("b2", 0), ("b3", 4.5), ("b3", 2), ("b3", 0)]


def _judged(scores: list[float]) -> list[agree.Judged]:
    return [agree.Judged(f"f{i}", g, u, u >= 3, s) for i, ((g, u), s) in enumerate(zip(LEVELS, scores, strict=True))]


def _eval(version: str) -> dict:
    """eval.json as training.learn writes it: before the advisor ranked the shoot backwards, after as the user."""
    before, after = [-u for _, u in LEVELS], [u for _, u in LEVELS]
    table = {when: {name: agree.agreement(_judged(scores), bootstrap=200) for name in ("train", "held_out")}
             for when, scores in (("before", before), ("after", after))}
    comparison = agree.compare(_judged(before), after, bootstrap=200)
    activate, reason = agree.activation_decision(comparison, min_pairs=4)
    return {"advisor_id": "ansel", "version": version, "model": "tiny", "method": "orpo", "reviews": ["r1"],
            "frames": {"train": 9, "held_out": 9}, "agreement": table, "comparison": comparison,
            "activate": activate, "reason": reason,
            "training": {"steps": 4, "step_time_s": 0.1, "peak_memory_gb": 0.2}}


def test_the_versions_view_shows_the_agreement_table(qtbot, home: Path, tiny_model_dir: Path, tiny_adapters) -> None:
    from app.ui.training.versions_view import AGREEMENT_COLUMNS, VersionsView

    version = publish_adapter("ansel", tiny_adapters["a"], tiny_model_dir)
    result = _eval(version.version)
    atomic.write_json(version.path / "eval.json", result)
    atomic.write_text(version.path / "eval.md", render_markdown(result))

    view = VersionsView()
    qtbot.addWidget(view)
    view.set_advisor("ansel")
    view.select(version.version)
    table = view.agreement
    assert not table.isHidden() and view.eval_view.isHidden()  # the table once, as a table
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers == list(AGREEMENT_COLUMNS) == ["Frames", "When", "Pairs", "Pairwise", "Within bursts",
                                                  "Across stars", "Spearman", "Pick precision"]
    rows = [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]
    assert [r[:2] for r in rows] == [["training", "before"], ["training", "after"],
                                     ["held out", "before"], ["held out", "after"]]
    held_before, held_after = rows[2], rows[3]
    pairs = str(result["agreement"]["after"]["held_out"]["pairs"])
    assert held_after[2] == pairs and int(pairs) > 0
    assert held_before[3].startswith("0.000 [") and held_after[3].startswith("1.000 [")  # backwards, then right
    assert held_before[6].startswith("-1.000") and held_after[6].startswith("1.000")  # Spearman
    assert held_after[7].startswith("1.000")  # pick precision at the user's keep rate
    lo, hi = result["agreement"]["after"]["held_out"]["pairwise"]["ci"]
    assert held_after[3] == f"1.000 [{lo:.2f}, {hi:.2f}]"  # the interval, as eval.json has it
    note = view.agreement_note.text()
    assert "after minus before: +1.000" in note and result["reason"][1:] in note

    # an MAE evaluation (a portfolio version) shows its markdown, no agreement table
    (version.path / "eval.json").write_text('{"samples": 0, "base": {}, "fine_tuned": {}}', encoding="utf-8")
    (version.path / "eval.md").write_text("# Evaluation\n\nscore MAE table", encoding="utf-8")
    view.refresh(select=version.version)
    assert table.isHidden() and not view.eval_view.isHidden() and "score MAE table" in view.eval_view.toPlainText()
