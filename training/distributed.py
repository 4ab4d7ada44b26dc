"""``mondrian train distributed``: train one advisor on several Macs with ``mlx.launch``.

    mondrian train distributed check  --advisor ID --hosts mac-a,mac-b [--model M] [--jsonl]
    mondrian train distributed launch --hosts mac-a,mac-b [--hostfile F] -- --advisor ID [train_lora flags]
    mondrian train distributed launch --hosts mac-a,mac-b -- learn --advisor ID [learn flags]

``check`` asks every host over ssh (``BatchMode``: keys, no password prompt) for its Mondrian,
MLX and mlx-vlm versions, its free memory and the hash of its copy of the advisor's dataset,
and compares them with this Mac's and with training's memory estimate for one process's share
of the batch. ``launch`` runs the same check, writes the ring backend's hosts file and starts
``mlx.launch --backend ring`` with ``python -m training.train_lora`` on every host (same
Python path and project folder on each), or ``python -m training.learn`` when the flags after
``--`` begin with ``learn`` (teaching from culls prepared with ``learn --prepare-only`` and copied
to every host: the check compares that folder's hash instead). The first host must be this Mac: rank 0 keeps the
checkpoints and publishes the version here. Its stdout is rank 0's JSON-lines progress, passed
through; SIGINT/SIGTERM (the GUI's Cancel) ask rank 0 to stop at the next step (a stop file),
so every process stops at the same step and the run can be resumed. The exit code is the
run's: that of its last event. ``MONDRIAN_SSH`` replaces ``ssh`` (tests simulate hosts with it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.engine import paths

from . import events as ev
from .common import (
    EXIT_BAD_INPUT,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_REFUSED,
    CommandError,
    JsonLines,
    reported,
    run_main,
    setup,
)
from .run_state import STOP_FILE, run_dir

ROOT = Path(__file__).resolve().parents[1]
LOCAL_NAMES = {"127.0.0.1", "localhost", "::1"}
SSH_TIMEOUT_S = 20
STOP_GRACE_S = 60.0  # a step of the 4B model takes seconds; then mlx.launch is terminated
PASSED_ENV = ("MONDRIAN_HOME", "HF_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "PYTHONPATH")


def probe(advisor_id: str) -> dict[str, Any]:
    """What this machine has for a run (printed by ``probe`` on every host)."""
    import mlx.core as mx
    import mlx_vlm

    import app

    from .culls_dataset import culls_hash
    from .dataset import DatasetError, load_dataset
    from .memory import available_memory_bytes

    try:
        dataset_hash: str | None = load_dataset(advisor_id).hash
    except DatasetError:
        dataset_hash = None
    memory = available_memory_bytes()
    return {"mondrian": app.__version__, "mlx": getattr(mx, "__version__", ""), "mlx_vlm": mlx_vlm.__version__,
            "memory_gb": memory / 1e9 if memory else None, "dataset_hash": dataset_hash,
            "culls_hash": culls_hash(advisor_id),
            "data_dir": str(paths.data_dir()), "python": sys.executable, "root": str(ROOT)}


@dataclass
class HostReport:
    host: str
    problems: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def event(self) -> ev.HostChecked:
        return ev.HostChecked(host=self.host, ok=self.ok, problems=self.problems,
                              mondrian_version=self.facts.get("mondrian", ""), mlx_version=self.facts.get("mlx", ""),
                              memory_gb=self.facts.get("memory_gb"))


def is_local(host: str) -> bool:
    return host in LOCAL_NAMES or host in (socket.gethostname(), socket.getfqdn())


def _ssh() -> list[str]:
    return shlex.split(os.environ.get("MONDRIAN_SSH", "ssh"))


def ask_host(host: str, advisor_id: str) -> dict[str, Any]:
    """Run ``probe`` on ``host`` (over ssh unless it is this machine); raise CommandError saying why not."""
    command = [sys.executable, "-m", "training.distributed", "probe", "--advisor", advisor_id]
    if is_local(host):
        argv = command
    else:
        remote = f"cd {shlex.quote(str(ROOT))} && " + " ".join(map(shlex.quote, command))
        argv = [*_ssh(), "-o", "BatchMode=yes", "-o", f"ConnectTimeout={SSH_TIMEOUT_S // 2}", host, remote]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=SSH_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        raise CommandError(f"not reachable: no answer over ssh within {SSH_TIMEOUT_S} s") from None
    except OSError as exc:
        raise CommandError(f"cannot run ssh ({exc.strerror or exc})") from None
    if proc.returncode == 255:
        why = proc.stderr.strip().splitlines()[-1:] or ["ssh failed"]
        raise CommandError(f"not reachable over ssh ({why[0]}); set up ssh keys (docs/DISTRIBUTED.md)")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise CommandError(f"Mondrian did not answer there ({tail}); install it at {ROOT} with the same "
                           f"Python environment ({sys.executable})")
    return dict(json.loads(lines[-1]))


def check_hosts(hosts: Sequence[str], advisor_id: str, *, need_gb: float | None,
                learning: bool = False) -> list[HostReport]:
    """One report per host; the first host must be this Mac. ``learning``: the run teaches from
    prepared culls (``learn``), so their folder is compared instead of the portfolio dataset."""
    local = probe(advisor_id)
    reports = []
    for index, host in enumerate(hosts):
        report = HostReport(host)
        reports.append(report)
        if index == 0 and not is_local(host):
            report.problems.append("the first host must be this Mac (it keeps the checkpoints and publishes)")
        try:
            facts = local if is_local(host) else ask_host(host, advisor_id)
        except CommandError as exc:
            report.problems.append(str(exc))
            continue
        report.facts = facts
        for key, name in (("mondrian", "Mondrian"), ("mlx", "MLX"), ("mlx_vlm", "mlx-vlm")):
            if facts.get(key) != local.get(key):
                report.problems.append(f"{name} {facts.get(key) or '?'} there, {local.get(key)} here: install the "
                                       "same version on every Mac")
        key, what, folder = (("culls_hash", "culls", "culls") if learning else
                             ("dataset_hash", "dataset", "datasets"))
        if facts.get(key) is None:
            report.problems.append(f"no {what} for advisor {advisor_id!r} there: copy {local['data_dir']}/{folder}/"
                                   f"{advisor_id} to the same place")
        elif facts.get(key) != local.get(key):
            report.problems.append(f"its {what} differ from this Mac's (another hash): copy this Mac's again"
                                   if learning else "its dataset differs from this Mac's (another hash): copy "
                                   "this Mac's again")
        memory = facts.get("memory_gb")
        if need_gb is not None and memory is not None and need_gb > 0.9 * memory:
            report.problems.append(f"needs about {need_gb:.1f} GB, {memory:.1f} GB free: use --grad-checkpoint or a "
                                   "smaller batch")
    return reports


def estimate_need_gb(model_ref: str, train_args: Sequence[str], world_size: int) -> float | None:
    """Training's estimate for one process (the model loaded lazily: config and shapes only)."""
    import mlx_vlm

    from app.engine.model.source import ModelNotAvailableError, resolve_model
    from app.engine.settings import load_settings

    from . import hyper as hyperparams
    from .memory import estimate_before_dataset

    parser = argparse.ArgumentParser(add_help=False)
    hyperparams.add_arguments(parser)
    known, _ = parser.parse_known_args(list(train_args))
    try:
        hyper = hyperparams.from_args(known)
        path = resolve_model(model_ref)
    except (hyperparams.HyperError, ModelNotAvailableError):
        return None
    settings = load_settings()
    model, processor = mlx_vlm.load(str(path), lazy=True)
    est = estimate_before_dataset(model, processor, hyper, max_image_edge=settings.max_image_edge,
                                  text_tokens=2 * settings.max_tokens, world_size=world_size)
    return est.total_gb


def write_hostfile(hosts: Sequence[str], file: Path) -> Path:
    """The ring backend's hosts file: ssh names and the IP each one is reached at."""
    entries = []
    for host in hosts:
        try:
            ip = "127.0.0.1" if host in LOCAL_NAMES else socket.gethostbyname(host)
        except OSError:
            raise CommandError(f"{host}: the name does not resolve to an IP address (the ring backend needs one)") \
                from None
        entries.append({"ssh": host, "ips": [ip]})
    file.write_text(json.dumps(entries, indent=1), encoding="utf-8")
    return file


def free_port(count: int) -> int:
    """A starting port with ``count`` free ports after it (ring: one per rank on loopback)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            start = s.getsockname()[1]
        if start + count < 65535 and all(_free(start + i) for i in range(count)):
            return start
    raise CommandError("no free ports for the ring backend")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def exit_code_of(last: ev.Event | None) -> int:
    """The run's exit code from its last event (``mlx.launch`` itself always exits 0)."""
    if isinstance(last, ev.Published):
        return EXIT_OK
    if isinstance(last, ev.Stopped):
        return 143 if last.signal in ("SIGTERM", "stop-request") else 130
    if isinstance(last, ev.Error):
        return last.code or EXIT_ERROR
    if isinstance(last, ev.Refused):
        return EXIT_REFUSED
    return EXIT_ERROR


def launch(hosts: Sequence[str], train_args: Sequence[str], *, hostfile: Path | None, out: JsonLines) -> int:
    module, train_args = _module_of(train_args)
    advisor = _advisor_of(train_args)
    folder = run_dir(advisor)
    file = write_hostfile(hosts, hostfile or Path(tempfile.mkstemp(prefix="mondrian-hosts-", suffix=".json")[1]))
    env = [f"{k}={os.environ[k]}" for k in PASSED_ENV if k in os.environ]
    env.append("PYTHONPATH=" + os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    launcher = Path(sys.executable).with_name("mlx.launch")
    argv = [str(launcher) if launcher.exists() else "mlx.launch", "--backend", "ring", "--hostfile", str(file),
            "--starting-port", str(free_port(len(hosts))), "--cwd", str(ROOT),
            *(arg for e in env for arg in ("--env", e)), "--",
            sys.executable, "-m", module, *train_args]
    (folder / STOP_FILE).unlink(missing_ok=True)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    asked: dict[str, float] = {}

    def stop(_signum: int, _frame: Any) -> None:
        if "at" not in asked:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / STOP_FILE).touch()
            asked["at"] = time.monotonic()
            signal.alarm(int(STOP_GRACE_S))
        else:  # asked twice, or the grace is over: end the processes now (a rank blocked in a
            with contextlib.suppress(ProcessLookupError):  # collective cannot run a Python handler)
                os.killpg(proc.pid, signal.SIGKILL)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)}
    last: ev.Event | None = None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            event = ev.parse_event(line)
            if event is None:
                print(line.rstrip(), file=sys.stderr)
                continue
            last = event
            out.write(event)
        proc.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        signal.alarm(0)
        (folder / STOP_FILE).unlink(missing_ok=True)
    return exit_code_of(last)


def _module_of(train_args: Sequence[str]) -> tuple[str, list[str]]:
    """The training module to run on every host and its flags: ``learn ...`` teaches from prepared
    culls, anything else is ``train_lora``'s flags."""
    args = list(train_args)
    return ("training.learn", args[1:]) if args[:1] == ["learn"] else ("training.train_lora", args)


def _advisor_of(train_args: Sequence[str]) -> str:
    args = list(train_args)
    if "--advisor" not in args or args.index("--advisor") + 1 >= len(args):
        raise CommandError("pass the training flags after --, with --advisor ID")
    return args[args.index("--advisor") + 1]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mondrian train distributed",
                                description="Train an advisor on several Macs (mlx.launch, ring backend).")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="check the hosts before a run")
    c.add_argument("--advisor", required=True)
    c.add_argument("--hosts", required=True, help="comma-separated ssh host names; the first is this Mac")
    c.add_argument("--model", help="base model for the memory estimate (default: settings.model)")
    c.add_argument("--jsonl", action="store_true", help="print host_checked events as JSON lines")
    c.add_argument("--learn", action="store_true",
                   help="check the culls prepared for `launch -- learn` instead of the portfolio dataset")
    launch_p = sub.add_parser("launch", help="check the hosts, then run train_lora (or learn) on all of them")
    launch_p.add_argument("--hosts", required=True, help="comma-separated ssh host names; the first is this Mac")
    launch_p.add_argument("--hostfile", type=Path, help="where to write the hosts file (default: a temp file)")
    launch_p.add_argument("--no-check", action="store_true", help="skip the host check")
    launch_p.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then train_lora's flags, or learn and its flags")
    pr = sub.add_parser("probe", help=argparse.SUPPRESS)
    pr.add_argument("--advisor", required=True)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup(args.verbose)
    jsonl = args.command == "launch" or getattr(args, "jsonl", False)
    with reported(JsonLines(sys.stdout) if jsonl else None):  # e.g. a bad settings file: error event + exit 2
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    if args.command == "probe":
        print(json.dumps(probe(args.advisor)), flush=True)
        return EXIT_OK
    hosts = [h.strip() for h in args.hosts.split(",") if h.strip()]
    if len(hosts) < 1:
        raise CommandError("--hosts needs at least one host name")
    out = JsonLines(sys.stdout)
    if args.command == "check":
        from app.engine.settings import load_settings

        need = None if args.learn else estimate_need_gb(args.model or load_settings().model, [], len(hosts))
        reports = check_hosts(hosts, args.advisor, need_gb=need, learning=args.learn)
        for report in reports:
            if args.jsonl:
                out.write(report.event())
            else:
                print(ev.describe(report.event()))
        return EXIT_OK if all(r.ok for r in reports) else EXIT_BAD_INPUT
    train_args = args.train_args[1:] if args.train_args[:1] == ["--"] else args.train_args
    module, flags = _module_of(train_args)
    advisor = _advisor_of(flags)
    if not args.no_check:
        model = _flag(flags, "--model")
        learning = module == "training.learn"
        need = estimate_need_gb(model, flags, len(hosts)) if model and not learning else None
        bad = [r for r in check_hosts(hosts, advisor, need_gb=need, learning=learning) if not r.ok]
        for report in bad:
            out.write(report.event())
        if bad:
            message = "; ".join(f"{r.host}: {'; '.join(r.problems)}" for r in bad)
            out.emit("error", message=f"the hosts are not ready: {message}", code=EXIT_BAD_INPUT)
            return EXIT_BAD_INPUT
    return launch(hosts, train_args, hostfile=args.hostfile, out=out)


def _flag(args: Sequence[str], name: str) -> str | None:
    args = list(args)
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else None


if __name__ == "__main__":
    sys.exit(run_main(main))
