"""Property-based fuzzing of the HTTP API from its own OpenAPI schema (schemathesis), over the
real server on loopback: valid and invalid requests for every operation, seeded, a bounded number
of examples. Every response must be no server error and must conform to the schema (status code
declared, content type, body schema, headers).

The service has no model (measurement-only), so a photo that happens to decode costs
milliseconds and the run stays well under a minute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.api.app import BackgroundServer, build_asgi, create_app
from app.engine.service import MondrianService
from app.engine.settings import Settings
from app.engine.store.database import Store

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
EXAMPLES_PER_MODE = 75  # per operation and mode: 5 operations with input, 3 with input to negate: ~600
MIN_REQUESTS = 500


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("fuzz-home")
    store = Store(home / "fuzz.db")
    service = MondrianService(Settings(model=str(home / "no-model"), max_upload_mb=1), store=store)
    for _ in range(3):
        store.jobs.create_job("upload:seed.jpg", "ansel", "auto")
    server = BackgroundServer(build_asgi(service)).start()
    yield server.url, create_app(service).openapi()
    server.stop()
    service.close()
    store.close()


def test_the_api_holds_to_its_schema_under_generated_requests(served: tuple[str, dict[str, Any]],
                                                             tmp_path: Path):
    base, raw_schema = served
    schema = schemathesis.openapi.from_dict(raw_schema)
    session = requests.Session()
    sent: dict[str, int] = {}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7, [op.label for op in operations]
    for op in operations:
        takes_input = bool(len(op.query) + len(op.body))  # a free-text path id has no invalid value
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            if mode is schemathesis.GenerationMode.NEGATIVE and not takes_input:
                continue  # nothing to make invalid (GET /health, GET /jobs/{id}, ...)
            fuzz(op, mode, base, session, sent, failures)
    total = sum(sent.values())
    print(f"\nschemathesis: {total} requests over {len(sent)} operations, {len(failures)} failures")
    assert not failures, "\n".join(failures[:10])
    assert total >= MIN_REQUESTS, sent


def fuzz(op: Any, mode: Any, base: str, session: requests.Session, sent: dict[str, int],
         failures: list[str]) -> None:
    """Seeded generation for one operation; failures are collected (no shrinking: bounded time)."""

    @seed(20261201)
    @settings(max_examples=EXAMPLES_PER_MODE, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(base_url=base, session=session, timeout=30)
        sent[op.label] = sent.get(op.label, 0) + 1
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as exc:  # noqa: BLE001 - collect every kind of failure, report them all
            failures.append(f"{op.label} [{mode.value}] -> {response.status_code}: {str(exc)[:400]}")

    try:
        run()
    except Unsatisfiable:
        if mode is not schemathesis.GenerationMode.NEGATIVE:
            raise
        print(f"{op.label}: no invalid request can be made from its schema")  # e.g. one free-text path id
