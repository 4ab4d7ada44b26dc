"""``serve``: the local HTTP API on one resident model, with a service-wide weights policy.

    mondrian serve [--host 127.0.0.1] [--port 5100] [--model M]
                        [--model-mode base|fine_tuned|ab_test] [--lora-path DIR] [--ab-test-split 0.5]
                        [--allow-host NAME] [--allow-origin ORIGIN] [--docs] [--rotate-token]

The model (and the adapter, for fine_tuned / ab_test) is loaded and checked before the server
listens: a policy that cannot run exits with status 1 and says why. The older spellings
(``--model_mode``, ``--lora_path``, ``--ab_test_split``, ``--max_upload_mb``) still work. Any
address other than loopback needs the access token (made once, kept in the data folder with mode
0600, shown when made); every request must then send ``Authorization: Bearer <token>``. Once it
listens, ``serve`` writes ``<data>/server.json`` (see :mod:`app.commands.server_file`): how the
Lightroom plug-in finds the port, whether a token is needed, and the command that starts it again.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
from typing import TYPE_CHECKING

from app.api import DEFAULT_PORT
from app.commands import server_file
from app.commands.flags import add_flag
from app.engine.modes.weights import MODEL_MODES
from app.engine.settings import cli_type

if TYPE_CHECKING:
    from app.api.security import AccessRules
    from app.engine.service import MondrianService
    from app.engine.settings import Settings

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the local HTTP API (POST /analyze, GET /health, /advisors, /jobs)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default: {DEFAULT_PORT})")
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
    add_flag(p, "--allow-host", dest="allow_hosts", action="append", default=[], metavar="NAME",
             help="also answer to this Host name (repeatable; added to the allowed_hosts setting)")
    add_flag(p, "--allow-origin", dest="allow_origins", action="append", default=[], metavar="ORIGIN",
             help="also accept requests from this web origin, e.g. https://app.example "
                  "(repeatable; '*' for any; added to allowed_origins and MONDRIAN_ORIGINS)")
    add_flag(p, "--max-uploads", type=int, default=4,
             help="uploads being received at once before the API answers 503")
    add_flag(p, "--request-timeout", type=float, default=60.0, metavar="S",
             help="seconds a request (headers and body) may take to arrive (default 60)")
    p.add_argument("--docs", action="store_true", help="serve the interactive /docs, /redoc and /openapi.json")
    add_flag(p, "--rotate-token", action="store_true",
             help="replace the access token used off loopback with a new one")
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
    service = (MondrianService(settings, weights_policy=policy, store=None) if args.no_history
               else MondrianService(settings, weights_policy=policy))
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


def access_rules(args: argparse.Namespace, settings: Settings) -> AccessRules:
    """Host/Origin allow-lists from settings + flags; off loopback, the token (made and shown once)."""
    from app.api.security import AccessRules, is_loopback, load_or_create_token, token_path

    token = None
    if not is_loopback(args.host):
        token, created = load_or_create_token(rotate=args.rotate_token)
        banner = "!" * 78
        if created:
            shown = (f"Access token (shown once; kept in {token_path()}, mode 0600):\n\n    {token}\n\n"
                     "Send it with every request as: Authorization: Bearer <token>")
        else:
            shown = f"Requests must send the access token kept in {token_path()} as: Authorization: Bearer <token>"
        print(f"{banner}\nWARNING: listening on {args.host}, not loopback: anyone who can reach this machine "
              f"and has the token\ncan send photos to the model and read your critique history.\n{shown}\n"
              f"{banner}", file=sys.stderr)
    return AccessRules.for_bind(args.host, allowed_hosts=[*settings.allowed_hosts, *args.allow_hosts],
                                allowed_origins=[*settings.allowed_origins, *args.allow_origins], token=token)


def _exit_after_shutdown(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from app.api.app import build_asgi
    from app.api.server import ConnectionRules, uvicorn_config

    if not 0 <= args.port <= 65535:
        return _fail(f"--port must be from 0 to 65535, not {args.port}")
    if args.max_queue < 1:
        return _fail("--max-queue must be at least 1")
    if args.max_uploads < 1:
        return _fail("--max-uploads must be at least 1")
    if not args.request_timeout > 0:  # also refuses nan
        return _fail(f"--request-timeout must be more than 0 seconds, not {args.request_timeout}")
    from app.engine.settings import load_settings

    try:
        rules = access_rules(args, load_settings())
    except (OSError, ValueError) as exc:
        return _fail(str(exc))
    service = prepare_service(args)
    if isinstance(service, str):
        return _fail(service)
    policy = service.weights_policy
    mode_text = policy.describe() if policy else {"model_mode": "per_request"}
    try:
        sock = _bind(args.host, args.port)  # bound here so server.json names the real port (--port 0 too)
    except OSError as exc:
        service.close()
        return _fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    port = sock.getsockname()[1]
    print(f"Mondrian API on http://{args.host}:{port}  model={service.settings.model}  {mode_text}",
          file=sys.stderr)
    try:
        app = build_asgi(service, max_queue=args.max_queue, access=rules, max_uploads=args.max_uploads,
                         docs=args.docs)
        config = uvicorn_config(app, host=args.host, port=port, log_level="info",
                                rules=ConnectionRules(request_timeout_s=args.request_timeout))
        info = server_file.describe(args.host, port, token_required=rules.token is not None)
        server_file.write_server_file(info)
        # uvicorn re-raises SIGTERM after its graceful shutdown; with the default handler that kills the
        # process before the finally blocks (server.json, closing the service) run: exit through them.
        signal.signal(signal.SIGTERM, _exit_after_shutdown)
        try:
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            server_file.mark_stopped(info)
    finally:
        sock.close()
        service.close()
    return 0
