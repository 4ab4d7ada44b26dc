"""Photos decode together: the batched path gives the one-at-a-time reports under greedy decoding,
streams each row to its own callback and cancels one row without disturbing the others."""

from __future__ import annotations

import pytest
from PIL import Image

from app.engine.advisors import load_advisors
from app.engine.critique.prompts import critique_prompt
from app.engine.critique.report import parse_report, report_json_schema
from app.engine.model.host import CancelledError, GenerationRequest, ModelHost

SCHEMA = report_json_schema()
MAX_TOKENS = 300


def _photo(seed: int, size) -> Image.Image:
    img = Image.new("RGB", size)
    img.putdata([((x * 3 + seed * 50) % 256, (y * 11 + seed * 70) % 256, (x + y * seed) % 256)
                 for y in range(size[1]) for x in range(size[0])])
    return img


@pytest.fixture(scope="module")
def host(tiny_model_dir):
    h = ModelHost(str(tiny_model_dir))
    yield h
    h.shutdown()


@pytest.fixture(scope="module")
def photos():
    return [_photo(i, size) for i, size in enumerate([(96, 64), (64, 96), (96, 64), (80, 80)])]


def _requests(photos, advisor, **kwargs):
    return [GenerationRequest(prompt=critique_prompt(advisor), image=p, max_tokens=MAX_TOKENS, schema=SCHEMA,
                              cache=False, **kwargs) for p in photos]


def test_batched_reports_equal_one_at_a_time_and_stream_per_row(host, photos):
    advisor = next(iter(load_advisors().values())) if isinstance(load_advisors(), dict) else load_advisors()[0]
    single = [host.generate(r).result(300) for r in _requests(photos, advisor)]
    streamed: dict[str, list[str]] = {}
    batch = _requests(photos, advisor, on_token=lambda rid, text: streamed.setdefault(rid, []).append(text))
    handles = host.generate_batch(batch)
    outputs = [h.result(300) for h in handles]
    assert [o.text for o in outputs] == [s.text for s in single]
    assert [o.finish_reason for o in outputs] == [s.finish_reason for s in single]
    for request, output in zip(batch, outputs, strict=True):
        assert "".join(streamed[request.request_id]) == output.text
        assert output.request_id == request.request_id
    for output in outputs:
        if output.finish_reason == "stop":
            parse_report(output.text)  # schema-valid under the per-row constrained decoding


def test_cancel_one_row_and_the_others_finish_unchanged(host, photos):
    advisors = load_advisors()
    advisor = list(advisors.values())[1] if isinstance(advisors, dict) else advisors[1]
    whole = [h.result(300) for h in host.generate_batch(_requests(photos[:3], advisor))]
    handles: list = []

    def on_token(rid: str, text: str) -> None:
        if handles and rid == handles[1].request_id:
            handles[1].cancel()

    handles.extend(host.generate_batch(_requests(photos[:3], advisor, on_token=on_token)))
    # The rows left after the cancel decode exactly as they do in the uncancelled batch. (Against
    # the one-at-a-time path a row of a batch of 3 can differ here: the batched matmuls reduce in
    # another order, and the random tiny model has near-ties between digits; the test above shows
    # the equality on rows without such a tie.)
    assert handles[0].result(300).text == whole[0].text
    assert handles[2].result(300).text == whole[2].text
    with pytest.raises(CancelledError):
        handles[1].result(300)
