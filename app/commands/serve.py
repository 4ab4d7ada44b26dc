"""``serve``: the local HTTP API on one resident model, with a service-wide weights policy.

    python -m app serve [--host 127.0.0.1] [--port 5100] [--model M]
                        [--model-mode base|fine_tuned|ab_test] [--lora-path DIR] [--ab-test-split 0.5]

The model (and the adapter, for fine_tuned / ab_test) is loaded and checked before the server
listens: a policy that cannot run exits with status 1 and says why. The older spellings
(``--model_mode``, ``--lora_path``, ``--ab_test_split``, ``--max_upload_mb``) still work.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from app.commands.flags import add_flag
from app.engine.modes.weights import MODEL_MODES
from app.engine.settings import cli_type

if TYPE_CHECKING:
    from app.engine.service import MondrianService

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the local HTTP API (POST /analyze, GET /health, /advisors, /jobs)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=5100)
    p.add_argument("--model", default=None, help="Hugging Face repo id or local model folder")
    add_flag(p, "--model-mode", default=None, choices=list(MODEL_MODES),
             help="which weights answer: base = never an adapter; fine_tuned = every request on --lora-path; "
                  "ab_test = a random share (--ab-test-split) on it, the rest on the base, both through the same "
                  "pipeline. Default: per request (the lora mode uses the advisor's active adapter)")
    add_flag(p, "--lora-path", default=None, metavar="DIR",
             help="adapter folder (adapter_config.json + adapters.safetensors) for fine_tuned / ab_test")
    add_flag(p, "--ab-test-split", type=_fraction, default=0.5, metavar="0..1",
             help="share of ab_test requests that run on the fine-tuned model (default 0.5)")
    p.add_argument("--seed", type=int, default=None, help="seed the A/B draws (reproducible runs)")
    add_flag(p, "--max-upload-mb", type=cli_type("max_upload_mb", "--max-upload-mb"), default=None,
             help="largest accepted upload in MB (default: the max_upload_mb setting)")
    add_flag(p, "--max-queue", type=int, default=16,
             help="critiques allowed to wait for the model before the API answers 503")
    add_flag(p, "--no-history", action="store_true", help="do not record critiques in the database")
    p.set_defaults(func=run)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, not {value:g}")
    return value


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def prepare_service(args: argparse.Namespace) -> MondrianService | str:
    """Build the service and check its weights policy can run; returns the service or an error text."""
    from app.engine.model.source import ModelNotAvailableError, missing_model_message
    from app.engine.modes.weights import WeightsPolicyError, build_weights_policy
    from app.engine.service import MondrianService
    from app.engine.settings import load_settings

    settings = load_settings()
    if args.model:
        settings.model = args.model
    if args.max_upload_mb is not None:  # checked by the setting's rule when parsed
        settings.max_upload_mb = args.max_upload_mb
    try:
        policy = build_weights_policy(args.model_mode, args.lora_path, args.ab_test_split, args.seed)
    except WeightsPolicyError as exc:
        return str(exc)
    service = MondrianService(settings, weights_policy=policy, **({"store": None} if args.no_history else {}))
    try:
        if not service.model_available():
            if policy is not None and policy.blocks_adapter is None:
                service.close()
                return f"--model-mode {policy.name} needs the model: {missing_model_message(settings.model)}"
            print("warning: no vision-language model is installed; serving measurement-only reports. "
                  + missing_model_message(settings.model), file=sys.stderr)
            return service
        print(f"loading {settings.model} ...", file=sys.stderr)
        service.prepare_weights()
    except (WeightsPolicyError, ModelNotAvailableError) as exc:
        service.close()
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - a model that does not load is a start-up failure
        service.close()
        return f"could not load the model {settings.model}: {type(exc).__name__}: {exc}"
    return service


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from app.api.app import build_asgi, is_loopback

    if not 0 <= args.port <= 65535:
        return _fail(f"--port must be from 0 to 65535, not {args.port}")
    if args.max_queue < 1:
        return _fail("--max-queue must be at least 1")
    if not is_loopback(args.host):
        banner = "!" * 78
        print(f"{banner}\nWARNING: listening on {args.host}, not loopback: anyone who can reach this machine "
              "can send photos\nto the model and read your critique history. There is no authentication.\n"
              f"{banner}", file=sys.stderr)
    service = prepare_service(args)
    if isinstance(service, str):
        return _fail(service)
    policy = service.weights_policy
    mode_text = policy.describe() if policy else {"model_mode": "per_request"}
    print(f"Mondrian API on http://{args.host}:{args.port}  model={service.settings.model}  {mode_text}",
          file=sys.stderr)
    try:
        app = build_asgi(service, max_queue=args.max_queue)
        uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level="info",
                                      lifespan="off")).run()
    finally:
        service.close()
    return 0
