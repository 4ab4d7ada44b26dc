"""Model strategies for the service (seeds 000-002): base / fine_tuned / ab_test, the A/B split,
start-up refusal without a loadable adapter, and the routed model really answering."""

from __future__ import annotations

import random
import shutil
import threading
from pathlib import Path

import pytest
from PIL import Image

from app.cli import main
from app.engine.adapters import versions as adapter_versions
from app.engine.adapters.versions import AdapterManifest, AdapterVersion
from app.engine.model_strategy import (
    ABTestStrategy,
    BaseModelStrategy,
    FineTunedStrategy,
    ModelStrategyError,
    adapter_ref,
    build_model_strategy,
    current_route,
    use_route,
)
from app.engine.service import MondrianService
from app.engine.settings import Settings
from app.engine.store.database import Store

ADVISOR = "ansel"


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.jpg"
    img = Image.new("RGB", (96, 64), (40, 90, 160))
    img.putpixel((10, 10), (255, 255, 255))
    img.save(path, "JPEG")
    return path


def make_service(model_dir: Path, strategy=None, store=None) -> MondrianService:
    return MondrianService(Settings(model=str(model_dir), max_text_chars=24, max_tokens=2000),
                           model_strategy=strategy, store=store)


def publish(adapter: Path, base_model: str) -> AdapterVersion:
    staged = adapter_versions.staging_dir(ADVISOR)
    for name in ("adapter_config.json", "adapters.safetensors"):
        shutil.copy(adapter / name, staged / name)
    return adapter_versions.publish(ADVISOR, staged, AdapterManifest(ADVISOR, "", base_model=base_model))


# ---------------------------------------------------------------------------- configuration


def test_building_strategies_and_their_errors(tmp_path: Path):
    assert build_model_strategy(None) is None
    assert isinstance(build_model_strategy("base"), BaseModelStrategy)
    assert isinstance(build_model_strategy("base", lora_path=tmp_path), BaseModelStrategy)  # ignored, warned
    assert isinstance(build_model_strategy("fine_tuned", tmp_path), FineTunedStrategy)
    ab = build_model_strategy("ab_test", tmp_path, 0.25, seed=7)
    assert isinstance(ab, ABTestStrategy) and ab.split == 0.25 and ab.seed == 7
    with pytest.raises(ModelStrategyError, match="needs --lora_path"):
        build_model_strategy("fine_tuned")
    with pytest.raises(ModelStrategyError, match="needs --lora_path"):
        build_model_strategy("ab_test", None)
    with pytest.raises(ModelStrategyError, match="does not exist"):
        build_model_strategy("fine_tuned", tmp_path / "nope")
    for split in (-0.1, 1.5, float("nan"), True):
        with pytest.raises(ModelStrategyError, match="from 0 to 1"):
            build_model_strategy("ab_test", tmp_path, split)
    with pytest.raises(ModelStrategyError, match="unknown --model_mode"):
        build_model_strategy("sometimes")
    with pytest.raises(ModelStrategyError, match="--lora_path is used with"):
        build_model_strategy(None, tmp_path)


def test_routes():
    assert BaseModelStrategy().route().model_used == "base"
    assert BaseModelStrategy().route().adapter is None


def test_a_store_version_folder_is_labelled_by_its_version(home: Path, tmp_path: Path, tiny_adapters, tiny_model_dir):
    version = publish(tiny_adapters["a"], str(tiny_model_dir))
    ref = adapter_ref(version.path)
    assert isinstance(ref, AdapterVersion) and ref.version == version.version and ref.advisor_id == ADVISOR
    strategy = FineTunedStrategy(version.path)
    assert strategy.route().adapter_version == version.version
    assert adapter_ref(tiny_adapters["a"]) == tiny_adapters["a"]  # a plain folder stays a folder
    assert FineTunedStrategy(tiny_adapters["a"]).route().adapter_version == str(tiny_adapters["a"])


def test_the_route_lives_in_the_calling_thread():
    route = BaseModelStrategy().route()
    seen: list[object] = []
    with use_route(route):
        assert current_route() is route
        t = threading.Thread(target=lambda: seen.append(current_route()))
        t.start()
        t.join()
    assert current_route() is None and seen == [None]


# ---------------------------------------------------------------------------- the A/B split


@pytest.mark.parametrize("split", [0.1, 0.5, 0.8])
def test_ab_split_is_honoured_over_many_draws(tmp_path: Path, split: float):
    ab = ABTestStrategy(tmp_path, split, seed=1234)
    routes = [ab.route() for _ in range(400)]
    fine = sum(r.model_used == "ab_test_fine_tuned" for r in routes) / len(routes)
    assert abs(fine - split) < 0.075  # > 3 standard deviations of a binomial(400, split)
    assert {r.model_used for r in routes} == {"ab_test_base", "ab_test_fine_tuned"}
    assert all((r.adapter is not None) == (r.model_used == "ab_test_fine_tuned") for r in routes)
    assert all(r.adapter_version == str(tmp_path) for r in routes)  # both arms record the version tested


def test_ab_routing_is_reproducible_with_a_seed(tmp_path: Path):
    a = [ABTestStrategy(tmp_path, 0.5, seed=99).route().model_used for _ in range(1)]
    first = ABTestStrategy(tmp_path, 0.5, seed=99)
    second = ABTestStrategy(tmp_path, 0.5, seed=99)
    seq1 = [first.draw() for _ in range(200)]
    seq2 = [second.draw() for _ in range(200)]
    assert seq1 == seq2
    rng = random.Random(99)
    assert seq1 == [rng.random() < 0.5 for _ in range(200)]  # the documented rule: random() < split
    assert a[0] == ("ab_test_fine_tuned" if seq1[0] else "ab_test_base")
    assert [ABTestStrategy(tmp_path, 0.5, seed=5).draw() for _ in range(50)] != seq1[:50]


def test_ab_split_edges_and_thread_safety(tmp_path: Path):
    assert not any(ABTestStrategy(tmp_path, 0.0, seed=1).draw() for _ in range(300))
    assert all(ABTestStrategy(tmp_path, 1.0, seed=1).draw() for _ in range(300))
    ab = ABTestStrategy(tmp_path, 0.5, seed=3)
    results: list[bool] = []
    lock = threading.Lock()

    def draw_many() -> None:
        mine = [ab.draw() for _ in range(250)]
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=draw_many) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rng = random.Random(3)
    expected = [rng.random() < 0.5 for _ in range(1000)]
    assert len(results) == 1000 and sum(results) == sum(expected)  # each draw taken exactly once


# ---------------------------------------------------------------------------- start-up refusal


def test_fine_tuned_refuses_to_start_without_an_adapter(home: Path, tiny_model_dir: Path,
                                                        capsys: pytest.CaptureFixture[str]):
    assert main(["serve", "--model", str(tiny_model_dir), "--model_mode", "fine_tuned"]) == 1
    err = capsys.readouterr().err
    assert "--model_mode fine_tuned needs --lora_path" in err


def test_fine_tuned_refuses_a_folder_without_adapter_files(home: Path, tiny_model_dir: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]):
    empty = tmp_path / "empty-adapter"
    empty.mkdir()
    assert main(["serve", "--model", str(tiny_model_dir), "--model_mode", "fine_tuned",
                 "--lora_path", str(empty)]) == 1
    err = capsys.readouterr().err
    assert "adapter cannot be used" in err and "adapter_config.json" in err and str(empty) in err


def test_fine_tuned_refuses_a_corrupt_adapter(home: Path, tiny_model_dir: Path, tmp_path: Path, tiny_adapters,
                                              capsys: pytest.CaptureFixture[str]):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_adapters["a"], broken)
    weights = broken / "adapters.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert main(["serve", "--model", str(tiny_model_dir), "--model-mode", "fine_tuned",
                 "--lora-path", str(broken)]) == 1
    err = capsys.readouterr().err
    assert "corrupt" in err and "adapters.safetensors" in err


def test_ab_test_refuses_an_adapter_for_another_model(home: Path, tiny_model_dir: Path, tmp_path: Path,
                                                      tiny_adapters, capsys: pytest.CaptureFixture[str]):
    other = tmp_path / "other"
    shutil.copytree(tiny_adapters["a"], other)
    (other / "manifest.json").write_text('{"advisor_id": "ansel", "version": "v1", "base_model": "some/other-model"}')
    assert main(["serve", "--model", str(tiny_model_dir), "--model_mode", "ab_test",
                 "--lora_path", str(other)]) == 1
    assert "some/other-model" in capsys.readouterr().err


def test_fine_tuned_refuses_without_the_model(home: Path, tmp_path: Path, tiny_adapters,
                                              capsys: pytest.CaptureFixture[str]):
    assert main(["serve", "--model", str(tmp_path / "no-model"), "--model_mode", "fine_tuned",
                 "--lora_path", str(tiny_adapters["a"])]) == 1
    assert "needs the model" in capsys.readouterr().err


def test_bad_split_flag_is_a_usage_error(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--model_mode", "ab_test", "--ab_test_split", "1.5"])
    assert exc.value.code == 2
    assert "from 0 to 1" in capsys.readouterr().err


# ---------------------------------------------------------------------------- the routed model answers


def test_strategies_end_to_end(home: Path, tmp_path: Path, tiny_model_dir: Path, tiny_adapters, photo: Path):
    """base = the plain base output; fine_tuned = the adapter's output; ab_test picks one of those two
    per request exactly as its seeded RNG says, and every job records which."""
    store = Store(tmp_path / "jobs.db")
    plain = make_service(tiny_model_dir, store=store)
    base = make_service(tiny_model_dir, BaseModelStrategy(), store)
    fine = make_service(tiny_model_dir, FineTunedStrategy(tiny_adapters["a"]), store)
    ab = make_service(tiny_model_dir, ABTestStrategy(tiny_adapters["a"], 0.5, seed=11), store)
    try:
        for svc in (base, fine, ab):
            svc.model_strategy.prepare(svc.host, timeout=120)
        reference = plain.critique(photo, ADVISOR, "baseline")
        assert reference.model_used == "base"
        base_result = base.critique(photo, ADVISOR, "baseline")
        assert base_result.model_used == "base" and base_result.adapter_version is None
        assert base_result.raw_text == reference.raw_text
        fine_result = fine.critique(photo, ADVISOR, "baseline")
        assert fine_result.model_used == "fine_tuned" and fine_result.adapter_version == str(tiny_adapters["a"])
        assert fine_result.raw_text != reference.raw_text  # the adapter really answered
        rng = random.Random(11)
        expected = ["ab_test_fine_tuned" if rng.random() < 0.5 else "ab_test_base" for _ in range(6)]
        assert len(set(expected)) == 2  # this seed exercises both arms
        for want in expected:
            result = ab.critique(photo, ADVISOR, "baseline")
            assert result.model_used == want
            assert result.raw_text == (fine_result if want == "ab_test_fine_tuned" else reference).raw_text
            job = store.get_job(result.job_id)
            assert job.model_used == want and job.adapter_version == str(tiny_adapters["a"])
            assert job.status == "completed"
        by = {s.model_used: s.count for s in store.stats()}
        assert by == {"base": 2, "fine_tuned": 1, "ab_test_base": expected.count("ab_test_base"),
                      "ab_test_fine_tuned": expected.count("ab_test_fine_tuned")}
    finally:
        for svc in (plain, base, fine, ab):
            svc.close()
        store.close()


def test_base_never_applies_the_advisors_adapter(home: Path, tmp_path: Path, tiny_model_dir: Path, tiny_adapters,
                                                 photo: Path):
    """With an active adapter for the advisor, per-request lora uses it; under --model_mode base a lora
    request falls back and says why, and an ab_test base arm does the same."""
    publish(tiny_adapters["b"], str(tiny_model_dir))
    plain = make_service(tiny_model_dir)
    base = make_service(tiny_model_dir, BaseModelStrategy())
    ab_base = make_service(tiny_model_dir, ABTestStrategy(tiny_adapters["a"], 0.0, seed=0))
    try:
        base.model_strategy.prepare(base.host, timeout=120)
        ab_base.model_strategy.prepare(ab_base.host, timeout=120)
        lora = plain.critique(photo, ADVISOR, "lora")
        assert lora.effective_mode == "lora" and lora.model_used == "fine_tuned"
        baseline = plain.critique(photo, ADVISOR, "baseline")
        for svc, marker in ((base, "--model_mode base"), (ab_base, "routed this request to the base model")):
            result = svc.critique(photo, ADVISOR, "lora")
            assert result.effective_mode == "baseline"  # no references indexed: lora -> rag -> baseline
            assert marker in result.fallback_reason and "rag unavailable" in result.fallback_reason
            assert result.adapter_version in (None, str(tiny_adapters["a"]))
            assert result.model_used in ("base", "ab_test_base")
            assert result.raw_text == baseline.raw_text != lora.raw_text
            auto = svc.critique(photo, ADVISOR, "auto")
            assert auto.fallback_reason.startswith("auto: lora unavailable") and auto.raw_text == baseline.raw_text
    finally:
        for svc in (plain, base, ab_base):
            svc.close()


def test_fine_tuned_pins_its_adapter_over_the_advisors(home: Path, tiny_model_dir: Path, tiny_adapters, photo: Path):
    """--lora_path wins over the advisor's active adapter, for every pass."""
    publish(tiny_adapters["b"], str(tiny_model_dir))
    fine = make_service(tiny_model_dir, FineTunedStrategy(tiny_adapters["a"]))
    plain = make_service(tiny_model_dir)
    try:
        fine.model_strategy.prepare(fine.host, timeout=120)
        result = fine.critique(photo, ADVISOR, "lora")
        assert result.effective_mode == "lora" and result.model_used == "fine_tuned"
        assert result.adapter_version == str(tiny_adapters["a"])
        # lora and baseline share the prompt: on adapter "a" both give the same text ...
        assert result.raw_text == fine.critique(photo, ADVISOR, "baseline").raw_text
        # ... which is not what the advisor's own adapter "b" says.
        own = plain.critique(photo, ADVISOR, "lora")
        assert own.adapter_version != result.adapter_version and own.raw_text != result.raw_text
    finally:
        fine.close()
        plain.close()


def test_route_does_not_override_deliberate_base_requests(tiny_image):
    """RAG profiles stay on the base model under a fine-tuned route (comparable with the index)."""
    from app.engine.critique.prompts import profile_prompt
    from app.engine.model.host import GenerationRequest
    from app.engine.model_strategy import ModelRoute, pin_request, use_route

    route = ModelRoute(model_used="fine_tuned", adapter="/some/adapter", adapter_version="v1")
    profile = GenerationRequest(prompt=profile_prompt(), image=tiny_image, adapter=None, keep_adapter=True)
    critique = GenerationRequest(prompt=profile_prompt(), image=tiny_image, adapter=None)
    with use_route(route):
        pin_request(profile)
        pin_request(critique)
    assert profile.adapter is None and critique.adapter == "/some/adapter"
