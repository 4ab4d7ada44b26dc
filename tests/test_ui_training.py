"""The Training tab end to end on the tiny model: advisor, portfolio, drafts, edits, a real training
run through the subprocesses (progress, ETA, loss plot), evaluation, activate / roll back."""

from __future__ import annotations

import random

import pytest
from PIL import Image
from ui_support import LONG, make_window

from app.engine.adapters import versions as adapter_versions
from app.ui.training.training_tab import TRAIN


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MONDRIAN_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def make_portfolio(folder, n: int = 4):
    folder.mkdir()
    rng = random.Random(3)
    for i in range(n):
        img = Image.new("RGB", (160, 120), tuple(rng.randrange(256) for _ in range(3)))
        img.paste(tuple(rng.randrange(256) for _ in range(3)), (20 + 10 * i, 30, 90, 100))
        img.save(folder / f"p{i}.jpg", quality=90)
    (folder / "broken.jpg").write_bytes(b"not a photo at all")
    return folder


@pytest.mark.slow
def test_training_tab_drafts_trains_evaluates_and_activates(qtbot, tiny_model_dir, home, tmp_path):
    window = make_window(qtbot, tiny_model_dir, home)
    try:
        tab = window.training
        window.tabs.setCurrentWidget(tab)

        # A personal advisor: it appears in both tabs.
        tab.new_name.setText("Test Street")
        tab.new_persona.setPlainText("Loves hard light, geometry and people in the city.")
        with qtbot.waitSignal(tab.advisorsChanged, timeout=LONG):
            assert tab.create_advisor() == "test_street"
        assert tab.advisor_id() == "test_street"
        assert window.critique.bar.advisor_combo.findData("test_street") >= 0
        tab.new_name.setText("Test Street")
        assert tab.create_advisor() is None and "exists already" in tab.last_error

        # Portfolio: thumbnails for the readable photos, the broken one flagged.
        portfolio = make_portfolio(tmp_path / "portfolio")
        scan = tab.set_portfolio(str(portfolio))
        with qtbot.waitSignal(scan.result, timeout=LONG):
            pass
        assert [p.path.name for p in tab.photos] == ["broken.jpg", "p0.jpg", "p1.jpg", "p2.jpg", "p3.jpg"]
        assert tab.photos[0].problem and all(p.thumbnail for p in tab.photos[1:])
        assert tab.profiles.grid.count() == 5 and tab.profiles.table.rowCount() == 5
        assert not tab.train(), "training without profiles must be refused"
        assert "need a profile" in tab.last_error

        # Drafts by the resident base model, in the background.
        draft = tab.draft_profiles()
        with qtbot.waitSignal(draft.result, timeout=LONG) as drafted:
            pass
        assert sorted(drafted.args[0].drafted) == ["p0.jpg", "p1.jpg", "p2.jpg", "p3.jpg"]
        assert tab.profiles.counts() == {"photos": 5, "draft": 4, "edited": 0, "none": 1}

        # The user corrects a score: saved as their own profile; a bad value is refused with a message.
        tab.profiles.set_score(1, "composition", "9")
        profile = window.store.profiles.get_profile("test_street", str((portfolio / "p0.jpg").resolve()))
        assert profile.scores["composition"] == 9 and profile.edited and profile.source == "user"
        tab.profiles.set_score(1, "lighting", "eleven")
        assert "must be a number from 0 to 10" in tab.last_error
        tab.profiles.table.selectRow(1)
        tab.profiles.comment_edits["lighting"].setText("Harsh noon light flattens the street.")
        tab.profiles.save_detail()
        profile = window.store.profiles.get_profile("test_street", str((portfolio / "p0.jpg").resolve()))
        assert profile.comments["lighting"] == "Harsh noon light flattens the street."
        assert tab.profiles.counts()["edited"] == 1

        # Train for real through the subprocesses; watch progress, ETA and the loss plot.
        tab.epochs.setValue(2)
        tab.rank.setValue(4)
        tab.lr.setValue(0.001)
        tab.eval_limit.setValue(1)
        window.service.settings.max_tokens = 300  # evaluation decodes unconstrained: keep it short
        steps_seen: list[int] = []
        tab.runner.progressEvent.connect(lambda label, e: steps_seen.append(e.step) if e.kind == "step" else None)
        bar_values: list[int] = []
        tab.progress.valueChanged.connect(bar_values.append)
        with qtbot.waitSignal(tab.trainingFinished, timeout=LONG * 3) as finished:
            assert tab.train()
            assert tab.runner.running and tab.cancel_button.isEnabled()
        assert not tab.last_error, tab.last_error
        assert steps_seen and steps_seen == sorted(steps_seen) and tab.loss_plot.train
        assert len(tab.loss_plot.val) == 2 and max(bar_values) > 500
        assert tab.progress.value() == 0 and not tab.progress.isTextVisible()  # idle: no "100 %" left behind
        assert "ETA" in tab.eta_label.text() or tab.eta_label.text() == "Done."
        assert tab.new_version == "v1" and "v1 is ready" in finished.args[0]
        events = [e.kind for _, e in tab.runner.events]
        assert "saved" in events and "published" in events and "done" in events

        # Versions: evaluation shown; roll back and activate.
        active = adapter_versions.active_version("test_street")
        assert active is not None and active.version == "v1"
        assert tab.versions.selected_version() == "v1"
        assert "MAE" in tab.versions.eval_summary.text() and "base" in tab.versions.eval_view.toPlainText()
        tab.versions.rollback()
        assert adapter_versions.active_version("test_street") is None
        assert "none" in tab.versions.status.text()
        tab.versions.select("v1")
        tab.versions.activate_selected()
        assert adapter_versions.active_version("test_street").version == "v1"
        combo = window.critique.bar.advisor_combo  # a new advisor is listed, never switched to by itself
        assert combo.currentData() != "test_street" and combo.findData("test_street") >= 0
        combo.setCurrentIndex(combo.findData("test_street"))
        assert "v1" in window.critique.bar.advisor_info.text()
    finally:
        window.shutdown()


def test_training_cancel_stops_the_process(qtbot, tiny_model_dir, home, tmp_path):
    window = make_window(qtbot, tiny_model_dir, home)
    try:
        tab = window.training
        runner = tab.runner
        from app.ui.training.training_process import Step

        with qtbot.waitSignal(runner.stepStarted, timeout=LONG):
            runner.start([Step(TRAIN, "training.train_lora", ["--advisor", "ansel", "--model", str(tiny_model_dir)]),
                          Step("never", "training.evaluate", ["--advisor", "ansel"])])
        with qtbot.waitSignal(runner.finished, timeout=LONG) as done:
            tab.cancel()
        assert done.args[0] is False and not runner.running
    finally:
        window.shutdown()


def test_a_failing_step_reports_its_error(qtbot, tiny_model_dir, home, tmp_path):
    window = make_window(qtbot, tiny_model_dir, home)
    try:
        tab = window.training
        tab.set_advisor("ansel")
        tab.folder_edit.setText(str(tmp_path))
        from app.ui.training.training_process import Step

        with qtbot.waitSignal(tab.runner.finished, timeout=LONG) as done:
            tab.runner.start([Step(TRAIN, "training.train_lora", ["--advisor", "ansel", "--model",
                                                                  str(tiny_model_dir)])])
        ok, message = done.args
        assert not ok and message.startswith(TRAIN) and "dataset" in message.lower()
        assert tab.last_error == message and tab.train_button.isEnabled()
    finally:
        window.shutdown()


def test_the_tab_remembers_folder_and_hyperparameters_and_offers_resume(qtbot, tiny_model_dir, home, tmp_path):
    """#10: portfolio folder and hyperparameters survive a restart (the settings file); #7: after a
    cancelled run the tab offers Resume in the user's words and resumes through training's pipeline."""
    from training.hyper import Hyper
    from training.run_state import RunState, run_dir

    portfolio = make_portfolio(tmp_path / "portfolio")
    window = make_window(qtbot, tiny_model_dir, home)
    try:
        tab = window.training
        assert tab.rank.value() == Hyper().rank and tab.lr.value() == pytest.approx(Hyper().lr)
        tab.set_advisor("ansel")
        tab.folder_edit.setText(str(portfolio))
        tab.rank.setValue(12)
        tab.form["eval_limit"].setValue(7)
        tab.hosts.restore("127.0.0.1, studio.local", True)
        tab._remember()  # what train() does before it starts
        assert tab.resume_button.isHidden()
    finally:
        window.shutdown()

    # An unfinished run with one finished epoch, as a cancelled run leaves it.
    state = RunState(advisor_id="ansel", model=str(tiny_model_dir), dataset_hash="x", hyper=Hyper(epochs=3))
    state.completed_epochs = 1
    run_dir("ansel").mkdir(parents=True, exist_ok=True)
    state.save(run_dir("ansel"))

    window = make_window(qtbot, tiny_model_dir, home)
    try:
        tab = window.training
        assert tab.folder_edit.text() == str(portfolio) and tab.rank.value() == 12
        assert tab.form["eval_limit"].value() == 7 and tab.hosts.selected() == ["127.0.0.1", "studio.local"]
        tab.set_advisor("ansel")
        assert not tab.resume_button.isHidden()
        tab.hosts.enabled.setChecked(False)
        with qtbot.waitSignal(tab.runner.finished, timeout=LONG) as done:
            assert tab.resume()
        started = [label for label, e in tab.runner.events if e.kind == "error"]
        assert started == [TRAIN] and not done.args[0]  # the fake run has no dataset: a clear error, no crash
        assert "dataset" in tab.last_error.lower() and "--" not in tab.status.text()
    finally:
        window.shutdown()


def test_evaluation_without_valid_reports_reads_n_a() -> None:
    from app.ui.training.versions_view import eval_summary

    data = {"samples": 3, "base": {"samples": 3, "valid_reports": 0, "mae": 0.0, "format_compliance": 0.0},
            "fine_tuned": {"samples": 3, "valid_reports": 0, "mae": 0.0, "format_compliance": 0.0},
            "comparison": {"mae_improvement_pct": 0.0}}
    text = eval_summary(data)
    assert "MAE n/a (base) → n/a (fine-tuned)" in text and "0.00" not in text
    assert "no output of the base model or the fine-tuned model was a valid report" in text
