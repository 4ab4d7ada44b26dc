"""The Lightroom Classic plug-in (lightroom/Mondrian.lrplugin), run in Debian's lua5.1 against
recording stand-ins of every Lr* call it makes and the REAL Mondrian server on loopback.

Lightroom cannot run here, so the plug-in keeps its Lightroom layer thin: the write policy, the
polling, the field mapping and the server discovery are plain Lua modules. tests/lightroom/run.lua
limits package.path to the plug-in and the stand-ins (tests/lightroom/standins/, each listing the
SDK signatures it stands in for); the LrHttp stand-in makes real HTTP requests with lua-socket, the
LrTasks stand-in really runs the command that starts the server. docs/LIGHTROOM.md lists what only
a Mac with Lightroom Classic can check.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from review_support import BLURRED, BURST, PAIR_JPEG, PAIR_RAW, make_shoot

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "lightroom" / "Mondrian.lrplugin"
HARNESS = Path(__file__).resolve().parent / "lightroom"
LUA = shutil.which("lua5.1")

needs_lua = pytest.mark.skipif(LUA is None, reason="lua5.1 is not installed (apt-get install lua5.1 lua-socket lua-check)")


def _has_socket() -> bool:
    if LUA is None:
        return False
    return subprocess.run([LUA, "-e", "require 'socket.http'"], capture_output=True).returncode == 0


needs_socket = pytest.mark.skipif(not _has_socket(), reason="lua5.1 with lua-socket is not installed (apt-get install lua5.1 lua-socket)")


def run_plugin(tmp_path: Path, fixture: dict[str, Any], env: dict[str, str] | None = None,
               timeout: float = 600) -> dict[str, Any]:
    """Run the fixture's menu script (or the unit tests) in lua5.1; what happened, as JSON."""
    assert LUA is not None
    spec, out = tmp_path / "fixture.json", tmp_path / "out.json"
    spec.write_text(json.dumps(fixture))
    run_env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "user"), **(env or {})}
    proc = subprocess.run([LUA, str(HARNESS / "run.lua"), str(PLUGIN), str(HARNESS / "standins"), str(spec), str(out)],
                          env=run_env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0 and out.exists(), proc.stderr
    result = json.loads(out.read_text())
    return result


def calls(result: dict[str, Any], name: str) -> list[list[Any]]:
    return [c.get("args", []) for c in result["calls"] if c["name"] == name]


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


# --------------------------------------------------------------------------- the pure modules


@needs_lua
def test_lua_unit_cases(tmp_path: Path) -> None:
    result = run_plugin(tmp_path, {"unit": True})
    assert result["ok"], result.get("error")
    failed = [u for u in result["unit"] if not u["ok"]]
    assert not failed and len(result["unit"]) >= 10, failed


@pytest.mark.skipif(shutil.which("luacheck") is None, reason="luacheck is not installed (apt-get install lua-check)")
def test_luacheck_clean() -> None:
    proc = subprocess.run(["luacheck", "--no-color", "--config", "tests/lightroom/luacheckrc",
                           "lightroom/Mondrian.lrplugin", "tests/lightroom"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_lua
def test_the_plugin_reaches_only_lightroom_and_itself() -> None:
    """Every require names a plug-in file, every import an Lr namespace with a stand-in, and every
    Lr call the plug-in makes has a stand-in that lists its SDK signature."""
    own = {p.stem for p in PLUGIN.glob("*.lua")}
    standins = {p.stem: p.read_text() for p in (HARNESS / "standins").glob("Lr*.lua")}
    signatures = "\n".join(p.read_text() for p in (HARNESS / "standins").glob("*.lua"))
    for source in PLUGIN.glob("*.lua"):
        text = source.read_text()
        for name in re.findall(r"require\s*\(?\s*[\"'](\w+)[\"']", text):
            assert name in own, f"{source.name} requires {name}, which is not in the plug-in"
        for name in re.findall(r"import\s*\(?\s*[\"'](\w+)[\"']", text):
            assert name in standins, f"{source.name} imports {name}, which has no stand-in"
        for namespace, function in re.findall(r"\b(Lr[A-Z]\w+)\.(\w+)\s*[({\"]", text):
            assert f"{namespace}.{function}(" in signatures, f"{source.name}: {namespace}.{function} has no SDK signature"
        for method in re.findall(r"\b(?:photo|catalog|keyword|parent|scope)\s*:\s*(\w+)\s*\(", text):
            assert re.search(rf":{method}\(", signatures), f"{source.name}: :{method}() has no SDK signature listed"
    info = (PLUGIN / "Info.lua").read_text()
    for script in re.findall(r'file = "(\w+\.lua)"', info):
        assert (PLUGIN / script).exists(), script
    assert not list(PLUGIN.glob("*token*")) and "Bearer" not in (PLUGIN / "Info.lua").read_text()


@needs_lua
def test_metadata_fields_are_declared_searchable_browsable_and_versioned(tmp_path: Path) -> None:
    probe = tmp_path / "probe.lua"
    probe.write_text(
        "function LOC(s) return (s:gsub('^[^=]*=', '')) end\n"
        f"local d = dofile('{PLUGIN / 'MetadataDefinition.lua'}')\n"
        "local json = dofile('" + str(PLUGIN / "MondrianJson.lua") + "')\n"
        "local out = {schemaVersion = d.schemaVersion, fields = {}}\n"
        "for i, f in ipairs(d.metadataFieldsForPhotos) do out.fields[i] = {id = f.id, title = f.title or false,"
        " searchable = f.searchable or false, browsable = f.browsable or false, dataType = f.dataType} end\n"
        "print(json.encode(out))\n")
    assert LUA is not None
    out = json.loads(subprocess.run([LUA, str(probe)], capture_output=True, text=True, check=True).stdout)
    assert isinstance(out["schemaVersion"], int) and out["schemaVersion"] >= 1
    fields = {f["id"]: f for f in out["fields"]}
    for dimension in ("composition", "lighting", "focus_sharpness", "color_harmony", "subject_isolation",
                      "depth_perspective", "visual_balance", "emotional_impact", "grade", "overall"):
        assert fields[dimension]["searchable"] and fields[dimension]["browsable"] and fields[dimension]["title"]
    assert fields["written"]["title"] is False  # hidden bookkeeping
    german = (PLUGIN / "TranslatedStrings_de.txt").read_text()
    for key in re.findall(r'LOC "(\$\$\$/Mondrian/Field/\w+)=', (PLUGIN / "MetadataDefinition.lua").read_text()):
        assert f'"{key}=' in german, f"{key} has no German label"


# --------------------------------------------------------------------------- against the real server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_json(home: Path) -> dict[str, Any] | None:
    try:
        return json.loads((home / "data" / "server.json").read_text())
    except (OSError, ValueError):
        return None


def _stop_pid(home: Path) -> None:
    info = _server_json(home)
    if info and info.get("running"):
        try:
            os.kill(int(info["pid"]), signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (_server_json(home) or {}).get("running"):
            time.sleep(0.2)


@pytest.fixture(scope="module")
def served(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A MONDRIAN_HOME whose server.json was left by a `serve` that ran and stopped: the plug-in
    finds the command there and starts the server itself. Stopped (by its pid) at the end."""
    home = tmp_path_factory.mktemp("lr-home")
    (home / "config").mkdir()
    (home / "config" / "settings.json").write_text(json.dumps({"max_text_chars": 24, "max_tokens": 2000}))
    port = free_port()
    env = {**os.environ, "MONDRIAN_HOME": str(home), "PYTHONPATH": str(ROOT)}
    with (home / "first.log").open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(port), "--model",
                                 str(tiny_model_dir)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while not ((_server_json(home) or {}).get("running") and _healthy(port)):
                assert proc.poll() is None, (home / "first.log").read_text()
                assert time.monotonic() < deadline, "serve did not come up"
                time.sleep(0.25)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    info = _server_json(home)
    assert info is not None and info["running"] is False and info["port"] == port and info["pid"] == proc.pid
    assert info["token_required"] is False and info["command"][1:4] == ["-m", "app", "serve"]
    yield home, port
    _stop_pid(home)


def _healthy(port: int) -> bool:
    try:
        get(f"http://127.0.0.1:{port}/health")
        return True
    except (urllib.error.URLError, ConnectionError, OSError):
        return False


@needs_socket
def test_a_server_that_is_down_gives_the_dialog(tmp_path: Path) -> None:
    """No server.json (never started): nothing is sent, nothing written, a dialog says how to start it."""
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"\xff\xd8")
    result = run_plugin(tmp_path, {"script": "TriageSelected.lua", "photos": [{"path": str(photo), "rating": 3}]},
                        env={"MONDRIAN_HOME": str(tmp_path / "nohome")})
    assert result["ok"], result.get("error")
    dialog = result["dialogs"][-1]
    assert dialog["style"] == "critical" and "not running" in dialog["text"] and "mondrian serve" in dialog["text"]
    assert not calls(result, "LrHttp.post") and not result["undoSteps"] and result["photos"][0]["rating"] == 3


@needs_socket
def test_declining_to_start_the_server_gives_the_dialog(served, tmp_path: Path) -> None:
    home, port = served
    _stop_pid(home)
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"\xff\xd8")
    result = run_plugin(tmp_path, {"script": "CritiqueSelected.lua", "confirm": "cancel",
                                   "photos": [{"path": str(photo)}]}, env={"MONDRIAN_HOME": str(home)})
    assert result["ok"], result.get("error")
    assert [d["kind"] for d in result["dialogs"]] == ["confirm", "message"]
    assert "Start it in Terminal" in result["dialogs"][-1]["text"]
    assert not calls(result, "LrTasks.execute") and not calls(result, "LrHttp.post") and not _healthy(port)


@needs_socket
def test_five_photos_triaged_with_the_write_policy_field_by_field(served, tmp_path: Path) -> None:
    """The plug-in starts the server (server.json's command), sends the five files (a virtual copy
    shares its master's file; a missing file is reported, not sent) with the user's own pick, polls
    the review and writes each field only as the policy allows, in chunks (one Undo step each)."""
    home, port = served
    _stop_pid(home)
    shoot = make_shoot(tmp_path / "shoot")
    five = [shoot / n for n in (*BURST, PAIR_RAW, BLURRED)]
    photos = [
        {"path": str(five[0]), "rating": 5, "pick": 1, "label": "purple", "caption": "Grandma's 90th birthday",
         "keywords": ["Family"]},
        {"path": str(five[1])},
        {"path": str(five[1]), "virtual": True, "fileName": "burst_02-Edit.jpg", "rating": 2},
        {"path": str(five[2]), "caption": ""},
        {"path": str(five[3]), "fileFormat": "RAW", "keywords": ["Mondrian|grade F"]},  # a stale Mondrian keyword
        {"path": str(five[4]), "label": "yellow"},
        {"path": str(tmp_path / "gone" / "IMG_9999.jpg")},  # missing: reported per photo
        {"path": str(shoot / PAIR_JPEG), "fileFormat": "VIDEO", "fileName": "clip.mov"},
    ]
    prefs = {"policy_rating": "empty", "policy_pick": "empty", "policy_label": "overwrite", "policy_caption": "never",
             "advisor": "ansel", "mode": "baseline", "pollInterval": 0.2, "chunkSize": 4, "startTimeout": 180}
    result = run_plugin(tmp_path, {"script": "TriageSelected.lua", "confirm": "ok", "photos": photos, "prefs": prefs},
                        env={"MONDRIAN_HOME": str(home)})
    assert result["ok"], result.get("error")
    # the server was started by the plug-in, from server.json's command
    assert len(calls(result, "LrTasks.execute")) == 1 and _healthy(port)
    posts = [json.loads(a[2]) for a in calls(result, "LrHttp.post") if a[0].endswith("/reviews")]
    assert len(posts) == 1 and posts[0].get("triage_only") is True  # the server has the triage stage
    sent = posts[0]["files"]
    assert sorted(f["path"] for f in sent) == sorted(map(str, five))
    assert {f["path"]: f.get("flag") for f in sent}[str(five[0])] == "pick"  # Lightroom's pick reaches Mondrian
    review_id = next(a[0].rsplit("/", 1)[1] for a in calls(result, "LrHttp.get") if re.search(r"/reviews/[\w-]+$", a[0]))
    payload = get(f"http://127.0.0.1:{port}/reviews/{review_id}")
    assert payload["review"]["state"] == "completed" and payload["review"]["total"] == 5
    frames = {f["path"]: f for f in payload["summary"]["frames"]}
    assert frames[str(five[0])]["flag"] == "pick" and frames[str(five[0])]["user_stars"] == 5
    by_name = {p["fileName"]: p for p in result["photos"]}
    for p in result["photos"][:6]:
        frame = frames[p["path"]]
        if frame["status"] == "failed":
            continue
        assert p["plugin"]["grade"] == frame["grade"] and p["plugin"]["stage"] == frame["stage"] == "triage"
        assert p["plugin"]["composition"] == f"{frame['scores']['composition']:g}"
        assert f"Mondrian|grade {frame['grade']}" in p["keywords"]
        assert frame["grade"] == "F" or "Mondrian|grade F" not in p["keywords"]  # Mondrian's stale keyword replaced
    first = by_name[five[0].name]  # the user's rating, pick and caption kept; the label is set to overwrite
    assert (first["rating"], first["pick"], first["caption"]) == (5, 1, "Grandma's 90th birthday")
    assert first.get("label") == (_label(frames[str(five[0])]) or "purple")
    assert "Family" in first["keywords"]
    second, copy = by_name[five[1].name], by_name["burst_02-Edit.jpg"]
    assert second["rating"] == frames[str(five[1])]["stars"] >= 1 and copy["rating"] == 2  # empty filled, user's kept
    assert copy["plugin"]["grade"] == second["plugin"]["grade"] and copy["plugin"].get("jobId") == second["plugin"].get("jobId")
    assert all(p.get("caption") in ("", None, "Grandma's 90th birthday") for p in result["photos"])  # caption: never
    soft = by_name[five[4].name]
    assert soft.get("label") == (_label(frames[str(five[4])]) or "yellow")  # label: overwrite where Mondrian has one
    assert frames[str(five[4])]["problems"] and soft.get("label") == "red"
    assert all(p["pick"] == 0 for p in result["photos"][1:])  # no pick invented
    assert result["undoSteps"] and len(result["undoSteps"]) == 2  # 6 photos written, 4 per chunk
    text = result["dialogs"][-1]["text"]
    assert "IMG_9999.jpg: missing or offline" in text and "clip.mov: a video" in text


def _label(frame: dict[str, Any]) -> str | None:
    return "green" if frame["best_in_burst"] else ("red" if frame["problems"] else None)


def _fresh_photos(folder: Path, count: int) -> list[Path]:
    """Photos no earlier test critiqued (so nothing is reused by content hash)."""
    from PIL import Image

    folder.mkdir()
    out = []
    for i in range(count):
        img = Image.new("RGB", (160, 120), (30 + 20 * i, 200 - 15 * i, (97 * i) % 255))
        img.putpixel((i, i), (255, 255, 255))
        path = folder / f"fresh_{i}.jpg"
        img.save(path, quality=90)
        out.append(path)
    return out


@needs_socket
def test_cancel_stops_the_review(served, tmp_path: Path) -> None:
    home, port = served
    photos = _fresh_photos(tmp_path / "fresh", 8)
    prefs = {"pollInterval": 0.2, "mode": "baseline", "startTimeout": 180}
    # The bar is the review's progress across both stages, in frames' worth: triage fills its first
    # quarter (2 of 8), so 3 of 8 is reached once full critiques have started.
    result = run_plugin(tmp_path, {"script": "CritiqueSelected.lua", "confirm": "ok", "cancelWhenFinished": 3,
                                   "photos": [{"path": str(p)} for p in photos], "prefs": prefs},
                        env={"MONDRIAN_HOME": str(home)})
    assert result["ok"], result.get("error")
    deletes = [a for a in calls(result, "LrHttp.post") if a[1] == "DELETE"]
    assert len(deletes) == 1 and deletes[0][0].endswith("/run")
    review_id = deletes[0][0].split("/")[-2]
    review = get(f"http://127.0.0.1:{port}/reviews/{review_id}")["review"]
    assert review["state"] == "cancelled" and 1 <= review["finished"] < review["total"] == 8
    graded = [p for p in result["photos"] if p["plugin"].get("grade")]
    critiqued = [p for p in graded if p["plugin"].get("stage") == "full"]  # the others show triage scores
    assert 1 <= len(critiqued) < 8 and all(p["plugin"].get("stage") == "triage" for p in graded if p not in critiqued)
    assert "Cancelled" in result["dialogs"][-1]["text"]


@needs_socket
def test_ask_about_a_critiqued_photo(served, tmp_path: Path) -> None:
    """A photo whose critique is in the catalog (its job id): the question goes to that job's
    conversation with the photo's path, and the answer is shown."""
    home, port = served
    photo = _fresh_photos(tmp_path / "ask", 1)[0]
    prefs = {"pollInterval": 0.2, "mode": "baseline", "startTimeout": 180}
    first = run_plugin(tmp_path, {"script": "CritiqueSelected.lua", "confirm": "ok", "photos": [{"path": str(photo)}],
                                  "prefs": prefs}, env={"MONDRIAN_HOME": str(home)})
    assert first["ok"], first.get("error")
    job_id = first["photos"][0]["plugin"]["jobId"]
    ask = tmp_path / "ask-run"
    ask.mkdir()
    result = run_plugin(ask, {"script": "AskSelected.lua", "confirm": "ok", "prefs": prefs,
                              "dialogValues": {"question": "What would improve the light?"},
                              "photos": [{"path": str(photo), "plugin": first["photos"][0]["plugin"]}]},
                        env={"MONDRIAN_HOME": str(home)})
    assert result["ok"], result.get("error")
    posts = [a for a in calls(result, "LrHttp.post") if a[0].endswith(f"/jobs/{job_id}/messages")]
    assert len(posts) == 1 and json.loads(posts[0][2]) == {"question": "What would improve the light?",
                                                           "stream": False, "photo": str(photo)}
    assert not [a for a in calls(result, "LrHttp.post") if a[0].endswith("/reviews")]  # no second critique
    turns = get(f"http://127.0.0.1:{port}/jobs/{job_id}/messages")["messages"]
    assert turns and result["dialogs"][-1]["style"] == "info" and result["dialogs"][-1]["text"] == turns[-1]["answer"]


def test_reviews_take_a_list_of_files(tiny_model_dir: Path, tmp_path: Path) -> None:
    """POST /reviews {"files": [...]}: the review of exactly those files (a RAW and its JPEG are one
    frame), the user's flag and stars recorded; bad entries are named."""
    from fastapi.testclient import TestClient

    from app.api.app import create_app
    from app.engine.service import MondrianService
    from app.engine.settings import Settings
    from app.engine.store.database import Store

    shoot = make_shoot(tmp_path / "shoot")
    store = Store(tmp_path / "api.db")
    service = MondrianService(Settings(model=str(tiny_model_dir)), store=store)
    app = create_app(service)
    from app.engine.review.folder_review import scan_review

    # The scan only (here, on the request's thread), no model run in this test.
    app.state.reviews.start = lambda review_id, folder="": scan_review(store, review_id)
    try:
        with TestClient(app, client=("127.0.0.1", 50000)) as client:
            files = [str(shoot / PAIR_RAW), {"path": str(shoot / PAIR_JPEG), "flag": "reject", "stars": 1},
                     str(shoot / BURST[0]), str(tmp_path / "gone.jpg")]
            response = client.post("/reviews", json={"files": files, "mode": "baseline"})
            assert response.status_code == 202, response.text
            review = client.get(response.json()["url"]).json()["review"]  # scanned (above): the frames
            assert review["total"] == 3 and review["folder"].startswith("files:")
            frames = {f.path: f for f in store.reviews.list_frames(review["id"])}
            assert frames[str(shoot / PAIR_RAW)].companions == [str(shoot / PAIR_JPEG)]
            assert (frames[str(shoot / PAIR_RAW)].flag, frames[str(shoot / PAIR_RAW)].stars) == ("reject", 1)
            assert frames[str(tmp_path / "gone.jpg")].content_hash is None  # fails as a frame, with its reason
            again = client.post("/reviews", json={"files": list(reversed(files)), "mode": "baseline"}).json()
            assert again["review"]["id"] == review["id"]  # the same selection reopens its review
            cases = [
                ({"files": []}, "non-empty list"),
                ({"files": "a.jpg"}, "non-empty list"),
                ({"files": ["relative.jpg"]}, "not an absolute path"),
                ({"files": [{"path": "/a.jpg", "flag": "maybe"}]}, "files[0]: flag"),
                ({"files": ["/a.jpg", {"path": "/b.jpg", "stars": 9}]}, "files[1]: stars"),
                ({"files": [{"file": "/a.jpg"}]}, "files[0]"),
                ({"files": ["/a.jpg"], "folder": str(shoot)}, "either folder or files"),
            ]
            for body, text in cases:
                response = client.post("/reviews", json=body)
                assert response.status_code == 400 and text in response.json()["error"], (body, response.text)
    finally:
        service.close()
        store.close()


def test_server_file_names_the_command_that_starts_serve_again(tmp_path: Path, monkeypatch) -> None:
    from app.commands import server_file

    main = ROOT / "app" / "__main__.py"
    assert server_file.restart_command([str(main), "serve", "--port", "5100"]) == (
        [sys.executable, "-m", "app", "serve", "--port", "5100"], str(ROOT))
    script = tmp_path / "mondrian"
    script.write_text("#!/bin/sh\n")
    assert server_file.restart_command([str(script), "serve"])[0] == [str(script), "serve"]
    monkeypatch.setenv("MONDRIAN_HOME", str(tmp_path / "home"))
    info = server_file.describe("0.0.0.0", 5100, token_required=True)
    path = server_file.write_server_file(info)
    assert path == tmp_path / "home" / "data" / "server.json" and (path.stat().st_mode & 0o077) == 0
    saved = json.loads(path.read_text())
    assert saved["token_required"] and saved["token_file"].endswith("api_token") and "token" not in saved
    server_file.mark_stopped(info)
    assert json.loads(path.read_text())["running"] is False
    server_file.write_server_file({**info, "pid": info["pid"] + 1})  # another server wrote it since
    server_file.mark_stopped(info)
    assert json.loads(path.read_text())["running"] is True
