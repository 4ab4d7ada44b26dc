"""The pieces of the question thread: one exchange as a card, and the box the question is typed in.

A :class:`TurnView` shows a question, the advisor's answer (streamed into it token by token) and,
when the exchange did not simply finish, how it ended: cancelled (the partial answer kept),
failed (the reason in one sentence), or a notice such as old turns left out of the context. A
stored turn and a live one look the same, through :func:`~app.engine.critique.export.turn_answer`.
The :class:`QuestionBox` refuses what the engine would refuse (empty, over-long) before it is sent.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QFrame, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from app.engine.conversation.session import MAX_QUESTION_CHARS, check_question
from app.engine.critique.export import turn_answer
from app.engine.store.database import TurnRow

from ..common import theme
from ..common.qt_compat import emit
from ..common.wrap_text import WrapLabel


class TurnView(QFrame):
    """One exchange: "You", the question; the advisor's name, the answer; a status line."""

    def __init__(self, question: str, advisor: str, parent: QWidget | None = None, *, kind: str = "question"):
        super().__init__(parent)
        self.setObjectName("card")
        self.status = "running"
        self.kind = kind
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(3)
        you = QLabel("You")
        you.setFont(theme.title_font(10))
        layout.addWidget(you)
        self.question = WrapLabel(question)
        layout.addWidget(self.question)
        who = QLabel(advisor)
        who.setFont(theme.title_font(10))
        who.setStyleSheet(f"color: {theme.RED};")
        layout.addWidget(who)
        self.answer = WrapLabel()
        layout.addWidget(self.answer)
        self.note = WrapLabel(object_name="muted")
        layout.addWidget(self.note)
        self._text: list[str] = []

    @classmethod
    def from_turn(cls, turn: TurnRow, advisor: str) -> TurnView:
        view = cls(turn.question, advisor, kind=turn.kind)
        view.show_turn(turn)
        return view

    def show_turn(self, turn: TurnRow) -> None:
        """Show a stored turn as it ended (the text the database holds)."""
        answer, note = turn_answer(turn)
        notes = [n for n in (turn.details.get("notices") or []) if isinstance(n, str)]
        self.status = turn.status
        self._text = [answer]
        self.answer.setText(answer)
        self.set_note(_sentence(note, turn.status), *notes)

    def append(self, text: str) -> None:
        self._text.append(text)
        self.answer.setText("".join(self._text))

    def text(self) -> str:
        return "".join(self._text)

    def waiting(self, message: str) -> None:
        self.set_note(message)

    def cancelled(self) -> None:
        self.status = "cancelled"
        self.set_note(_sentence("cancelled", "cancelled"))

    def failed(self, message: str) -> None:
        self.status = "failed"
        self.set_note(_sentence(f"no answer: {message}", "failed"))

    def set_note(self, *lines: str) -> None:
        self.note.setText("\n".join(line for line in lines if line))


def _sentence(note: str, status: str) -> str:
    """The status line of a turn that did not simply finish, as a sentence."""
    if not note:
        return ""
    if status == "cancelled":
        return "Cancelled: the answer stops where you stopped it."
    if status == "running":
        return "Unfinished: this answer was interrupted before it ended."
    text = note[0].upper() + note[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


class QuestionBox(QPlainTextEdit):
    """A few lines for the question: Enter asks, Shift+Enter starts a new line."""

    submitted = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setPlaceholderText("Ask the advisor about this photo and its critique…")
        self.setTabChangesFocus(True)
        self.setFixedHeight(64)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            emit(self.submitted)
            event.accept()
            return
        super().keyPressEvent(event)

    def problem(self) -> str:
        """Why the question cannot be sent ("" when it can): the engine's own check."""
        try:
            check_question(self.toPlainText())
        except ValueError as exc:
            return str(exc)[0].upper() + str(exc)[1:] + "."
        return ""

    def counter_text(self) -> str:
        n = len(self.toPlainText().strip())
        if n > MAX_QUESTION_CHARS:
            return f"{n}/{MAX_QUESTION_CHARS} characters: too long"
        return f"{n}/{MAX_QUESTION_CHARS}" if n > MAX_QUESTION_CHARS * 0.8 else ""
