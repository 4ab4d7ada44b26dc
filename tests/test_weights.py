"""The weights axis: base / fine_tuned / ab_test policies, the A/B split, start-up
refusal without a loadable adapter, and the chosen weights really answering."""

from __future__ import annotations

import random
import shutil
import threading
from pathlib import Path

import pytest
from PIL import Image

from app.cli import main
from app.engine.adapters import versions as adapter_versions
from app.engine.adapters.versions import AdapterManifest, AdapterVersion, adapter_ref
from app.engine.jobs import DEFAULT_STORE
from app.engine.model.weights_ref import AdapterRef
from app.engine.modes.weights import (
    ABDrawPolicy,
    BasePolicy,
    FixedAdapterPolicy,
    WeightsPolicyError,
    build_weights_policy,
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


def make_service(model_dir: Path, policy=None, store=DEFAULT_STORE) -> MondrianService:
    """A service on the tiny model; jobs go to ``store`` (default: the test's own data folder)."""
    return MondrianService(Settings(model=str(model_dir), max_text_chars=24, max_tokens=2000),
                           weights_policy=policy, store=store)


def publish(adapter: Path, base_model: str) -> AdapterVersion:
    staged = adapter_versions.staging_dir(ADVISOR)
    for name in ("adapter_config.json", "adapters.safetensors"):
        shutil.copy(adapter / name, staged / name)
    return adapter_versions.publish(ADVISOR, staged, AdapterManifest(ADVISOR, "", base_model=base_model))


# ---------------------------------------------------------------------------- configuration


def test_building_policies_and_their_errors(tmp_path: Path):
    assert build_weights_policy(None) is None
    assert isinstance(build_weights_policy("base"), BasePolicy)
    assert isinstance(build_weights_policy("base", lora_path=tmp_path), BasePolicy)  # ignored, warned
    assert isinstance(build_weights_policy("fine_tuned", tmp_path), FixedAdapterPolicy)
    ab = build_weights_policy("ab_test", tmp_path, 0.25, seed=7)
    assert isinstance(ab, ABDrawPolicy) and ab.split == 0.25 and ab.seed == 7
    with pytest.raises(WeightsPolicyError, match="needs an adapter folder") as err:
        build_weights_policy("fine_tuned")
    assert err.value.setting == "lora_path" and "--" not in str(err.value)  # engine words: no CLI flag
    with pytest.raises(WeightsPolicyError, match="needs an adapter folder"):
        build_weights_policy("ab_test", None)
    with pytest.raises(WeightsPolicyError, match="does not exist"):
        build_weights_policy("fine_tuned", tmp_path / "nope")
    for split in (-0.1, 1.5, float("nan"), True):
        with pytest.raises(WeightsPolicyError, match="from 0 to 1") as err:
            build_weights_policy("ab_test", tmp_path, split)
        assert err.value.setting == "ab_test_split" and "--" not in str(err.value)
    with pytest.raises(WeightsPolicyError, match="unknown model mode") as err:
        build_weights_policy("sometimes")
    assert err.value.setting == "model_mode"
    with pytest.raises(WeightsPolicyError, match="only used with model mode fine_tuned or ab_test"):
        build_weights_policy(None, tmp_path)


def test_the_base_policy_never_draws_an_adapter():
    draw = BasePolicy().draw()
    assert draw.model_used == "base" and draw.weights.adapter is None and not draw.weights.fine_tuned


def test_a_store_version_folder_is_labelled_by_its_version(home: Path, tmp_path: Path, tiny_adapters, tiny_model_dir):
    version = publish(tiny_adapters["a"], str(tiny_model_dir))
    ref = adapter_ref(version.path)
    assert isinstance(ref, AdapterRef) and ref == version.ref
    assert ref.version == ref.label == version.version and ref.advisor_id == ADVISOR
    assert FixedAdapterPolicy(version.path).draw().adapter_version == version.version
    assert FixedAdapterPolicy(version).draw().weights.label == version.version
    plain = adapter_ref(tiny_adapters["a"])  # a folder outside the store is named by its path
    assert plain.path == tiny_adapters["a"].resolve() and plain.version is None and plain.advisor_id is None
    assert FixedAdapterPolicy(tiny_adapters["a"]).draw().adapter_version == str(tiny_adapters["a"].resolve())


# ---------------------------------------------------------------------------- the A/B split


@pytest.mark.parametrize("split", [0.1, 0.5, 0.8])
def test_ab_split_is_honoured_over_many_draws(tmp_path: Path, split: float):
    ab = ABDrawPolicy(tmp_path, split, seed=1234)
    draws = [ab.draw() for _ in range(400)]
    fine = sum(d.model_used == "ab_test_fine_tuned" for d in draws) / len(draws)
    assert abs(fine - split) < 0.075  # > 3 standard deviations of a binomial(400, split)
    assert {d.model_used for d in draws} == {"ab_test_base", "ab_test_fine_tuned"}
    assert all(d.weights.fine_tuned == (d.model_used == "ab_test_fine_tuned") for d in draws)
    assert all(d.adapter_version == str(tmp_path) for d in draws)  # both arms record the version tested


def test_ab_routing_is_reproducible_with_a_seed(tmp_path: Path):
    a = [ABDrawPolicy(tmp_path, 0.5, seed=99).draw().model_used for _ in range(1)]
    first = ABDrawPolicy(tmp_path, 0.5, seed=99)
    second = ABDrawPolicy(tmp_path, 0.5, seed=99)
    seq1 = [first.flip() for _ in range(200)]
    seq2 = [second.flip() for _ in range(200)]
    assert seq1 == seq2
    rng = random.Random(99)
    assert seq1 == [rng.random() < 0.5 for _ in range(200)]  # the documented rule: random() < split
    assert a[0] == ("ab_test_fine_tuned" if seq1[0] else "ab_test_base")
    assert [ABDrawPolicy(tmp_path, 0.5, seed=5).flip() for _ in range(50)] != seq1[:50]


def test_ab_split_edges_and_thread_safety(tmp_path: Path):
    assert not any(ABDrawPolicy(tmp_path, 0.0, seed=1).flip() for _ in range(300))
    assert all(ABDrawPolicy(tmp_path, 1.0, seed=1).flip() for _ in range(300))
    ab = ABDrawPolicy(tmp_path, 0.5, seed=3)
    results: list[bool] = []
    lock = threading.Lock()

    def draw_many() -> None:
        mine = [ab.flip() for _ in range(250)]
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
    assert "--lora-path: model mode fine_tuned needs an adapter folder" in err  # the CLI names its flag


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


# ---------------------------------------------------------------------------- the chosen weights answer


def record_requests(service: MondrianService, monkeypatch: pytest.MonkeyPatch) -> list:
    """Watch the generation requests the service queues (they are still run for real)."""
    seen: list = []
    generate = service.host.generate

    def watching(request):
        seen.append(request)
        return generate(request)

    monkeypatch.setattr(service.host, "generate", watching)
    return seen


def index_references(service: MondrianService, tmp_path: Path, n: int = 3) -> None:
    from app.engine.rag.index import ReferenceIndex

    src = tmp_path / "refs"
    src.mkdir(exist_ok=True)
    for i in range(n):
        Image.new("RGB", (96, 64), (60 * i, 200 - 50 * i, 90)).save(src / f"ref{i}.jpg", "JPEG")
    assert ReferenceIndex(service.host, service.settings, service.store).update(ADVISOR, src).counts()["added"] == n


def test_policies_end_to_end(home: Path, tmp_path: Path, tiny_model_dir: Path, tiny_adapters, photo: Path):
    """base = the plain base output; fine_tuned = the adapter's output; ab_test picks one of those two
    per request exactly as its seeded RNG says, and every job records which."""
    store = Store(tmp_path / "jobs.db")
    plain = make_service(tiny_model_dir, store=store)
    base = make_service(tiny_model_dir, BasePolicy(), store)
    fine = make_service(tiny_model_dir, FixedAdapterPolicy(tiny_adapters["a"]), store)
    ab = make_service(tiny_model_dir, ABDrawPolicy(tiny_adapters["a"], 0.5, seed=11), store)
    try:
        for svc in (base, fine, ab):
            svc.prepare_weights(timeout=120)
        reference = plain.critique(photo, ADVISOR, "baseline")
        assert reference.model_used == "base"
        base_result = base.critique(photo, ADVISOR, "baseline")
        assert base_result.model_used == "base" and base_result.adapter_version is None
        assert base_result.raw_text == reference.raw_text and base_result.effective_mode == "baseline"
        fine_result = fine.critique(photo, ADVISOR, "baseline")
        assert fine_result.model_used == "fine_tuned" and fine_result.adapter_version == str(tiny_adapters["a"])
        assert fine_result.raw_text != reference.raw_text  # the adapter really answered ...
        assert fine_result.effective_mode == "lora"  # ... so the result never says baseline
        assert "baseline ran on an adapter" in fine_result.fallback_reason
        rng = random.Random(11)
        expected = ["ab_test_fine_tuned" if rng.random() < 0.5 else "ab_test_base" for _ in range(6)]
        assert len(set(expected)) == 2  # this seed exercises both arms
        for want in expected:
            result = ab.critique(photo, ADVISOR, "baseline")
            assert result.model_used == want
            assert result.effective_mode == ("lora" if want == "ab_test_fine_tuned" else "baseline")
            assert result.raw_text == (fine_result if want == "ab_test_fine_tuned" else reference).raw_text
            job = store.jobs.get_job(result.job_id)
            assert job.model_used == want and job.adapter_version == str(tiny_adapters["a"])
            assert job.status == "completed" and job.effective_mode == result.effective_mode
        by = {s.model_used: s.count for s in store.ratings.stats()}
        assert by == {"base": 2, "fine_tuned": 1, "ab_test_base": expected.count("ab_test_base"),
                      "ab_test_fine_tuned": expected.count("ab_test_fine_tuned")}
    finally:
        for svc in (plain, base, fine, ab):
            svc.close()
        store.close()


def test_base_never_applies_the_advisors_adapter(home: Path, tmp_path: Path, tiny_model_dir: Path, tiny_adapters,
                                                 photo: Path):
    """With an active adapter for the advisor, per-request lora uses it; under --model-mode base a lora
    request falls back along the chain and says why; an A/B base arm runs lora's pipeline on the base."""
    publish(tiny_adapters["b"], str(tiny_model_dir))
    plain = make_service(tiny_model_dir)
    base = make_service(tiny_model_dir, BasePolicy())
    try:
        base.prepare_weights(timeout=120)
        lora = plain.critique(photo, ADVISOR, "lora")
        assert lora.effective_mode == "lora" and lora.model_used == "fine_tuned"
        baseline = plain.critique(photo, ADVISOR, "baseline")
        result = base.critique(photo, ADVISOR, "lora")
        assert result.effective_mode == "baseline"  # no references indexed: lora -> rag -> baseline
        assert "model mode base" in result.fallback_reason and "rag unavailable" in result.fallback_reason
        assert result.adapter_version is None and result.model_used == "base"
        assert result.raw_text == baseline.raw_text != lora.raw_text
        auto = base.critique(photo, ADVISOR, "auto")
        assert auto.fallback_reason.startswith("auto: lora unavailable") and auto.raw_text == baseline.raw_text
        arm = plain.critique(photo, ADVISOR, "lora", weights=ABDrawPolicy(tiny_adapters["a"], 0.0, seed=0))
        assert (arm.effective_mode, arm.model_used) == ("baseline", "ab_test_base")
        assert arm.fallback_reason == "lora unavailable (the A/B test routed this request to the base model)"
        assert arm.raw_text == baseline.raw_text
    finally:
        plain.close()
        base.close()


def test_fine_tuned_runs_on_its_adapter_whatever_the_advisors(home: Path, tiny_model_dir: Path, tiny_adapters,
                                                             photo: Path):
    """--lora-path wins over the advisor's active adapter, for lora and auto alike; a broken advisor
    adapter (an error for a per-request lora) does not fail a request that runs on --lora-path."""
    version = publish(tiny_adapters["b"], str(tiny_model_dir))
    fine = make_service(tiny_model_dir, FixedAdapterPolicy(tiny_adapters["a"]))
    plain = make_service(tiny_model_dir)
    try:
        fine.prepare_weights(timeout=120)
        own = plain.critique(photo, ADVISOR, "lora")
        assert own.adapter_version == version.version
        (version.path / "adapter_config.json").unlink()  # the advisor's adapter is now broken
        from app.engine.adapters.manager import AdapterError

        with pytest.raises(AdapterError):
            plain.critique(photo, ADVISOR, "lora")
        results = [fine.critique(photo, ADVISOR, mode) for mode in ("lora", "auto")]
        for result in results:
            assert (result.effective_mode, result.model_used) == ("lora", "fine_tuned")
            assert result.adapter_version == str(tiny_adapters["a"]) and result.fallback_reason is None
            assert result.raw_text != own.raw_text  # adapter "a" answered, not the advisor's "b"
        assert results[0].raw_text == results[1].raw_text
    finally:
        fine.close()
        plain.close()


def test_both_ab_arms_run_the_same_pipeline(home: Path, tmp_path: Path, tiny_model_dir: Path, tiny_adapters,
                                             photo: Path, monkeypatch: pytest.MonkeyPatch):
    """The pipeline is resolved once, then the weights drawn: per mode, both arms make the same passes
    with the same prompts, and only the report pass's adapter differs (RAG's profile stays on the base).
    This is the engine path of the GUI's blind A/B (a policy carried by the request) and of serve's."""
    from app.engine.critique.prompts import profile_prompt

    service = make_service(tiny_model_dir)
    try:
        index_references(service, tmp_path)
        active = publish(tiny_adapters["b"], str(tiny_model_dir))  # the blind A/B tests the active version
        seen = record_requests(service, monkeypatch)
        for mode, passes in (("auto", 1), ("rag", 2), ("baseline", 1)):
            arms = {}
            for split, arm in ((1.0, "ab_test_fine_tuned"), (0.0, "ab_test_base")):
                seen.clear()
                result = service.critique(photo, ADVISOR, mode, weights=ABDrawPolicy(active, split, seed=0))
                assert result.model_used == arm and result.adapter_version == active.version
                arms[arm] = (result, [(r.prompt, r.adapter) for r in seen])
            (fine, fine_reqs), (base, base_reqs) = arms["ab_test_fine_tuned"], arms["ab_test_base"]
            assert len(fine_reqs) == len(base_reqs) == passes, mode
            assert [p for p, _ in fine_reqs] == [p for p, _ in base_reqs]  # the same prompts, references included
            assert len(fine.references) == len(base.references) == (3 if passes == 2 else 0)
            assert fine_reqs[-1][1] == active.ref and base_reqs[-1][1] is None
            if passes == 2:
                assert fine_reqs[0] == base_reqs[0] == (profile_prompt(facts=_facts(fine_reqs[0][0])), None)
                assert fine.effective_mode == base.effective_mode == "rag"
            else:
                assert (fine.effective_mode, base.effective_mode) == ("lora", "baseline")
    finally:
        service.close()


def _facts(prompt) -> list[str]:
    from app.engine.critique.prompts import facts_in_prompt

    return facts_in_prompt(prompt.user)


def test_rag_profile_pass_stays_on_the_base_under_fine_tuned(home: Path, tmp_path: Path, tiny_model_dir: Path,
                                                            tiny_adapters, photo: Path,
                                                            monkeypatch: pytest.MonkeyPatch):
    fine = make_service(tiny_model_dir, FixedAdapterPolicy(tiny_adapters["a"]))
    try:
        index_references(fine, tmp_path)
        seen = record_requests(fine, monkeypatch)
        result = fine.critique(photo, ADVISOR, "rag")
        assert (result.effective_mode, result.model_used, len(result.references)) == ("rag", "fine_tuned", 3)
        assert [r.adapter for r in seen] == [None, fine.weights_policy.weights.adapter]
    finally:
        fine.close()
