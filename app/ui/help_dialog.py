"""Help ▸ Guide: a short page on what the modes and advisors do, and where things are."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from .review.culling import keys_html

GUIDE = """
<h2>Getting a critique</h2>
<p>Drop a photo on the window, paste one (Ctrl+V), or use <b>Open…</b>. Photos opened while one is
being critiqued wait their turn. <b>Cancel</b> (or Esc) stops the current one; the photo and what
was written so far stay on screen, with <b>Critique again</b>.</p>
<h2>Advisors</h2>
<p>An advisor is the voice of the critique: a built-in persona (Ansel Adams, Fan Ho, …) or a
personal advisor you create in the <b>Training</b> tab. A personal advisor can be trained on your
own photos and your own scores (a fine-tuned <i>adapter</i>), and can be given reference photos.</p>
<h2>Modes</h2>
<table cellpadding="4">
<tr><td><b>Auto</b></td><td>the best the advisor has: its adapter if it has one, else its reference
photos, else the base model.</td></tr>
<tr><td><b>Baseline</b></td><td>one pass of the base model with the advisor's prompt and the photo's
measured facts.</td></tr>
<tr><td><b>RAG</b></td><td>first profiles your photo, finds the most similar of the advisor's
reference photos, then critiques with them as a yardstick. Add reference photos with
Advisor ▸ Add Reference Photos….</td></tr>
<tr><td><b>LoRA</b></td><td>one pass with the advisor's active fine-tuned adapter.</td></tr>
</table>
<p>The line under the pickers says how the chosen mode will actually run, and why when it falls
back. <b>Compare with base</b> shows the base model and the adapter side by side. With
<b>blind A/B</b> on in Settings, the app picks one at random and tells you which after you rate it.</p>
<h2>No model yet?</h2>
<p>Open <b>Settings</b> (Ctrl+,): <b>Download</b> fetches the model (about 3 GB, once), or
<b>Folder…</b> picks a model folder you already have. Until then, reports are measurements only
(exposure, clipping, sharpness, colour, balance).</p>
<h2>Reviewing a shoot</h2>
<p>The <b>Review</b> tab critiques a whole folder (RAW included) and lays it out as a grid. Cull it with
Lightroom's keys; they act on every selected frame:</p>
{keys}
<h2>Your photos</h2>
<p>Mondrian only reads your photos; it never changes them. Reports can be exported as Markdown, JSON
or PDF, and reopened from the History sidebar (search it, or select several to delete).</p>
"""


def guide_html() -> str:
    """The guide, with the culling keys written from the key map the grid and loupe use."""
    return GUIDE.replace("{keys}", keys_html())


class HelpDialog(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Mondrian Guide")
        self.resize(560, 520)
        layout = QVBoxLayout(self)
        self.browser = QTextBrowser()
        self.browser.setHtml(guide_html())
        layout.addWidget(self.browser)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
