"""Blind A/B statistics: win rate and mean blind rating per adapter version, from the store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from app.engine.store.database import Store

COLUMNS = ("Adapter version", "Fine-tuned win rate", "Pairwise (FT / base / tie)",
           "Blind rating fine-tuned", "Blind rating base")


def _fmt(mean: float | None, n: int) -> str:
    return "—" if mean is None else f"{mean:.2f} ({n})"


def stats_rows(store: Store | None) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for w in store.ratings.ab_win_rates() if store is not None else []:
        rate = w.fine_tuned_win_rate
        rows.append((w.adapter_version or "(none)", "—" if rate is None else f"{100 * rate:.0f}%",
                     f"{w.fine_tuned_wins} / {w.base_wins} / {w.ties}",
                     _fmt(w.mean_rating_fine_tuned, w.rated_fine_tuned), _fmt(w.mean_rating_base, w.rated_base)))
    return rows


class ABStatsDialog(QDialog):
    def __init__(self, store: Store | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Blind A/B statistics")
        self.resize(720, 320)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Blind tests per adapter version (switch blind A/B on in Settings). "
                                "Ratings are 1-5; the win rate counts pairwise choices, ties as half."))
        rows = stats_rows(store)
        self.table = QTableWidget(len(rows), len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        layout.addWidget(self.table)
        if not rows:
            layout.addWidget(QLabel("No blind ratings yet."))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
