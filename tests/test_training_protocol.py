"""Training owns its protocol: typed events, one hyperparameter dataclass, the pipeline's command lines."""

from __future__ import annotations

import io
import json
from dataclasses import fields
from pathlib import Path

import pytest

from training import events as ev
from training import hyper as hyperparams
from training.common import JsonLines
from training.hyper import Hyper, HyperError
from training.pipeline import EVALUATE, PREPARE, TRAIN, PipelineOptions, resume_pipeline, training_pipeline
from training.train_lora import build_parser


def test_every_event_round_trips_through_its_line() -> None:
    for kind, cls in ev.EVENTS.items():
        event = cls()
        back = ev.parse_event(event.to_json())
        assert type(back) is cls and back == event and json.loads(event.to_json())["event"] == kind


def test_the_writer_refuses_a_misspelt_field_and_the_reader_tolerates_new_ones() -> None:
    out = io.StringIO()
    with pytest.raises(TypeError):
        JsonLines(out).emit("step", stepp=1)
    with pytest.raises(ValueError, match="unknown training event"):
        JsonLines(out).emit("stpe", step=1)
    assert out.getvalue() == ""
    record = JsonLines(out).emit("step", step=3, loss=float("nan"))
    assert record["loss"] is None  # NaN is not JSON
    newer = json.dumps({"event": "step", "time": 1.0, "step": 4, "from_the_future": True})
    parsed = ev.parse_event(newer)
    assert isinstance(parsed, ev.Step) and parsed.step == 4 and parsed.total_steps == 0
    assert ev.parse_event("not json") is None and ev.parse_event('{"event": "nope"}') is None
    assert ev.parse_event('{"event": "step", "step": {"bad": 1}') is None


def test_argparse_defaults_and_help_come_from_the_dataclass() -> None:
    parser = build_parser()
    defaults = hyperparams.from_args(parser.parse_args(["--advisor", "me"]))
    assert defaults == Hyper()
    help_text = parser.format_help()
    for f in fields(Hyper):
        assert hyperparams.flag_name(f.name) in help_text
    assert "(default 8)" in help_text and "(default 5e-05)" in help_text


def test_config_file_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "train.toml"
    config.write_text('epochs = 3\nrank = 16\nlr = 1e-4\ngrad_checkpoint = true\n')
    args = build_parser().parse_args(["--advisor", "me", "--config", str(config), "--epochs", "4"])
    hyper = hyperparams.from_args(args)
    assert (hyper.epochs, hyper.rank, hyper.lr, hyper.grad_checkpoint, hyper.alpha) == (4, 16, 1e-4, True, 32.0)
    (tmp_path / "bad.json").write_text('{"rank": "eight"}')
    with pytest.raises(HyperError, match=r"bad.json: rank must be int, not 'eight'"):
        hyperparams.load_config(tmp_path / "bad.json")
    (tmp_path / "typo.json").write_text('{"rnak": 8}')
    with pytest.raises(HyperError, match="unknown hyperparameter 'rnak'"):
        hyperparams.load_config(tmp_path / "typo.json")
    (tmp_path / "broken.toml").write_text("epochs = ")
    with pytest.raises(HyperError, match="broken.toml: not valid TOML"):
        hyperparams.load_config(tmp_path / "broken.toml")


def test_validation_names_the_flag() -> None:
    with pytest.raises(HyperError, match="--rank must be at least 1"):
        Hyper(rank=0).validate()
    with pytest.raises(HyperError, match="--batch-size 3 must divide by the 2 processes"):
        Hyper(batch_size=3).validate(world_size=2)
    Hyper(batch_size=4).validate(world_size=2)


def test_the_pipeline_is_built_by_training() -> None:
    hyper = Hyper(epochs=2, rank=4, lr=1e-3, grad_checkpoint=True)
    steps = training_pipeline("me", "/photos", "model-x", hyper, PipelineOptions(augment=1), max_tokens=300,
                              activate=False)
    assert [s.label for s in steps] == [PREPARE, TRAIN, EVALUATE]
    train = steps[1]
    assert train.module == "training.train_lora"
    parsed = build_parser().parse_args(train.args)
    assert hyperparams.from_args(parsed) == hyper and parsed.model == "model-x" and parsed.activate is False
    assert steps[2].args[-2:] == ["--version", "newest"]  # the version the training step publishes
    several = training_pipeline("me", "/p", "m", hyper, PipelineOptions(), max_tokens=300, hosts=["a", "b"])[1]
    assert several.module == "training.distributed" and several.args[:4] == ["launch", "--hosts", "a,b", "--"]
    resume = resume_pipeline("me", PipelineOptions(), max_tokens=300)
    assert resume[0].args == ["--advisor", "me", "--resume"] and resume[1].label == EVALUATE


def test_gui_fields_cover_the_spin_boxes() -> None:
    names = [f.name for f in hyperparams.gui_fields()]
    assert names == ["epochs", "rank", "dropout", "lr", "batch_size", "grad_checkpoint"]
    for f in hyperparams.gui_fields():
        assert f.metadata["label"] and f.metadata["help"]


def test_an_event_naming_a_non_utf8_file_is_written_readable_with_its_exact_bytes() -> None:
    """A photo named in Latin-1 (``caf\\xe9.jpg``) reaches Python as a lone surrogate, which no UTF-8
    stream can carry: the line shows it as ``\\xe9`` and keeps the exact bytes in ``file_b64``."""
    import base64

    out = io.StringIO()
    JsonLines(out).emit("skipped", file="/shoot/caf\udce9.jpg", reason="not an image")
    line = out.getvalue()
    line.encode("utf-8")  # strict: no surrogate left
    record = json.loads(line)
    assert record["file"] == "/shoot/caf\\xe9.jpg"
    assert base64.b64decode(record["file_b64"]) == b"/shoot/caf\xe9.jpg"
