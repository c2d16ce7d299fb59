"""The `happening` command: migrate, serve, api, engine, worker, dev-issuer, check-invariants.

This is the only module that reads `os.environ`.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
from collections.abc import Callable, Sequence

import structlog

from happening_engine.config import Settings
from happening_engine.logs import configure_logging

from .sites import run, run_sites

log = structlog.get_logger(__name__)


def _serve(settings: Settings, parts: frozenset[str], with_dev_issuer: bool,
           children: Sequence[list[str]] = ()) -> None:
    from api import dev_issuer

    from .processes import create_app

    apps = []
    if with_dev_issuer and settings.oidc.issuer is None:
        issuer = dev_issuer.from_settings(settings.oidc)
        apps.append((issuer.app(), settings.oidc.dev_host, settings.oidc.dev_port))
    apps.append((create_app(settings, parts), settings.http.host, settings.http.port))
    run(run_sites(apps, children, settings.http))


def _dev_issuer(settings: Settings, command: str, dev_flag: bool) -> bool:
    """Whether to start the dev issuer; exits with status 2 and a clear message when there is no
    issuer to trust (see happening_engine.issuer_policy)."""
    from happening_engine.issuer_policy import IssuerMissing, start_dev_issuer
    try:
        return start_dev_issuer(settings, command, dev_flag)
    except IssuerMissing as exc:
        log.error("no_issuer", command=command)
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="happening", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply pending SQL migrations")
    serve = sub.add_parser("serve", help="API, engine, lifecycle (and dev issuer) in this process; outbox relay"
                                         " and worker in a child process")
    api = sub.add_parser("api", help="the HTTP API alone (engine reached over RabbitMQ)")
    for part in (serve, api):
        part.add_argument("--dev-issuer", action="store_true",
                          help="without HAPPENING_OIDC_ISSUER, run the dev token issuer (development only)")
    engine = sub.add_parser("engine", help="one engine shard: actors, outbox relay, lifecycle")
    engine.add_argument("--shard", type=int, default=0)
    engine.add_argument("--shards", type=int, default=None,
                        help="shard count (default: HAPPENING_ENGINE_SHARDS, as the APIs read it)")
    worker = sub.add_parser("worker", help="the notification worker")
    worker.add_argument("--relay", action="store_true", help="also run the outbox relay")
    worker.add_argument("--port", type=int, help="HTTP port for /healthz and /metrics (0: any free port)")
    sub.add_parser("dev-issuer", help="the Keycloak-compatible dev token issuer")
    shards = sub.add_parser("shards", help="the shard map, each shard's owner and live engine; `set N` changes the"
                                          " shard count while traffic flows")
    shards.add_argument("action", nargs="?", choices=["set"])
    shards.add_argument("count", nargs="?", type=int)
    check = sub.add_parser("check-invariants", help="verify the booking invariants of docs/contract.md section 4")
    check.add_argument("--event", help="only this event id")
    notifications = sub.add_parser("notifications", help="dead-lettered notifications: list, replay")
    ops = notifications.add_subparsers(dest="action", required=True)
    dead = ops.add_parser("dead", help="list the notifications the worker gave up on, with their reasons")
    dead.add_argument("--limit", type=int, default=1000)
    replay = ops.add_parser("replay", help="send failed notifications round again (outbox, worker)")
    replay.add_argument("ids", nargs="*", metavar="ID")
    replay.add_argument("--all", action="store_true", dest="replay_all", help="every failed notification")
    return parser


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The argument combinations argparse cannot refuse by itself (exits with status 2)."""
    if args.command == "shards" and (
            (args.action == "set") != (args.count is not None) or (args.count is not None and args.count < 1)):
        parser.error("shards: `happening shards` shows the map; `happening shards set N` (N >= 1) changes it")
    if args.command == "notifications" and args.action == "replay" and bool(args.ids) == args.replay_all:
        parser.error("notifications replay: give notification ids or --all, not both")


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from happening_engine.db import migrate
    applied = asyncio.run(migrate(settings.database.url))
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    from .shards_cli import seed_map
    asyncio.run(seed_map(settings))  # a new database's shard map: HAPPENING_ENGINE_SHARDS shards
    return 0


def _serve_all(settings: Settings, args: argparse.Namespace) -> int:
    # Notifications run in a second process of the group, so that a burst's deliveries use the
    # other core instead of competing with the API and the engine for this one.
    notifier = ["worker", "--relay", "--port", str(settings.http.worker_port)]
    if settings.notify.invite_keys is None:  # the API seals invite tokens, the child opens them
        import secrets
        os.environ["HAPPENING_NOTIFY_INVITE_KEYS"] = secrets.token_urlsafe(32)
        settings = Settings.from_env(os.environ)
    _serve(settings, frozenset({"api", "engine", "lifecycle"}), children=[notifier],
           with_dev_issuer=_dev_issuer(settings, "serve", args.dev_issuer))
    return 0


def _serve_api(settings: Settings, args: argparse.Namespace) -> int:
    _serve(settings, frozenset({"api"}), with_dev_issuer=_dev_issuer(settings, "api", args.dev_issuer))
    return 0


def _serve_engine(settings: Settings, args: argparse.Namespace) -> int:
    engine_settings = dataclasses.replace(settings.engine, shard=args.shard,
                                          shards=args.shards or settings.engine.shards)
    settings = dataclasses.replace(settings, engine=engine_settings)
    _serve(settings, frozenset({"engine", "relay", "lifecycle"}), with_dev_issuer=False)
    return 0


def _serve_worker(settings: Settings, args: argparse.Namespace) -> int:
    if args.port is not None:
        settings = dataclasses.replace(settings, http=dataclasses.replace(settings.http, port=args.port))
    _serve(settings, frozenset({"worker", "relay"} if args.relay else {"worker"}), with_dev_issuer=False)
    return 0


def _serve_dev_issuer(settings: Settings, args: argparse.Namespace) -> int:
    from api import dev_issuer
    issuer = dev_issuer.from_settings(settings.oidc)
    run(run_sites([(issuer.app(), settings.oidc.dev_host, settings.oidc.dev_port)]))
    return 0


def _shards(settings: Settings, args: argparse.Namespace) -> int:
    from .shards_cli import shards_main
    return asyncio.run(shards_main(settings, args.count))


def _check_invariants(settings: Settings, args: argparse.Namespace) -> int:
    from happening_engine.invariants import check_main
    return asyncio.run(check_main(settings, args.event))


def _notifications(settings: Settings, args: argparse.Namespace) -> int:
    from happening_engine.worker import deadletters
    if args.action == "dead":
        return asyncio.run(deadletters.dead_main(settings, args.limit))
    return asyncio.run(deadletters.replay_main(settings, args.ids, args.replay_all))


_COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "migrate": _migrate,
    "serve": _serve_all,
    "api": _serve_api,
    "engine": _serve_engine,
    "worker": _serve_worker,
    "dev-issuer": _serve_dev_issuer,
    "shards": _shards,
    "check-invariants": _check_invariants,
    "notifications": _notifications,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    settings = Settings.from_env(os.environ)
    configure_logging(settings.log_format)
    _check_args(parser, args)
    return _COMMANDS[args.command](settings, args)


if __name__ == "__main__":
    sys.exit(main())
