"""The local API as a door into the user's machine, attacked over the real server on loopback:
DNS rebinding (foreign Host), cross-site requests (foreign Origin, text/plain JSON, multipart
forms), the bearer token off loopback, and the interactive docs being off.

The service here has no model (measurement-only reports): these checks run before any model work.
"""

from __future__ import annotations

import hmac
import json
import re
from pathlib import Path

import pytest
from api_support import analyze_request, jpeg_bytes, multipart, request

from app.api.app import BackgroundServer, build_asgi
from app.api.security import AccessRules, load_or_create_token
from app.engine.service import MondrianService
from app.engine.settings import Settings
from app.engine.store.database import Store

FOREIGN = "https://attacker.example"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory):
    """A measurement-only service on loopback, with one configured name and one configured origin."""
    home = tmp_path_factory.mktemp("sec-home")
    store = Store(home / "api.db")
    settings = Settings(model=str(home / "no-model"), allowed_hosts=["photos.lan"],
                        allowed_origins=["https://app.example"])
    service = MondrianService(settings, store=store)
    server = BackgroundServer(build_asgi(service)).start()
    job = store.jobs.create_job("/Users/me/Pictures/private.jpg", "ansel", "auto")
    yield server.url, store, job.id
    server.stop()
    service.close()
    store.close()


def test_dns_rebinding_a_foreign_host_is_refused(guarded):
    base, _, _ = guarded
    for host in ("attacker.example", "attacker.example:5100", "127.0.0.1.attacker.example", "localhost.evil", ""):
        status, _, body = request(base, "GET", "/jobs", headers={"Host": host})
        assert status == 421, host
        assert "is not a name of this server" in body["error"] and "private.jpg" not in json.dumps(body)
    port = base.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}", "photos.lan",
                 f"PHOTOS.LAN:{port}", "app.localhost"):
        status, _, body = request(base, "GET", "/jobs", headers={"Host": host})
        assert status == 200 and body["jobs"], host


def test_foreign_origins_are_refused_and_allowed_ones_get_cors(guarded):
    base, _, _ = guarded
    for origin in (FOREIGN, "null", "http://localhost.attacker.example", "file://"):
        status, _, body = request(base, "GET", "/jobs", headers={"Origin": origin})
        assert status == 403 and "Origin" in body["error"] and "allowed_origins" in body["error"], origin
    for origin in ("http://localhost:3000", "http://127.0.0.1:8080", "https://app.example"):
        status, headers, _ = request(base, "GET", "/jobs", headers={"Origin": origin})
        assert status == 200 and headers["access-control-allow-origin"] == origin, origin
    # A preflight from an allowed origin is answered; from a foreign one it is refused.
    pre = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    status, headers, _ = request(base, "OPTIONS", "/analyze", headers={"Origin": "https://app.example", **pre})
    assert status == 200 and headers["access-control-allow-origin"] == "https://app.example"
    assert request(base, "OPTIONS", "/analyze", headers={"Origin": FOREIGN, **pre})[0] == 403
    # A browser that hides the Origin still says Sec-Fetch-Site.
    status, _, body = request(base, "GET", "/jobs", headers={"Sec-Fetch-Site": "cross-site"})
    assert status == 403 and "Sec-Fetch-Site" in body["error"]


def test_every_header_analyze_sends_is_exposed_to_allowed_origins(guarded):
    """A page on an allowed origin reads only the headers CORS exposes: each X- header /analyze sets is."""
    base, _, _ = guarded
    source = (Path(__file__).resolve().parents[1] / "app/api/app.py").read_text(encoding="utf-8")
    sent = set(re.findall(r'"(X-[A-Za-z-]+)":', source)) | set(re.findall(r'headers\["(X-[A-Za-z-]+)"\]', source))
    assert {"X-Job-ID", "X-Adapter-Version", "X-Fallback-Reason"} <= sent
    status, headers, _ = request(base, "GET", "/jobs", headers={"Origin": "https://app.example"})
    exposed = {h.strip() for h in headers["access-control-expose-headers"].split(",")}
    assert status == 200 and sent <= exposed, sent - exposed


def test_origins_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MONDRIAN_ORIGINS", "https://one.example, https://*.two.example")
    rules = AccessRules.for_bind("127.0.0.1")
    assert rules.origin_allowed("https://one.example") and rules.origin_allowed("https://x.two.example")
    assert not rules.origin_allowed("https://three.example") and not rules.origin_allowed("null")


def test_a_cross_site_text_plain_rating_fails(guarded):
    base, store, job_id = guarded
    payload = b'{"rating": 1, "comment": "pwned"}'
    # What a web page can send without a preflight: text/plain (with its Origin, refused first) ...
    status, _, body = request(base, "POST", f"/jobs/{job_id}/rating", payload,
                              {"Content-Type": "text/plain", "Origin": FOREIGN})
    assert status == 403
    # ... and even with no Origin at all, text/plain is not JSON.
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        status, _, body = request(base, "POST", f"/jobs/{job_id}/rating", payload, {"Content-Type": ctype})
        assert status == 415 and "application/json" in body["error"], ctype
    assert store.ratings.list_ratings(job_id) == [] and store.jobs.get_job(job_id).user_rating is None
    status, _, body = request(base, "POST", f"/jobs/{job_id}/rating", payload,
                              {"Content-Type": "application/json; charset=utf-8"})
    assert status == 200 and body["rating"]["comment"] == "pwned"  # the real client still works


def test_a_cross_site_multipart_analyze_is_refused(guarded):
    base, store, _ = guarded
    before = store.jobs.count_jobs()
    status, _, body = analyze_request(base, jpeg_bytes(), {"Origin": FOREIGN}, advisor="ansel")
    assert status == 403 and "cross-site" in body["error"]
    status, _, body = analyze_request(base, jpeg_bytes(), {"Host": "attacker.example"}, advisor="ansel")
    assert status == 421
    body_bytes, ctype = multipart({"advisor": "ansel"}, {"image": ("photo.jpg", jpeg_bytes(), "image/jpeg")})
    status, _, body = request(base, "POST", "/compare", body_bytes, {"Content-Type": ctype, "Origin": FOREIGN})
    assert status == 403 and "cross-site" in body["error"]  # the comparison route is guarded the same way
    assert store.jobs.count_jobs() == before  # none reached the service
    status, headers, body = analyze_request(base, jpeg_bytes(), advisor="ansel")  # curl-style: no Origin
    assert status == 200 and body["effective_mode"] == "technical"


def test_interactive_docs_are_off_by_default(guarded, tmp_path: Path):
    base, _, _ = guarded
    for path in ("/docs", "/redoc", "/openapi.json"):
        status, _, body = request(base, "GET", path)
        assert status == 404 and "error" in body, path
    service = MondrianService(Settings(model=str(tmp_path / "none")), store=None)
    with BackgroundServer(build_asgi(service, docs=True)) as server:
        assert request(server.url, "GET", "/docs")[0] == 200
        status, _, schema = request(server.url, "GET", "/openapi.json")
        assert status == 200 and "/analyze" in schema["paths"]
        form = schema["paths"]["/compare"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
        form = schema["components"]["schemas"][form["$ref"].rsplit("/", 1)[1]] if "$ref" in form else form
        assert {"image", "advisor", "mode", "blind"} <= set(form["properties"]) and form["required"] == ["image"]
    service.close()


# ---------------------------------------------------------------------------- the token off loopback


@pytest.fixture
def exposed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A server really bound to 0.0.0.0 (every interface), with the token made in the data folder."""
    monkeypatch.setenv("MONDRIAN_HOME", str(tmp_path / "home"))
    token, created = load_or_create_token()
    assert created
    service = MondrianService(Settings(model=str(tmp_path / "none")), store=Store(tmp_path / "t.db"))
    server = BackgroundServer(build_asgi(service, access=AccessRules.for_bind("0.0.0.0", token=token)),
                              host="0.0.0.0").start()
    yield f"http://127.0.0.1:{server.port}", token, tmp_path / "home" / "data" / "api_token"
    server.stop()
    service.close()


def test_off_loopback_the_token_is_required(exposed):
    base, token, token_file = exposed
    assert token_file.stat().st_mode & 0o777 == 0o600 and token_file.read_text().strip() == token
    status, headers, body = request(base, "GET", "/jobs")
    assert status == 401 and "no access token" in body["error"] and headers["www-authenticate"].startswith("Bearer")
    body_bytes, ctype = multipart({"advisor": "ansel"}, {"image": ("photo.jpg", jpeg_bytes(), "image/jpeg")})
    assert request(base, "POST", "/compare", body_bytes, {"Content-Type": ctype})[0] == 401
    for wrong in (f"Bearer {token[:-1]}x", f"Bearer {token}extra", "Bearer ", f"Basic {token}", token):
        status, _, body = request(base, "GET", "/jobs", headers={"Authorization": wrong})
        assert status == 401 and "wrong access token" in body["error"], wrong
    status, _, body = request(base, "GET", "/jobs", headers={"Authorization": f"Bearer {token}"})
    assert status == 200 and body == {"jobs": []}
    status, _, _ = request(base, "GET", "/health", headers={"Authorization": f"bearer {token}"})
    assert status == 200
    # Off loopback the machine is reached by its IP address: IP literals are fine (rebinding needs a name).
    status, _, _ = request(base, "GET", "/health", headers={"Authorization": f"Bearer {token}",
                                                           "Host": "192.168.1.20:5100"})
    assert status == 200
    status, _, _ = request(base, "GET", "/health", headers={"Authorization": f"Bearer {token}",
                                                           "Host": "attacker.example"})
    assert status == 421


def test_the_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch):
    seen = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    rules = AccessRules(token="s3cret-token")
    assert rules.token_ok("Bearer s3cret-token") and not rules.token_ok("Bearer nope") and not rules.token_ok(None)
    assert seen == [(b"s3cret-token", b"s3cret-token"), (b"nope", b"s3cret-token"), (b"", b"s3cret-token")]


def test_no_token_no_bind_off_loopback_and_a_leaky_token_file_is_refused(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(ValueError, match="needs an access token"):
        AccessRules.for_bind("0.0.0.0")
    monkeypatch.setenv("MONDRIAN_HOME", str(tmp_path / "home"))
    token, _ = load_or_create_token()
    assert load_or_create_token() == (token, False)
    new, created = load_or_create_token(rotate=True)
    assert created and new != token
    path = tmp_path / "home" / "data" / "api_token"
    path.chmod(0o644)
    with pytest.raises(PermissionError, match="readable by others"):
        load_or_create_token()

