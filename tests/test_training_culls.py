"""The photographer's culls as training examples and agreement as the measure (no model here: fast).

Decisions read from a real store (the window's cull journal) and real files (Lightroom's rating in
a sidecar, read with exiv2); Mondrian's own written values are not the user's; frames without a
decision never become examples; agreement figures checked on orderings with known answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from app.engine.advisors import get_advisor
from app.engine.critique.report import DIMENSIONS
from app.engine.critique.triage import read_scores, triage_prompt
from app.engine.review.culling import CullJournal
from app.engine.store.database import Store
from app.engine.store.reviews import FrameRow
from training import agreement as agree
from training.culls import (
    Decision,
    build_examples,
    file_decision,
    kept,
    rejected_scores,
    review_decisions,
    target_scores,
    triage_messages,
    user_level,
)
from training.learn import split


def _mean(scores: dict[str, int]) -> float:
    return sum(scores.values()) / len(scores)


def _sidecar(path: Path, attrs: str) -> None:
    path.write_text(
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        f'xmlns:xmpDM="http://ns.adobe.com/xmp/1.0/DynamicMedia/" {attrs}/>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>', encoding="utf-8")


EARLIER = dict(zip(DIMENSIONS, [6, 5, 7, 5, 6, 4, 5, 6], strict=True))


def test_the_mapping_moves_the_advisors_profile_to_the_users_level() -> None:
    four = target_scores(Decision("a.jpg", "s", "g", stars=4, earlier=EARLIER))
    assert round(_mean(four)) == 8  # 4 stars stand for 7.75
    assert four["lighting"] - four["composition"] == EARLIER["lighting"] - EARLIER["composition"]  # profile kept
    reject = target_scores(Decision("b.jpg", "s", "g", flag="reject", earlier=EARLIER))
    assert _mean(reject) < 3 and min(reject.values()) >= 0
    plain_pick = target_scores(Decision("c.jpg", "s", "g", flag="pick"))
    assert set(plain_pick.values()) == {8}  # a pick without stars counts as 4 stars; no earlier answer
    edited = dict.fromkeys(DIMENSIONS, 3)
    assert target_scores(Decision("d.jpg", "s", "g", stars=5, edited=edited)) == edited  # the user's own scores
    # the order the user gave: reject < 2 stars < 4 stars < 4 stars + pick
    levels = [user_level(Decision("x", "s", "g", **kw)) for kw in
              ({"flag": "reject", "stars": 5}, {"stars": 2}, {"stars": 4}, {"stars": 4, "flag": "pick"})]
    assert levels == sorted(levels) and len(set(levels)) == 4
    assert not kept(Decision("x", "s", "g", stars=2)) and kept(Decision("x", "s", "g", flag="pick"))


def test_rejected_is_the_earlier_answer_when_it_disagrees_else_the_wrong_direction() -> None:
    d = Decision("a.jpg", "s", "g", stars=5, earlier=EARLIER)
    target = target_scores(d)
    assert rejected_scores(d, target) == EARLIER  # the advisor said ~5.5, the user 5 stars
    agreeing = Decision("b.jpg", "s", "g", stars=3, earlier=dict.fromkeys(DIMENSIONS, 6))
    t = target_scores(agreeing)
    wrong = rejected_scores(agreeing, t)
    assert wrong != agreeing.earlier and _mean(wrong) < _mean(t)  # a keeper: the wrong way is lower
    rej = Decision("c.jpg", "s", "g", flag="reject")
    assert _mean(rejected_scores(rej, target_scores(rej))) > 5  # a reject: the wrong way is higher


def test_examples_only_for_decided_frames_in_the_triage_format(tmp_path: Path) -> None:
    advisor = get_advisor("ansel")
    decisions = [Decision("a.jpg", "s", "s/burst-1", stars=4, flag="pick"),
                 Decision("b.jpg", "s", "s/burst-1", flag="reject"),
                 Decision("c.jpg", "s", "s/c.jpg")]  # never decided: no example
    loaded: list[str] = []
    image = Image.new("RGB", (32, 32))
    x = build_examples(decisions, advisor, lambda p: loaded.append(p) or image)
    assert [d.path for d in x.decisions] == loaded == ["a.jpg", "b.jpg"]
    assert len(x.sft) == len(x.preference) == 2
    prompt = triage_prompt(advisor)
    assert x.sft[0]["messages"][:2] == [{"role": "system", "content": prompt.system},
                                        {"role": "user", "content": prompt.user}] == triage_messages(advisor)
    for row in x.preference:
        chosen, rejected = read_scores(row["chosen"]), read_scores(row["rejected"])  # the triage answer's reader
        assert list(json.loads(row["chosen"])) == list(DIMENSIONS) and chosen != rejected
    pick, reject = (read_scores(r["chosen"]) for r in x.preference)
    assert _mean(pick) > _mean(read_scores(x.preference[0]["rejected"]))  # burst pick: chosen above rejected
    assert _mean(reject) < _mean(read_scores(x.preference[1]["rejected"]))  # its sibling: the opposite way


def test_decisions_from_the_window_cull_and_from_lightroom_never_mondrians_own(home: Path, tmp_path: Path) -> None:
    names = ["culled.jpg", "lightroom.jpg", "mondrian_wrote.jpg", "untouched.jpg"]
    paths = []
    for i, n in enumerate(names):
        Image.new("RGB", (40, 30), (40 * i, 80, 120)).save(tmp_path / n, "JPEG")
        paths.append(str(tmp_path / n))
    _sidecar(tmp_path / "culled.xmp", 'xmp:Rating="1"')  # the window's cull wins over a file rating
    _sidecar(tmp_path / "lightroom.xmp", 'xmp:Rating="5" xmp:Label="Green"')
    _sidecar(tmp_path / "mondrian_wrote.xmp", 'xmp:Rating="4"')
    store = Store(tmp_path / "mondrian.db")
    review = store.reviews.open_review(str(tmp_path), "ansel", "baseline", "k", recursive=False, settings={})
    store.reviews.set_frames(review.id, [FrameRow(review.id, p, position=i) for i, p in enumerate(paths)])
    journal = CullJournal(store, review.id)
    journal.apply("Pick", [paths[0]], "flag", "pick")
    journal.apply("3 stars", [paths[0]], "stars", 3)
    journal.apply("Red", [paths[0]], "label", "Red")
    journal.apply("Reject", [paths[3]], "flag", "reject")
    journal.undo()  # the reject is taken back: that frame stays undecided
    written = {str(tmp_path / "mondrian_wrote.xmp"): {"Xmp.xmp.Rating": "4"}}
    store.sidecar_writes.mondrian_values = lambda p: written.get(p, {})  # type: ignore[method-assign]

    found = {Path(d.path).name: d for d in review_decisions(store, review.id)}
    assert (found["culled.jpg"].flag, found["culled.jpg"].stars, found["culled.jpg"].label) == ("pick", 3, "Red")
    assert found["culled.jpg"].source == "window"
    lr = found["lightroom.jpg"]
    assert (lr.stars, lr.flag, lr.label, lr.source) == (5, None, "Green", "sidecar lightroom.xmp")
    assert not found["mondrian_wrote.jpg"].decided  # Mondrian's own rating is not the user's
    assert not found["untouched.jpg"].decided
    # the reader alone: without the store's record the same file reads as 4 stars
    assert file_decision(paths[2])[0] == 4 and file_decision(paths[2], lambda p: written.get(p, {}))[0] is None


def _judged(levels: list[tuple[str, float]], scores: list[float]) -> list[agree.Judged]:
    return [agree.Judged(f"f{i}", g, u, u >= 3, s) for i, ((g, u), s) in enumerate(zip(levels, scores, strict=True))]


LEVELS = [("b1", 4.5), ("b1", 2), ("b1", 0), ("b2", 4.5), ("b2", 2), ("b2", 0), ("b3", 4.5), ("b3", 2), ("b3", 0)]


def test_agreement_on_known_orderings() -> None:
    right = agree.agreement(_judged(LEVELS, [u for _, u in LEVELS]), bootstrap=200)
    assert right["pairwise"]["value"] == 1.0 and right["spearman"]["value"] == 1.0
    assert right["pick_precision"]["value"] == 1.0 and right["pairs_burst"] == 9
    wrong = agree.agreement(_judged(LEVELS, [-u for _, u in LEVELS]), bootstrap=200)
    assert wrong["pairwise"]["value"] == 0.0 and wrong["spearman"]["value"] == -1.0
    assert wrong["pick_precision"]["value"] == 0.0
    flat = agree.agreement(_judged(LEVELS, [5.0] * 9), bootstrap=200)
    assert flat["pairwise"]["value"] == 0.5  # a tie counts one half
    ci = right["pairwise"]["ci"]
    assert ci is not None and ci[0] <= 1.0 <= ci[1]
    mixed = agree.agreement(_judged(LEVELS, [3, 2, 1, 1, 2, 3, 3, 2, 1]), bootstrap=500)
    lo, hi = mixed["pairwise"]["ci"]
    assert lo < mixed["pairwise"]["value"] < hi  # bursts disagree: the interval is wide


def test_activation_needs_a_difference_beyond_its_interval_on_enough_pairs() -> None:
    before = _judged(LEVELS * 3, [5.0] * 27)
    better = [u for _, u in LEVELS * 3]
    groups = [f"{g}-{i // 9}" for i, (g, _) in enumerate(LEVELS * 3)]
    before = [agree.Judged(j.key, g, j.user, j.kept, j.score) for j, g in zip(before, groups, strict=True)]
    comparison = agree.compare(before, better, bootstrap=300)
    assert comparison["pairwise_difference"] == 0.5 and comparison["ci"][0] > 0
    assert agree.activation_decision(comparison, min_pairs=20)[0]
    assert not agree.activation_decision(comparison, min_pairs=10_000)[0]
    same = agree.compare(before, [5.0] * 27, bootstrap=300)
    ok, reason = agree.activation_decision(same, min_pairs=20)
    assert not ok and "within its interval" in reason
    assert agree.activation_decision(same, min_pairs=20, override=True)[0]


def test_held_out_by_whole_bursts_or_whole_shoots() -> None:
    one_shoot = [Decision(f"{b}-{k}.jpg", "s1", f"s1/burst-{b}", stars=k + 1) for b in range(8) for k in range(3)]
    train, held = split(one_shoot, 0.25, seed=0)
    assert held and train and {d.group for d in train}.isdisjoint({d.group for d in held})
    assert len({d.group for d in held}) == 2
    two_shoots = one_shoot + [Decision(f"t{b}.jpg", "s2", f"s2/burst-{b}", stars=2) for b in range(4)]
    train, held = split(two_shoots, 0.25, seed=0)
    assert {d.shoot for d in train}.isdisjoint({d.shoot for d in held})


def test_an_unknown_review_or_no_decisions_is_a_clear_error(home: Path) -> None:
    from training.common import CommandError
    from training.learn import Learning, LearnOptions

    with pytest.raises(CommandError, match="no review 'nope'"):
        Learning(LearnOptions("ansel", ["nope"]), None).decisions()


def test_a_ten_is_read_as_ten_not_as_its_leading_one() -> None:
    """5 stars map to 9.5, so the trained answer is "10": its "1" must not rank the frame last."""
    from training.cull_scoring import expected_digit

    assert set(target_scores(Decision("a.jpg", "s", "g", stars=5)).values()) == {10}
    one = [0.0] * 10
    one[1] = 1.0
    assert expected_digit(one, ten=1.0) == 10 and expected_digit(one, ten=0.0) == 1
    assert expected_digit([0.1] * 10, ten=0.0) == pytest.approx(4.5)
    nine = [0.0] * 10
    nine[9] = 1.0
    assert expected_digit(one, ten=0.9) > expected_digit(nine, ten=0.9) > expected_digit(one, ten=0.5)


def test_the_earlier_answer_is_the_triage_when_a_frame_has_no_full_critique(home: Path, tmp_path: Path) -> None:
    from app.engine.review.triage import content_key, triage_key

    paths = []
    for i, n in enumerate(["a.jpg", "b.jpg"]):
        Image.new("RGB", (40, 30), (60 * i, 80, 120)).save(tmp_path / n, "JPEG")
        paths.append(str(tmp_path / n))
    store = Store(tmp_path / "mondrian.db")
    review = store.reviews.open_review(str(tmp_path), "ansel", "baseline", "k", recursive=False, settings={})
    store.reviews.set_frames(review.id, [FrameRow(review.id, p, content_hash=f"h{i}", position=i)
                                 for i, p in enumerate(paths)])
    scores = dict.fromkeys(DIMENSIONS, 3)
    frame = store.reviews.list_frames(review.id)[0]
    store.triage_scores.save_triage(content_key(frame), triage_key(review), {"scores": scores, "kind": "triage"})
    CullJournal(store, review.id).apply("Pick", paths, "flag", "pick")
    found = {Path(d.path).name: d for d in review_decisions(store, review.id, read_files=False)}
    assert found[Path(frame.path).name].earlier == scores  # the triage stage's answer
    other = next(n for n in found if n != Path(frame.path).name)
    assert found[other].earlier is None  # neither critiqued nor triaged: nothing invented
