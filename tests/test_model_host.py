"""The model host on the real tiny model: one worker thread, streaming, cancel, stats, offline errors."""

from __future__ import annotations

import threading

import pytest

from app.engine.advisors import get_advisor
from app.engine.critique.prompts import critique_prompt
from app.engine.critique.report import parse_report, report_json_schema
from app.engine.model.host import CancelledError, GenerationRequest, ModelHost
from app.engine.model.source import ModelNotAvailableError, missing_model_message, resolve_model


@pytest.fixture(scope="module")
def host(tiny_model_dir):
    h = ModelHost(str(tiny_model_dir))
    yield h
    h.shutdown()


def test_load_once_on_one_thread(host):
    first = host.load().result(60)
    assert host.load().result(60) is first
    threads = {host.call(lambda _l: threading.current_thread().name).result(10) for _ in range(3)}
    assert threads == {"mondrian-model"}
    assert first.load_seconds > 0


def test_streams_tokens_and_reports_stats(host, tiny_image):
    chunks: list[str] = []
    req = GenerationRequest(prompt=critique_prompt(get_advisor("ansel")), image=tiny_image, max_tokens=2000,
                            schema=report_json_schema(24), on_token=lambda rid, t: chunks.append(t))
    out = host.generate(req).result(120)
    assert out.request_id == req.request_id and out.finish_reason == "stop"
    assert "".join(chunks) == out.text and len(chunks) > 10
    report = parse_report(out.text)
    assert len(report.dimensions) == 8
    s = out.stats
    assert s.prompt_tokens > 64 and s.generation_tokens == len(chunks) or s.generation_tokens > 10
    assert s.time_to_first_token_s > 0 and s.generation_tps > 0 and s.peak_memory_gb > 0


def test_cancel_at_a_token(host, tiny_image):
    seen: list[str] = []
    # Constrained output yields text at every token (random free text is mostly unprintable bytes).
    req = GenerationRequest(prompt=critique_prompt(get_advisor("ansel")), image=tiny_image, max_tokens=5000,
                            schema=report_json_schema(400))

    def on_token(rid: str, text: str) -> None:
        seen.append(text)
        if len(seen) == 5:
            handle.cancel()

    req.on_token = on_token
    handle = host.generate(req)
    with pytest.raises(CancelledError):
        handle.result(60)
    assert len(seen) == 5
    # The host keeps working after a cancel.
    assert host.call(lambda loaded: loaded.model_id).result(10)


def test_model_missing_offline_names_model_and_remedy(tmp_path):
    with pytest.raises(ModelNotAvailableError) as err:
        resolve_model("mlx-community/not-a-real-model-4bit")
    msg = str(err.value)
    assert "mlx-community/not-a-real-model-4bit" in msg and "mondrian download" in msg and "offline" in msg
    assert missing_model_message("x/y").startswith("The model 'x/y'")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotAvailableError, match="no config.json"):
        resolve_model(str(tmp_path / "empty"))


def test_load_error_reaches_the_caller(tmp_path, tiny_image):
    h = ModelHost(str(tmp_path / "nowhere"))
    try:
        with pytest.raises(ModelNotAvailableError, match="does not exist"):
            h.load().result(30)
    finally:
        h.shutdown()
