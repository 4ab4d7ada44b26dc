"""Quitting while training runs asks first (issue 12 #3): finish in the background, stop cleanly,
or don't quit; every way to quit (the application's Quit event, closing the window without a
menubar icon) goes through the same question. Driven on the real window and its real dialog."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from ui_support import LONG, tiny_settings

from app.ui.main import AppEvents
from app.ui.quit_guard import CANCEL_LABEL, NO_TRAY_LABEL, STOP_LABEL
from app.ui.training.training_process import Step
from app.ui.training.training_tab import TRAIN

# A stand-in for a long training step: a real child process that runs until it is stopped (the
# real training command's clean stop on SIGTERM is tested with training itself).
LONG_STEP = Step(TRAIN, "timeit", ["-n", "1", "-r", "1", "import time; time.sleep(120)"])


def answer(qtbot, label: str, seen: list[str]) -> None:
    """Click ``label`` in the quit question once it is up (it runs its own event loop)."""

    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, click)
            return
        seen.append(box.text())
        seen.append(box.informativeText())
        next(b for b in box.buttons() if b.text() == label).click()

    QTimer.singleShot(0, click)


@pytest.fixture
def training_window(qtbot, tiny_model_dir, home):
    # Not handed to qtbot: it closes its widgets before fixtures end, and closing this window while
    # training runs asks (that is the point); shutdown() stops the run and closes it here.
    from app.engine import paths
    from app.engine.service import MondrianService
    from app.engine.store.database import Store
    from app.ui.window import MainWindow

    store = Store(paths.db_path())
    window = MainWindow(MondrianService(tiny_settings(tiny_model_dir), store=store), store, tray=True)
    window.show()
    qtbot.waitExposed(window)
    exits: list[bool] = []
    window.exit_app = lambda: exits.append(True)
    tab = window.training
    with qtbot.waitSignal(tab.runner.stepStarted, timeout=LONG):
        tab.runner.start([LONG_STEP])
    yield window, tab, exits
    window.shutdown()
    window.close()
    window.deleteLater()


def test_no_training_quits_without_asking(qtbot, window):
    assert not window.training.running
    assert window.confirm_quit()
    assert AppEvents(window).eventFilter(QApplication.instance(), QEvent(QEvent.Type.Quit)) is False


def test_dont_quit_keeps_everything_running(qtbot, training_window):
    window, tab, exits = training_window
    seen: list[str] = []
    answer(qtbot, CANCEL_LABEL, seen)
    swallowed = AppEvents(window).eventFilter(QApplication.instance(), QEvent(QEvent.Type.Quit))
    assert swallowed is True and seen[0] == "A training run is still going."
    assert tab.running and window.isVisible() and not exits

    answer(qtbot, CANCEL_LABEL, seen)  # closing the window (no menubar icon here) asks the same
    window.close()
    assert window.isVisible() and tab.running and len(seen) == 4


def test_stop_cleanly_then_quit(qtbot, training_window):
    window, tab, exits = training_window
    seen: list[str] = []
    answer(qtbot, STOP_LABEL, seen)
    with qtbot.waitSignal(tab.runEnded, timeout=LONG) as ended:
        assert window.confirm_quit() is True  # the quit goes ahead once the process has stopped
    assert seen and not tab.running
    ok, message = ended.args
    assert not ok and message.endswith(": stopped")  # a stop, not a crash: the run can be resumed
    assert "cancelled" in tab.status.text().lower() and not tab.last_error
    # no epoch had finished: the question did not promise one, and the next start says what happened
    assert "no epoch has finished yet, so a stopped run keeps nothing" in seen[1]
    assert "last finished epoch" not in seen[1]
    from app.ui.training.training_tab import TrainingTab

    later = TrainingTab(window.service, window.bridge, window.store)
    qtbot.addWidget(later)
    assert "before the first epoch finished" in later.run_title.text()
    assert later.run_title.text() != "No training run yet."


def test_finish_first_then_quit(qtbot, training_window):
    window, tab, exits = training_window
    seen: list[str] = []
    answer(qtbot, NO_TRAY_LABEL, seen)  # offscreen there is no menubar icon: the window stays
    assert window.confirm_quit() is False
    guard = window.quit_guard
    assert guard.waiting and tab.running and window.isVisible() and not exits
    assert "quits when this run has finished" in tab.status.text()
    assert window.tray.training_action.isVisible() and "quits when it is done" in window.tray.training_action.text()

    with qtbot.waitSignal(tab.runEnded, timeout=LONG):
        tab.runner.stop()  # here the "run" ends by a stop; a real one ends by finishing
    qtbot.waitUntil(lambda: exits == [True], timeout=LONG)
    assert not guard.waiting and not window.tray.training_action.isVisible()
    assert window.tray.notifications and window.tray.notifications[-1][1].endswith("Mondrian has quit.")


def test_coming_back_to_the_window_cancels_the_waiting_quit(qtbot, training_window):
    window, tab, exits = training_window
    answer(qtbot, NO_TRAY_LABEL, [])
    assert window.confirm_quit() is False and window.quit_guard.waiting
    window.bring_to_front()
    assert not window.quit_guard.waiting
    with qtbot.waitSignal(tab.runEnded, timeout=LONG):
        tab.runner.stop()
    qtbot.wait(50)
    assert not exits
