"""Off means off: an adapter toggled off leaves the plain base model (no LoRA work per token),
its output is the base's exactly, and switching on and off only moves module references."""

from __future__ import annotations

import pytest

from app.engine.adapters.manager import AdapterManager
from app.engine.critique.prompts import Prompt
from app.engine.model.host import GenerationRequest, ModelHost

PROMPT = Prompt(system="You are a critic.", user="Critique this photo.")


@pytest.fixture(scope="module")
def hosted(tiny_model_dir):
    host = ModelHost(str(tiny_model_dir))
    manager = AdapterManager(host)
    yield host, manager
    host.shutdown()


def _generate(host: ModelHost, image, adapter=None) -> str:
    request = GenerationRequest(prompt=PROMPT, image=image, max_tokens=12, adapter=adapter, cache=False)
    return host.generate(request).result(120).text


@pytest.mark.parametrize("kind", ["a", "dora"])
def test_off_is_the_plain_base_model(hosted, tiny_adapters, tiny_image, kind):
    host, manager = hosted
    base_text = _generate(host, tiny_image)

    def parameters(loaded):
        from mlx.utils import tree_flatten

        return sorted(name for name, _ in tree_flatten(loaded.model.parameters()))

    base_params = host.call(parameters).result(60)
    on_text = _generate(host, tiny_image, tiny_adapters[kind])
    assert host.call(parameters).result(60) != base_params  # the adapter's layers are in
    off_text = _generate(host, tiny_image)
    assert off_text == base_text and on_text != base_text
    # The model off is the base model itself: the same parameters, no lora_a/lora_b in the forward pass.
    assert host.call(parameters).result(60) == base_params
    assert _generate(host, tiny_image, tiny_adapters[kind]) == on_text  # on again, same answer


def test_switching_only_moves_module_references(hosted, tiny_adapters, tiny_image):
    host, manager = hosted
    _generate(host, tiny_image, tiny_adapters["a"])
    _generate(host, tiny_image)
    timings = host.call(lambda loaded: dict(loaded.state["adapters"].timings)).result(60)
    assert timings["off_s"] < 1.0 and timings.get("on_s", 0.0) < 1.0  # generous: a few ms on a real model
    status = manager.status(60)
    assert status.applied == str(tiny_adapters["a"]) and not status.enabled
