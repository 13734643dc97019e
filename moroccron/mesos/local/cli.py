"""``moroccron local-mesos``: the local master and its agents as a process of their own."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from moroccron.address import split_host_port
from moroccron.mesos.local.agents import AgentSpec, parse_attributes
from moroccron.mesos.local.master import LocalMaster

__all__ = ["build_parser", "main"]


def _host_port(text: str) -> tuple[str, int]:
    try:
        return split_host_port(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{exc}, got {text!r}" if "HOST" in str(exc) else f"{exc} in {text!r}"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moroccron local-mesos",
        description="Run a local Mesos master with agents that run tasks as local processes.",
    )
    parser.add_argument("--bind", type=_host_port, default=("127.0.0.1", 5050), metavar="HOST:PORT")
    parser.add_argument("--agents", type=int, default=1, metavar="N", help="number of agents (default 1)")
    parser.add_argument("--agent-cpus", type=float, help="cpus per agent (default: this machine / N)")
    parser.add_argument("--agent-mem", type=float, help="memory MB per agent (default: this machine / N)")
    parser.add_argument("--agent-disk", type=float, help="disk MB per agent (default: free disk / N)")
    parser.add_argument("--attributes", default="", metavar="K:V;K2:V2", help="attributes of every agent")
    parser.add_argument("--work-dir", type=Path, default=Path("mesos-local"), help="sandboxes go here")
    parser.add_argument("--zk", metavar="zk://HOST:PORT/PATH", help="register in ZooKeeper like a real master")
    parser.add_argument("--leader", metavar="HOST:PORT", help="run as a standby that redirects to this leader")
    parser.add_argument("--heartbeat-interval", type=float, default=15.0, metavar="SECONDS")
    parser.add_argument("--offer-refuse-seconds", type=float, default=5.0, metavar="SECONDS")
    parser.add_argument(
        "--offer-interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="how often free resources are offered (default 1)",
    )
    parser.add_argument(
        "--no-run-tasks",
        dest="run_tasks",
        action="store_false",
        help="place tasks but start no processes (for benchmarks of the framework)",
    )
    parser.add_argument("--agent-gpus", type=float, help="GPUs per agent (default 0)")
    parser.add_argument(
        "--reserve",
        action="append",
        default=[],
        metavar="ROLE:NAME=N[,NAME=N]",
        help="statically reserve part of every agent for ROLE, e.g. prod:cpus=1,mem=512",
    )
    parser.add_argument(
        "--images",
        type=Path,
        metavar="FILE",
        help='JSON {"name": {"entrypoint": [...], "cmd": [...]}}: images the agents run on the host',
    )
    parser.add_argument("--acls", type=Path, metavar="FILE", help="the Mesos --acls JSON (run_tasks is enforced)")
    parser.add_argument(
        "--credentials",
        type=Path,
        metavar="FILE",
        help='Mesos credentials JSON {"credentials": [{"principal": ..., "secret": ...}]}: '
        "scheduler calls need HTTP basic authentication",
    )
    parser.add_argument(
        "--no-root-submissions",
        dest="root_submissions",
        action="store_false",
        help="refuse frameworks whose user is root",
    )
    parser.add_argument("--tls-cert", type=Path, metavar="PEM", help="serve HTTPS with this certificate")
    parser.add_argument("--tls-key", type=Path, metavar="PEM", help="the certificate's private key")
    parser.add_argument(
        "--tls-client-ca", type=Path, metavar="PEM", help="require client certificates signed by this CA"
    )
    parser.add_argument("--log-level", default="INFO")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``moroccron local-mesos``: run the local master until SIGINT or SIGTERM."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # A master holding ten thousand tasks is a million small objects: full passes of the
    # cyclic collector stop every thread for 0.1 s and more, in the middle of a burst of
    # ACCEPTs. Collect the young generation 100 times less often (it holds no cycles worth
    # the pause), and let threads take turns every 0.5 ms instead of 5, so a request is read
    # (and its arrival stamped) while an ACCEPT of thousands of tasks is being processed,
    # as a real master's HTTP intake would.
    gc.set_threshold(70_000, 10, 10)
    sys.setswitchinterval(0.0005)
    try:
        attributes = parse_attributes(args.attributes)
    except ValueError as exc:
        print(f"moroccron local-mesos: {exc}")
        return 2
    if args.agents < 1:
        print("moroccron local-mesos: --agents must be at least 1")
        return 2
    args.work_dir.mkdir(parents=True, exist_ok=True)
    specs = AgentSpec.from_machine(args.agents, work_dir=args.work_dir, attributes=attributes)
    try:
        reserved = _parse_reservations(args.reserve)
        extra = _options(args)
    except (OSError, ValueError) as exc:
        print(f"moroccron local-mesos: {exc}")
        return 2
    for spec in specs:
        if args.agent_cpus is not None:
            spec.cpus = args.agent_cpus
        if args.agent_mem is not None:
            spec.mem = args.agent_mem
        if args.agent_disk is not None:
            spec.disk = args.agent_disk
        if args.agent_gpus is not None:
            spec.gpus = args.agent_gpus
        spec.reserved = {role: dict(amounts) for role, amounts in reserved.items()}
        try:
            spec.role_resources()
        except ValueError as exc:
            print(f"moroccron local-mesos: {exc}")
            return 2
    host, port = args.bind
    master = LocalMaster(
        host=host,
        port=port,
        agents=specs,
        work_dir=args.work_dir,
        heartbeat_interval=args.heartbeat_interval,
        offer_refuse_default=args.offer_refuse_seconds,
        offer_interval=args.offer_interval,
        run_tasks=args.run_tasks,
        zk=args.zk,
        leader=args.leader,
        root_submissions=args.root_submissions,
        **extra,
    )
    done = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        done.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        master.start()
        print(f"local Mesos master at {master.url} (agents: {', '.join(s.id for s in specs)})", flush=True)
        done.wait()
    finally:
        master.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _parse_reservations(values: Sequence[str]) -> dict[str, dict[str, float]]:
    reserved: dict[str, dict[str, float]] = {}
    for value in values:
        role, sep, amounts = value.partition(":")
        if not sep or not role:
            raise ValueError(f"invalid --reserve {value!r}: expected ROLE:NAME=N[,NAME=N]")
        for part in amounts.split(","):
            name, sep, number = part.partition("=")
            if not sep:
                raise ValueError(f"invalid --reserve {value!r}: expected NAME=N, got {part!r}")
            reserved.setdefault(role, {})[name.strip()] = float(number)
    return reserved


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The file-borne options: images, ACLs, credentials, TLS."""
    out: dict[str, Any] = {}
    if args.images is not None:
        out["images"] = json.loads(args.images.read_text())
    if args.acls is not None:
        out["acls"] = json.loads(args.acls.read_text())
    if args.credentials is not None:
        data = json.loads(args.credentials.read_text())
        out["credentials"] = {c["principal"]: c["secret"] for c in data.get("credentials", [])}
    if args.tls_cert is not None:
        out.update(tls_cert=args.tls_cert, tls_key=args.tls_key, tls_client_ca=args.tls_client_ca)
    return out
