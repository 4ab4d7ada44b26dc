"""Export what is on screen: Markdown and JSON through the engine's renderers, PDF through Qt.

The PDF is the report as a page: the photo, the radar chart of the scores (both series for a
comparison), the grade and summary, the score table, the photo's shooting data and notes, and
its measured facts (the technical analysis the critique was grounded on). Files are written
atomically (temp + rename), so an interrupted export never leaves half a file.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMarginsF, QSize, QSizeF, Qt, QUrl
from PySide6.QtGui import QColor, QImage, QPageLayout, QPageSize, QPdfWriter, QTextDocument

from app.engine import atomic
from app.engine.critique.export import photo_lines, to_markdown
from app.engine.critique.report import DIMENSION_LABELS, DIMENSIONS, grade_note
from app.engine.critique.result import CritiqueResult
from app.engine.technical.results import measurements_of

from ..ask.conversation_export import conversation_html
from ..common import theme
from ..common.operations import BlindResult, Comparison, Item
from ..common.radar import RadarChart, Series
from .report_view import advisor_name

FORMATS = {"Markdown (*.md)": ".md", "JSON (*.json)": ".json", "PDF (*.pdf)": ".pdf"}
RADAR_SIZE = QSize(520, 380)
MUTED = "color:#666"


def _results(item: Item) -> list[tuple[str, CritiqueResult]]:
    if isinstance(item, Comparison):
        return [("Base model", item.base), (f"Fine-tuned {item.tuned.adapter_version or ''}".strip(), item.tuned)]
    if isinstance(item, BlindResult):
        return [("", item.result)]
    return [("", item)]


def markdown_text(item: Item, turns: Sequence[Any] = ()) -> str:
    """The report(s) in Markdown; ``turns``: the conversation about a single critique."""
    parts = []
    for heading, result in _results(item):
        text = to_markdown(result, turns if isinstance(item, CritiqueResult) else ())
        parts.append(f"## {heading}\n\n{text}" if heading else text)
    return "\n\n".join(parts)


def json_data(item: Item) -> dict[str, Any]:
    if isinstance(item, Comparison):
        return {"base": item.base.to_dict(), "fine_tuned": item.tuned.to_dict(), "deltas": item.deltas()}
    if isinstance(item, BlindResult):
        return {**item.result.to_dict(), "blind_arm": "fine_tuned" if item.fine_tuned else "base", "blind_adapter_version": item.adapter_version}
    return item.to_dict()


def radar_series(item: Item) -> list[Series]:
    """The radar's series: one for a critique, base and fine-tuned for a comparison."""
    if isinstance(item, Comparison):
        return [Series(item.base.report.scores if item.base.report else {}, QColor(theme.MUTED), "base"),
                Series(item.tuned.report.scores if item.tuned.report else {}, QColor(theme.RED), "fine-tuned")]
    result = item.result if isinstance(item, BlindResult) else item
    return [Series(result.report.scores, QColor(theme.RED), "scores")] if result.report else []


def radar_image(series: list[Series], size: QSize = RADAR_SIZE) -> QImage:
    """The radar chart drawn into an image (the same widget as on screen, never shown)."""
    chart = RadarChart(diameter=min(size.width(), size.height()) - 60)
    chart.resize(size)
    chart.set_series(*series)
    image = QImage(size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.white)
    chart.render(image)
    return image


def _measured_table(result: CritiqueResult) -> str:
    rows = measurements_of(result.technical)
    if not rows:
        return ""
    out = ["<h3>Measured</h3><table border='1' cellspacing='0' cellpadding='3' width='100%'>"
           "<tr><th>Measurement</th><th>Value</th><th>Reading</th></tr>"]
    for label, m in rows:
        value = "—" if m.value is None else f"{m.value:g}{(' ' + m.unit) if m.unit else ''}"
        out.append(f"<tr><td>{html.escape(label)}</td><td>{html.escape(value)}</td>"
                   f"<td>{html.escape(m.reading)}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _result_html(heading: str, r: CritiqueResult, *, photo: bool, radar: bool) -> list[str]:
    name = html.escape(str(r.photo).replace("\\", "/").split("/")[-1])
    who = "measurements only" if r.model_used == "none" else advisor_name(r.advisor_id)  # the name, not the id
    out = [f"<h1>{name}</h1><p style='{MUTED}'>Advisor: <b>{html.escape(who)}</b>"
           + (f" · {html.escape(heading)}" if heading else "") + "</p>"]
    if photo or radar:
        out.append("<p>" + ("<img src='mondrian://photo' width='300'> " if photo else "")
                   + ("<img src='mondrian://radar' width='300'>" if radar else "") + "</p>")
    facts = photo_lines(r)
    if facts:
        out.append(f"<p style='{MUTED}'>" + "<br>".join(html.escape(line) for line in facts) + "</p>")
    if r.notice:
        out.append(f"<p><i>{html.escape(r.notice)}</i></p>")
    rep = r.report
    if rep is None:
        out.append("<p>The model's answer could not be read as a report: "
                   + html.escape("; ".join(r.parse_problems)) + "</p>")
        out.append(f"<pre>{html.escape(r.raw_text)}</pre>")
        return out
    mean = f" (mean {rep.overall_score:g}/10)" if rep.overall_score is not None else ""
    out.append(f"<h2>Grade {html.escape(rep.overall_grade or '—')}{mean}</h2>")
    if note := grade_note(rep):
        out.append(f"<p><i>{html.escape(note)}</i></p>")
    out.append(f"<p>{html.escape(rep.summary)}</p>")
    out.append("<table border='1' cellspacing='0' cellpadding='4' width='100%'>"
               "<tr><th>Dimension</th><th>Score</th><th>Comment</th><th>Recommendation</th></tr>")
    for key in DIMENSIONS:
        d = rep.dimensions.get(key)
        if d is None:
            continue
        score = "—" if d.score is None else f"{d.score:g}"
        out.append(f"<tr><td>{DIMENSION_LABELS[key]}</td><td align='center'>{score}</td>"
                   f"<td>{html.escape(d.comment)}</td><td>{html.escape(d.recommendation)}</td></tr>")
    out.append("</table>")
    foot = f"Mode {r.effective_mode}" + (f" · adapter {r.adapter_version}" if r.adapter_version else "")
    if r.model_id:
        foot = f"Model {r.model_id} · " + foot
    out.append(f"<p style='{MUTED}; font-size:small'>{html.escape(foot)}</p>")
    return out


def report_html(item: Item, photo: QImage | None = None, *, radar: bool = False,
                turns: Sequence[Any] = ()) -> str:
    """A printable page per result; the photo, the radar (``radar``: the document holds
    ``mondrian://radar``) and the measured facts once, with the first result."""
    has_photo = photo is not None and not photo.isNull()
    out = ["<html><body style='font-family: sans-serif;'>"]
    results = _results(item)
    for i, (heading, r) in enumerate(results):
        out += _result_html(heading, r, photo=has_photo and i == 0, radar=radar and i == 0)
    out.append(_measured_table(results[0][1]))
    out.append(conversation_html(turns) if isinstance(item, CritiqueResult) else "")
    out.append("</body></html>")
    return "".join(out)


def write_pdf(item: Item, path: str | os.PathLike[str], photo: QImage | None = None,
              turns: Sequence[Any] = ()) -> Path:
    target = Path(path)
    doc = QTextDocument()
    if photo is not None and not photo.isNull():
        doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl("mondrian://photo"), photo)
    series = radar_series(item)
    if series:
        doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl("mondrian://radar"), radar_image(series))
    doc.setHtml(report_html(item, photo, radar=bool(series), turns=turns))
    fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".pdf", dir=target.parent)
    os.close(fd)
    try:
        writer = QPdfWriter(tmp)
        writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait,
                                         QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter))
        writer.setResolution(150)
        writer.setTitle(f"Mondrian critique of {target.stem}")
        doc.setPageSize(QSizeF(writer.width(), writer.height()))
        doc.print_(writer)
        del writer  # flushes and closes the file
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def export(item: Item, path: str | os.PathLike[str], photo: QImage | None = None,
           turns: Sequence[Any] = ()) -> Path:
    """Write ``item`` (a result, comparison or blind result) in the format its suffix names;
    ``turns`` (the job's conversation) go into Markdown and PDF."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".md":
        atomic.write_text(target, markdown_text(item, turns))
    elif suffix == ".json":
        atomic.write_text(target, json.dumps(json_data(item), ensure_ascii=False, indent=2, default=str) + "\n")
    elif suffix == ".pdf":
        write_pdf(item, target, photo, turns)
    else:
        raise ValueError(f"{target}: unknown export format {suffix!r}; use .md, .json or .pdf")
    return target
