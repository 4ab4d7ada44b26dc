"""Quitting while a training run is going: ask, never kill it silently (issue 12 #3).

Three answers: let the run finish in the background (the window goes, the menubar icon stays
and Mondrian quits when the run has ended, with a notification), stop it cleanly now (the
training process stops at its next step and keeps its last finished epoch, so the Training
tab offers Resume next time), or don't quit. Every way to quit comes here: File ▸ Quit and
Cmd+Q, the menubar icon's Quit, the Dock and logging out (all are ``QEvent.Quit`` on the
application, which :func:`app.ui.main.run_gui` filters), and closing the window when there is
no menubar icon.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QMessageBox, QWidget

from .training.training_tab import TrainingTab
from .tray import MondrianTray


class QuitChoice(enum.Enum):
    BACKGROUND = "background"
    STOP = "stop"
    CANCEL = "cancel"


BACKGROUND_LABEL = "Finish in the Background"
NO_TRAY_LABEL = "Finish First, Then Quit"
STOP_LABEL = "Stop Training and Quit"
CANCEL_LABEL = "Don't Quit"


def stop_consequence(epochs_done: int | None) -> str:
    """What stopping now keeps, truthfully: nothing before the first epoch has finished."""
    if epochs_done is None:
        return "a stopped run keeps its last finished epoch, if one has finished, and can be resumed from there"
    if epochs_done == 0:
        return "no epoch has finished yet, so a stopped run keeps nothing and starts over next time"
    return (f"a stopped run keeps epoch {epochs_done}, its last finished one, and can be resumed from the "
            "Training tab")


def ask_during_training(parent: QWidget, *, tray: bool, epochs_done: int | None = None) -> QuitChoice:
    """The question, as a modal box (Esc: don't quit)."""
    box = QMessageBox(QMessageBox.Icon.Question, "Training is running", "A training run is still going.",
                      parent=parent)
    box.setObjectName("quitDuringTraining")
    where = ("Mondrian stays in the menu bar and quits when it is done" if tray else
             "the window stays open and Mondrian quits when it is done")
    box.setInformativeText(f"Let it finish in the background ({where}), or stop it now: "
                           f"{stop_consequence(epochs_done)}.")
    background = box.addButton(BACKGROUND_LABEL if tray else NO_TRAY_LABEL, QMessageBox.ButtonRole.AcceptRole)
    stop = box.addButton(STOP_LABEL, QMessageBox.ButtonRole.DestructiveRole)
    cancel = box.addButton(CANCEL_LABEL, QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(background)
    box.setEscapeButton(cancel)
    box.exec()
    clicked = box.clickedButton()
    return QuitChoice.BACKGROUND if clicked is background else QuitChoice.STOP if clicked is stop else QuitChoice.CANCEL


class QuitGuard(QObject):
    """Decides whether a quit may go ahead now; holds a quit that waits for the training run."""

    def __init__(self, window: QWidget, training: TrainingTab, tray: MondrianTray | None,
                 exit_app: Callable[[], None], ask: Callable[..., QuitChoice] = ask_during_training):
        super().__init__(window)
        self.window, self.training, self.tray = window, training, tray
        self.exit_app = exit_app  # leaves the event loop for good (QApplication.exit: aboutToQuit follows)
        self.ask = ask
        self.waiting = False  # quit once the run has ended
        training.runEnded.connect(self._run_ended)

    @property
    def has_tray(self) -> bool:
        return self.tray is not None and self.tray.icon is not None

    def confirm(self) -> bool:
        """True: quit now. False: not now (the user said no, or the run finishes first)."""
        if not self.training.running:
            return True
        choice = self.ask(self.window, tray=self.has_tray, epochs_done=self.training.run_page.epochs_done)
        if choice is QuitChoice.STOP:
            self.training.note_stop_at_quit()
            self.training.shutdown()  # blocks until the process has stopped (a few seconds at most)
            return True
        if choice is QuitChoice.BACKGROUND:
            self.waiting = True
            if self.tray is not None:
                self.tray.set_training("Training… Mondrian quits when it is done")
            if self.has_tray:
                self.window.hide()
            else:
                self.training.status.setText("Mondrian quits when this run has finished.")
        return False

    def cancel_wait(self) -> None:
        """The user came back to the window: stay open after the run."""
        if self.waiting:
            self.waiting = False
            if self.tray is not None:
                self.tray.set_training(None)

    def _run_ended(self, ok: bool, message: str) -> None:
        if not self.waiting:
            return
        self.waiting = False
        if self.tray is not None:
            self.tray.set_training(None)
            self.tray.notify("Training finished" if ok else "Training stopped",
                             "Mondrian has quit." if ok else f"{message}. Mondrian has quit.")
        QTimer.singleShot(0, self.exit_app)
