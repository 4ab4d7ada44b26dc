"""The report: eight dimension cards, a radar chart, the grade, the summary, the photo, a footer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.engine.critique.export import photo_lines
from app.engine.critique.report import DIMENSION_LABELS, DIMENSIONS, DimensionScore, grade_note

from ..common import theme
from ..common.failure import explain, notice_text
from ..common.pixmaps import fit
from ..common.qt_compat import emit
from ..common.radar import RadarChart
from ..common.wrap_text import WrapLabel

if TYPE_CHECKING:
    from app.engine.critique.result import CritiqueResult


class ScoreBar(QWidget):
    """A 0-10 bar, coloured by score."""

    def __init__(self, score: float | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.score = score
        self.setFixedHeight(8)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_score(self, score: float | None) -> None:
        self.score = score
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        rect = QRectF(0, 0, self.width(), self.height())
        p.setBrush(QColor("#eeebe4"))
        p.drawRoundedRect(rect, 4, 4)
        if self.score is not None:
            p.setBrush(theme.score_color(self.score))
            p.drawRoundedRect(QRectF(0, 0, self.width() * max(0.0, min(10.0, self.score)) / 10, self.height()), 4, 4)
        p.end()


class DimensionCard(QFrame):
    """One dimension: name, score, bar, comment, recommendation."""

    def __init__(self, key: str, dim: DimensionScore | None, parent: QWidget | None = None, *,
                 delta: float | None = None):
        super().__init__(parent)
        self.key = key
        self.setObjectName("card")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(5)
        head = QHBoxLayout()
        self.title = title = QLabel(DIMENSION_LABELS[key])
        title.setFont(theme.title_font(11))
        title.setWordWrap(True)  # a narrow card wraps "Focus & / Sharpness" rather than clipping it
        head.addWidget(title, 1)  # all the room the score leaves (a stretch beside it took half)
        if delta:  # a change against the base model (nothing shown when equal)
            sign = "+" if delta > 0 else ""
            d = QLabel(f"{sign}{delta:g}")
            d.setStyleSheet(f"color: {theme.delta_color(delta)}; font-weight: bold;")
            head.addWidget(d)
        score = dim.score if dim else None
        self.score_label = QLabel(f"{score:g}/10" if score is not None else "—")
        self.score_label.setFont(theme.title_font(11))
        head.addWidget(self.score_label)
        layout.addLayout(head)
        self.bar = ScoreBar(score)
        layout.addWidget(self.bar)
        comment = (dim.comment or "").strip() if dim else ""  # a blank answer is no comment, not a blank line
        advice = (dim.recommendation or "").strip() if dim else ""
        self.comment = WrapLabel(comment or "No comment.")
        layout.addWidget(self.comment)
        self.recommendation = WrapLabel(f"→ {advice}" if advice else "", object_name="muted")
        self.recommendation.setVisible(bool(advice))
        layout.addWidget(self.recommendation)
        layout.addStretch(1)

    @property
    def score(self) -> float | None:
        return self.bar.score


def weights_text(result: CritiqueResult, *, sentence: bool = False) -> str:
    """Which weights wrote the report, from ``model_used`` alone, so the footer and the blind
    test's reveal can never disagree (the base arm of an A/B test records the version under test
    as its adapter_version, but no adapter wrote it)."""
    version = result.adapter_version
    used = result.model_used
    if used == "none":
        return "no model (measurements only)" if sentence else "No model (measurements only)"
    if used == "ab_test_base":
        return (f"the base model (adapter {version} was the other arm)" if sentence else
                f"Base model, no adapter (blind test of {version})")
    if used == "ab_test_fine_tuned":
        return (f"the fine-tuned model (adapter {version})" if sentence else f"Adapter {version} (blind test)")
    if used == "fine_tuned" or version:
        return f"the fine-tuned model (adapter {version})" if sentence else f"Adapter {version}"
    return "the base model" if sentence else "No adapter (base model)"


def footer_text(result: CritiqueResult, *, hidden: bool = False) -> str:
    """Model, effective mode, adapter version and timings (``hidden``: blind A/B, arm not shown)."""
    parts: list[str] = []
    if result.model_id:
        parts.append(f"Model {result.model_id.rstrip('/').split('/')[-1]}")
    if hidden:
        parts.append("Mode hidden (blind A/B) until you rate")
    else:
        mode = f"Mode {result.effective_mode}"
        if result.requested_mode and result.requested_mode != result.effective_mode:
            mode += f" (asked {result.requested_mode})"
        parts.append(mode)
        parts.append(weights_text(result))
    s = result.stats
    if s is not None:
        parts.append(f"first token {s.time_to_first_token_s:.2f}s · {s.generation_tokens} tokens · "
                     f"{s.generation_tps:.0f} tok/s · total {s.total_s:.2f}s")
        if s.peak_memory_gb:
            parts.append(f"peak {s.peak_memory_gb:.2f} GB")
    return "   ·   ".join(parts)


class ReportView(QWidget):
    """Shows one CritiqueResult. ``compact`` (side by side in comparisons) drops the photo, the
    radar and the photo's facts, which the comparison shows once for both. ``photoRequested``:
    the user asked for the photo at full size (the panel opens the viewer)."""

    photoRequested = Signal()

    def __init__(self, parent: QWidget | None = None, *, compact: bool = False, columns: int | None = None):
        super().__init__(parent)
        self.setObjectName("page")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.compact = compact
        self.columns = columns or (1 if compact else 2)
        self.result: CritiqueResult | None = None
        self.cards: list[DimensionCard] = []
        self._hidden = False
        self._photo_image: QImage | None = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 12, 16, 12)
        outer.setSpacing(12)

        self.title = WrapLabel()
        self.title.setFont(theme.title_font(13))
        outer.addWidget(self.title)
        self.facts = WrapLabel(object_name="muted")  # shooting data and notes about the photo
        self.facts.hide()
        outer.addWidget(self.facts)

        header = QHBoxLayout()
        header.setSpacing(16)
        photo_box = QVBoxLayout()
        self.photo = QLabel()
        self.photo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.photo.setMinimumSize(QSize(10, 10))
        self.photo.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.photo.setVisible(not compact)
        photo_box.addWidget(self.photo, 1)
        self.view_button = QPushButton("View Photo…")
        self.view_button.setToolTip("The photo at full size: fit or 100 %, with the measured focus map")
        self.view_button.clicked.connect(lambda: emit(self.photoRequested))
        self.view_button.setVisible(not compact)
        photo_box.addWidget(self.view_button, 0, Qt.AlignmentFlag.AlignHCenter)
        header.addLayout(photo_box, 2)
        self.radar = RadarChart(diameter=200)
        self.radar.setMinimumWidth(250)  # the axis labels take ~150 px of it; below that the chart is a dot
        self.radar.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.radar.setVisible(not compact)
        header.addWidget(self.radar, 3)
        grade_box = QVBoxLayout()
        self.grade = QLabel("—")
        self.grade.setObjectName("grade")
        self.grade.setFont(theme.title_font(40 if not compact else 26))
        self.grade.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom)
        grade_box.addWidget(self.grade)
        self.mean = QLabel()
        self.mean.setObjectName("muted")
        grade_box.addWidget(self.mean)
        self.summary = WrapLabel()
        grade_box.addWidget(self.summary)
        grade_box.addStretch(1)
        header.addLayout(grade_box, 3)
        outer.addLayout(header)

        self.banner = WrapLabel(object_name="banner")
        self.banner.hide()
        outer.addWidget(self.banner)

        self.grid = QGridLayout()
        self.grid.setSpacing(10)
        outer.addLayout(self.grid)

        self.footer = WrapLabel(object_name="muted")
        outer.addWidget(self.footer)
        outer.addStretch(1)

    def set_result(self, result: CritiqueResult, *, photo: QImage | None = None, hidden: bool = False,
                   deltas: dict[str, float | None] | None = None, title: str | None = None) -> None:
        self.result = result
        self._hidden = hidden
        report = result.report
        self.title.setText(title if title is not None else _title(result))
        self._photo_image = photo
        if not self.compact:
            self._fit_photo()
        for card in self.cards:
            self.grid.removeWidget(card)
            card.deleteLater()
        self.cards = []
        notes = []
        notice = notice_text(result.notice, result.model_used, result.requested_mode)
        if notice:
            notes.append(notice)
        if result.fallback_reason and not hidden:
            notes.append(f"Ran {result.effective_mode} instead of {result.requested_mode}: {result.fallback_reason}")
        if report is None and result.parse_problems:
            why = explain(result.parse_problems, result.raw_text)  # the cause is in the panel's notice
            notes.append(why.text() if self.compact else "What the parser found: " + "; ".join(result.parse_problems))
        if report is not None and (disagreement := grade_note(report)):
            notes.append(disagreement)
        self.banner.setText("\n".join(notes))
        self.banner.setVisible(bool(notes))
        if report is None:
            self.grade.setText("?")
            self.mean.setText("")
            self.summary.setText((result.raw_text or "(no report was written)")[:600])
            self.radar.set_scores({})
        else:
            self.grade.setText(report.overall_grade or "—")
            mean = report.overall_score
            scored, total = len(report.scores), len(DIMENSIONS)
            of = f" of the {scored} measured dimensions ({total - scored} need a vision model)" if scored < total else ""
            self.mean.setText(f"mean score {mean:g} / 10{of}" if mean is not None else "")
            self.summary.setText(report.summary)
            self.radar.set_scores(report.scores, theme.RED if not self.compact else theme.BLUE)
            for i, key in enumerate(DIMENSIONS):
                card = DimensionCard(key, report.dimensions.get(key), delta=(deltas or {}).get(key))
                self.grid.addWidget(card, i // self.columns, i % self.columns)
                self.cards.append(card)
        facts = [] if self.compact else photo_lines(result)
        self.facts.setText("\n".join(facts))
        self.facts.setVisible(bool(facts))
        self.footer.setText(footer_text(result, hidden=hidden))

    def set_photo(self, photo: QImage | None) -> None:
        """The photo, decoded after the report came up; the rest stays as it is."""
        self._photo_image = photo
        self._fit_photo()

    def _fit_photo(self) -> None:
        width = min(300, max(80, self.photo.width())) if self.photo.width() > 20 else 300
        self.photo.setPixmap(fit(self._photo_image, width, 240))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if not self.compact and self._photo_image is not None:
            self._fit_photo()

    def reveal(self, title: str | None = None) -> None:
        """End a blind test: show the mode/adapter that produced the report."""
        if self.result is not None:
            self._hidden = False
            self.footer.setText(footer_text(self.result))
            if title:
                self.title.setText(title)


def _title(result: CritiqueResult) -> str:
    name = str(result.photo).replace("\\", "/").split("/")[-1]
    if result.model_used == "none":  # no advisor spoke: the measurements did
        return f"{name} — measurements only"
    return f"{name} — {advisor_name(result.advisor_id)}"


def advisor_name(advisor_id: str) -> str:
    """The advisor's display name ("Ansel Adams"), the id when it is not known."""
    try:
        from app.engine.advisors import get_advisor

        return get_advisor(advisor_id).name
    except (KeyError, ValueError, OSError):
        return advisor_id
