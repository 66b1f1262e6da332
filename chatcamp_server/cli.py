"""The command line: ``serve.py`` serves; ``serve.py apps create|update|list`` manages apps;
``serve.py admin ...`` the dashboard's operators (``dashboard/admin.py``); ``serve.py assets
install|path`` fills or names the browser assets' directory."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import logging
import os
import resource
import signal
import socket
import sys
from pathlib import Path
from typing import Sequence
from urllib.parse import urlsplit

from aiohttp import web

from chatcamp_server import __version__, logs
from chatcamp_server.app import Server, open_server, open_store
from chatcamp_server.apps import allowed_origins, create_app, describe, update_policies
from chatcamp_server.dashboard import admin
from chatcamp_server.dashboard.operators import CLI_ACTOR, Operators
from chatcamp_server.deployment import (
    ENV_DATABASE,
    ENV_REDIS,
    ENV_SECRET,
    ENV_SECRET_FILE,
    Deployment,
    is_postgres,
    resolve,
)
from chatcamp_server.errors import ServerError
from chatcamp_server.policies import WILDCARD_HOSTS, PublicOrigins
from chatcamp_server.settings import DEFAULT_LIMITS
from chatcamp_server.storage.backends import store_for
from chatcamp_server.storage.migrate import copy_store
from chatcamp_server.web import assets, connections
from chatcamp_server.web.http_support import RedactingAccessLogger, quiet_malformed_requests
from chatcamp_server.web.proxies import parse_network

DEFAULT_DB = assets.default_database()
LIMIT_OPTIONS = {
    "--failed-logins-per-address": (
        "failed_logins_per_address",
        "failed logins and wrong API keys allowed from one address per "
        f"{DEFAULT_LIMITS.failed_login_window:.0f} s before it must wait"),
    "--new-users-per-address": (
        "new_users_per_address",
        f"users one address may create by ID login per {DEFAULT_LIMITS.failed_login_window:.0f} s"),
    "--connections-per-address": (
        "connections_per_address", "open connections allowed from one address at once"),
}
"""Command-line option → the ``Limits`` field it sets, and what it means, written once."""
DRAIN_SECONDS = 10.0
LISTEN_BACKLOG = 4096
"""After a restart every SDK comes back at the same moment (its backoff has no jitter); with
aiohttp's default of 128 pending connections the rest were dropped and retried seconds later.
The kernel caps it at net.core.somaxconn."""


def _trusted_proxy(text: str) -> str:
    """Checked while parsing, so a typo stops the server before it touches the database."""
    try:
        parse_network(text)
    except ServerError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None
    return text


def build_parser(prog: str = "serve.py") -> argparse.ArgumentParser:
    storage = argparse.ArgumentParser(add_help=False)
    storage.add_argument("--db", metavar="PATH", default=argparse.SUPPRESS,
                         help=f"SQLite database file (default: {DEFAULT_DB})")
    storage.add_argument("--database", metavar="URL", default=argparse.SUPPRESS,
                         help="postgresql://USER[:PASSWORD]@HOST:PORT/DB, shared by every "
                              f"node of a cluster, or a SQLite path (default: ${ENV_DATABASE},"
                              " else --db)")
    storage.add_argument("--secret-file", metavar="PATH", default=argparse.SUPPRESS,
                         help="file holding the server secret that keys every token hash and "
                              "seal; created on first start; keep it out of database backups; "
                              "every node of a cluster needs the same one (default: "
                              f"${ENV_SECRET} as hex, else ${ENV_SECRET_FILE}, else for SQLite "
                              "the database path with .secret appended)")
    parser = argparse.ArgumentParser(
        prog=prog, parents=[storage],
        description="Serve the ChatCamp-compatible chat server, the pages and their assets, "
                    "and (with --demo) the demo integrator backend from one process.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--redis", metavar="URL", default=None,
                        help="redis://HOST:PORT/DB shared by every node of a cluster: live "
                             "sessions, revocations and failed logins across nodes (default: "
                             f"${ENV_REDIS}, else none: this process alone)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000,
                        help="TCP port; 0 lets the system pick a free one, named in the "
                             "output and in --ready-file (default: 8000)")
    for option, (field, meaning) in LIMIT_OPTIONS.items():
        parser.add_argument(option, type=int, metavar="N", dest=field,
                            default=getattr(DEFAULT_LIMITS, field),
                            help=f"{meaning} (default: {getattr(DEFAULT_LIMITS, field)}; 0 "
                                 "turns it off; behind a proxy, give --trusted-proxy instead)")
    parser.add_argument("--public-origin", action="append", metavar="ORIGIN",
                        help="an origin (scheme://host[:port]) under which browsers reach this "
                             "server; repeatable. Requests for any other Host are refused, and "
                             "pages on these origins may always connect (default: the origin "
                             "of --host and --port, and localhost for a loopback address)")
    parser.add_argument("--trusted-proxy", action="append", metavar="ADDRESS", default=[],
                        type=_trusted_proxy,
                        help="the address (or network, such as 10.0.0.0/8) of a reverse proxy "
                             "or load balancer whose X-Forwarded-For and X-Forwarded-Proto "
                             "are believed; repeatable (default: none, the headers are "
                             "ignored)")
    parser.add_argument("--demo", action="store_true",
                        help="serve the demo integrator backend under /demo with an app of its "
                             "own (off by default: it signs anyone in without a password)")
    parser.add_argument("--drain-seconds", type=float, default=DRAIN_SECONDS, metavar="S",
                        help="on SIGTERM, fail /readyz, stop accepting and close the live "
                             "sessions spread over this many seconds, so their clients "
                             f"reconnect elsewhere a few at a time (default: {DRAIN_SECONDS:g};"
                             " Ctrl-C closes at once)")
    parser.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                        help="serve Prometheus metrics at /metrics on this port, a listener of "
                             "their own, never the public one (default: off)")
    parser.add_argument("--metrics-host", default="127.0.0.1", metavar="ADDRESS",
                        help="address of the metrics listener (default: 127.0.0.1)")
    parser.add_argument("--ready-file", metavar="PATH", type=Path, default=None,
                        help="once every listener serves, write {\"url\", \"port\", \"pid\", "
                             "\"version\"} (and \"metrics_port\") here as JSON, readable only "
                             "by this user, for a test harness or service manager to wait on; "
                             "removed at a clean stop (default: none)")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="log verbosity (default: INFO); secrets are never logged")
    parser.add_argument("--log-format", default="text", choices=logs.FORMATS,
                        help="text lines, or one JSON object per line for a log shipper "
                             "(default: text)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    apps = commands.add_parser("apps", parents=[storage], help="create, change or list apps",
                               description="Create apps, change their policies, list them.")
    apps_commands = apps.add_subparsers(dest="apps_command", metavar="ACTION", required=True)
    policies = argparse.ArgumentParser(add_help=False)
    policies.add_argument("--allowed-origin", action="append", metavar="ORIGIN",
                          help="a browser origin (https://host[:port]) allowed to open the "
                               "WebSocket and to call the REST paths with credentials; "
                               "repeatable (default: any page may connect, and only this "
                               "server's own origin gets CORS)")
    policies.add_argument("--require-access-token", action=argparse.BooleanOptionalAction,
                          help="refuse logins by user ID alone, and with them the creation of "
                               "users by whoever connects first (default: off)")
    create = apps_commands.add_parser(
        "create", parents=[storage, policies],
        help="create an app and print its app_id and api_key",
        description='Create an app; print {"app_id": "...", "api_key": "..."} as one JSON line. '
                    "The API key is shown only this once.")
    create.add_argument("name", help="a name for the app")
    create.add_argument("--app-id", help="keep an existing ChatCamp app ID (19 digits) instead "
                                         "of generating one")
    create.add_argument("--api-key", help="keep an existing ChatCamp API key instead of "
                                          "generating one (at least 16 characters)")
    update = apps_commands.add_parser(
        "update", parents=[storage, policies], help="change an app's policies",
        description="Change an app's policies and print the app as one JSON line. A running "
                    "server applies the change within a few seconds.")
    update.add_argument("app_id", help="the app to change")
    update.add_argument("--any-origin", action="store_true",
                        help="forget the allowed origins: any page may connect again")
    apps_commands.add_parser("list", parents=[storage], help="list apps (never their keys)",
                             description="List apps and their policies as JSON lines; API "
                                         "keys are not stored readably and are never shown.")
    admin.add_parser(commands, storage)
    migrate = commands.add_parser(
        "migrate", help="copy apps, users, tokens, ended sessions, operators and the audit log "
                        "into an empty database",
        description="Copy every app, user, token, used session key, dashboard operator and "
                    "audit entry from one database into another that has none yet, as "
                    "stored: hashes stay hashes and sealed tokens stay sealed, so serve the "
                    "copy with the source's secret file, and "
                    "every key and token that worked before works after. Prints the counts.")
    migrate.add_argument("--from", dest="source", required=True, metavar="PATH_OR_URL",
                         help="the database to copy: a SQLite path or a postgresql:// URL")
    migrate.add_argument("--to", dest="target", required=True, metavar="URL",
                         help="the empty database to fill, such as postgresql://USER@HOST/DB")
    browser = commands.add_parser(
        "assets", help="install the browser assets, or print where they are",
        description="The pages' third-party files (the ChatCamp SDK, PyScript, Pyodide, "
                    "MicroPython and the browser's Python wheels) are installed once, outside "
                    "the Python package, into the directory that the path action prints: "
                    f"${assets.ENV_ASSETS_DIR}, else ${{XDG_DATA_HOME}}/{assets.DATA_DIR_NAME}"
                    f" (~/.local/share/{assets.DATA_DIR_NAME}), or a checkout's own folders.")
    browser_commands = browser.add_subparsers(dest="assets_command", metavar="ACTION",
                                              required=True)
    browser_commands.add_parser(
        "install", help="fill the directory with npm ci and pip download",
        description="Install the versions pinned by the shipped package-lock.json with npm "
                    "ci, and the browser's wheels with this Python's pip; needs npm and the "
                    "registries once, the running server never does. Run it again after an "
                    "upgrade.")
    browser_commands.add_parser("path", help="print the assets directory",
                                description="Print the directory the server serves the "
                                            "browser assets from.")
    return parser


def first_app_path(db: Path) -> Path:
    return Path(str(db) + ".first-app.json")


def _deployment(args: argparse.Namespace, redis: bool = False) -> Deployment:
    return resolve(getattr(args, "database", None), getattr(args, "db", None),
                   getattr(args, "secret_file", None), args.redis if redis else None,
                   DEFAULT_DB)


async def _apps(args: argparse.Namespace) -> None:
    """Changes are audited, as the dashboard's are, under the command line's name."""
    store, keys = await open_store(_deployment(args))
    audit = Operators(store)
    try:
        if args.apps_command == "create":
            app, api_key = await create_app(
                store, keys, DEFAULT_LIMITS, args.name, args.app_id, args.api_key,
                allowed_origins(args.allowed_origin or []), bool(args.require_access_token))
            await audit.record(CLI_ACTOR, "apps.create", app.id, {
                "name": app.name, "allowed_origins": list(app.allowed_origins),
                "require_access_token": app.require_access_token})
            print(json.dumps({"app_id": app.id, "api_key": api_key}))
        elif args.apps_command == "update":
            changes: dict[str, object] = {}
            if args.any_origin or args.allowed_origin:
                changes["allowed_origins"] = [] if args.any_origin else args.allowed_origin
            if args.require_access_token is not None:
                changes["require_access_token"] = args.require_access_token
            if not changes:
                raise ServerError("nothing to change: give --allowed-origin, --any-origin or "
                                  "--[no-]require-access-token")
            updated = await update_policies(store, args.app_id, changes)
            await audit.record(CLI_ACTOR, "apps.update", updated.id, changes)
            print(json.dumps(describe(updated)))
        else:
            for app in await store.list_apps():
                print(json.dumps(describe(app)))
    finally:
        await store.close()


async def _admin(args: argparse.Namespace) -> None:
    store, _ = await open_store(_deployment(args))
    try:
        await admin.run(args, store)
    finally:
        await store.close()


async def _assets(args: argparse.Namespace) -> None:
    where = assets.layout()
    if args.assets_command == "path":
        print(where.assets)
        return
    print(f"Installing the browser assets into {where.assets} (npm ci, pip download)",
          flush=True)
    await asyncio.to_thread(assets.install, where)
    print(f"Installed the browser assets into {where.assets}", flush=True)


async def _migrate(args: argparse.Namespace) -> None:
    if not is_postgres(args.source) and not Path(args.source).is_file():
        raise ServerError(f"there is no database at {args.source} to copy", "NO_SOURCE")
    source, target = store_for(args.source), store_for(args.target)
    await source.open()
    try:
        await target.open()
        try:
            print(json.dumps(await copy_store(source, target)))
        finally:
            await target.close()
    finally:
        await source.close()


def _raise_file_limit() -> None:
    """Every live session holds a socket: let the server use all the descriptors it may."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _public_origins(args: argparse.Namespace) -> PublicOrigins:
    if args.public_origin:
        return PublicOrigins.of(args.public_origin)
    if args.host in WILDCARD_HOSTS:
        logging.warning("listening on every address, but answering only for loopback names: "
                        "give --public-origin for the address browsers use")
    return PublicOrigins.default(args.host, args.port)


def _write_private_json(path: Path, value: dict[str, object]) -> None:
    """Written new (never through an existing file or link, whose mode would stay), readable
    only by this user, and renamed into place, so a reader never sees half a file."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(value) + "\n")
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise


def write_first_app(path: Path, app_id: str, api_key: str) -> None:
    """The first app's credentials go to a file only this user can read, not to standard
    output: service managers keep a server's output in logs that others read and ship."""
    try:
        _write_private_json(path, {"app_id": app_id, "api_key": api_key})
    except OSError as exc:
        raise ServerError(f"cannot write the first app's API key to {path} ({exc.strerror}); "
                          f"app {app_id} exists but its key is lost: make another with "
                          "serve.py apps create", "FIRST_APP_FILE") from None


def _bind_free_port(host: str) -> socket.socket:
    """``--port 0``: bound before anything else is built, because the public origins (the
    Host values the server answers to) name the port.  A host with several addresses gets
    the first: one free port is not free on every address."""
    try:
        family, _, _, _, address = socket.getaddrinfo(
            host or None, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        return socket.create_server((address[0], 0), family=family, backlog=LISTEN_BACKLOG)
    except OSError as exc:
        raise ServerError(f"cannot listen on {host}:0: {exc.strerror}", "LISTEN_FAILED") from None


async def _serve(args: argparse.Namespace) -> None:
    _raise_file_limit()
    limits = dataclasses.replace(DEFAULT_LIMITS, **{
        field: getattr(args, field) for field, _ in LIMIT_OPTIONS.values()})
    listener = _bind_free_port(args.host) if args.port == 0 else None
    if listener is not None:
        args.port = listener.getsockname()[1]
    public = _public_origins(args)
    deployment = _deployment(args, redis=True)
    try:
        server, created = await open_server(deployment, public, limits, args.demo)
    except BaseException:
        if listener is not None:
            listener.close()
        raise
    if created:
        credentials = first_app_path(Path(deployment.database))
        write_first_app(credentials, *created)
        print(f"Created the first app, APP_ID {created[0]}. Its API key is in {credentials}, "
              "readable only by this user: copy it to your backend, then delete the file.",
              flush=True)
    unready = assets.missing_warning(assets.layout(), server.missing_assets)
    if unready is not None:
        logging.warning(unready)
    runner = connections.runner(server.web_app, limits, args.trusted_proxy,
                                access_log_class=RedactingAccessLogger,
                                handle_signals=False, shutdown_timeout=5)
    await runner.setup()
    try:
        site = (web.TCPSite(runner, args.host, args.port, backlog=LISTEN_BACKLOG)
                if listener is None else web.SockSite(runner, listener, backlog=LISTEN_BACKLOG))
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        await server.close()
        raise ServerError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}",
                          "LISTEN_FAILED") from None
    metrics = await _metrics_listener(server, args, runner)
    local = "127.0.0.1" if args.host in ("0.0.0.0", "") else args.host
    if ":" in local:
        local = f"[{local}]" if local != "::" else "[::1]"
    page = public.first()
    if server.demo is not None:
        await server.demo.start(f"http://{local}:{args.port}", urlsplit(page).netloc)
        print(f"Demo (demo app {server.demo.app_id}): {page}/ and "
              f"{page}/static/widget_demo.html?user=alice")
    if deployment.shared or deployment.redis_url:
        shared = "Redis" if deployment.redis_url else "no Redis: this node alone"
        print(f"Node {server.sharing.node_id or 'local'} on {deployment.describe_database()}"
              f" with {shared}", flush=True)
    operators = await server.store.list_operators()
    print(f"Dashboard: {page}/dashboard/" + ("" if operators else
          f" (make its first operator with: {args.prog} admin create NAME)"))
    stopping: asyncio.Queue[float] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stopping.put_nowait, 0.0)
    loop.add_signal_handler(signal.SIGTERM, stopping.put_nowait, args.drain_seconds)
    _settle_collector()
    print(f"Serving on http://{local}:{args.port}/ for {', '.join(public.ordered)} "
          "(Ctrl-C to stop)", flush=True)
    drain_seconds = 0.0
    try:
        if args.ready_file is not None:
            _write_ready_file(args.ready_file, f"http://{local}:{args.port}", args.port, metrics)
        drain_seconds = await stopping.get()
    finally:
        await _shutdown(server, runner, drain_seconds)
        if metrics is not None:
            await metrics.cleanup()
    if args.ready_file is not None:
        args.ready_file.unlink(missing_ok=True)


def _settle_collector() -> None:
    """CPython's full collection walks every object alive: with a thousand sessions held,
    one stalled the event loop for 50–75 ms (``bench/open_channels.py``), a pause every
    session saw as a late message.  What startup made (modules, the app, its caches) lives
    as long as the process, so it is frozen out of every collection; and the youngest
    generation waits for GC_YOUNG_THRESHOLD allocations instead of 700, since what a
    fan-out allocates is freed by reference counting, and collecting it often only promotes
    more objects toward the full collections."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def _write_ready_file(path: Path, url: str, port: int, metrics: web.AppRunner | None) -> None:
    """The machine-readable "serving now" signal, written last, so whoever waits on it (a
    test harness, a service manager) reads the chosen ports instead of parsing the output."""
    ready: dict[str, object] = {"url": url, "port": port, "pid": os.getpid(),
                                "version": __version__}
    if metrics is not None:
        ready["metrics_port"] = metrics.addresses[0][1]
    try:
        _write_private_json(path, ready)
    except OSError as exc:
        raise ServerError(f"cannot write the ready file {path} ({exc.strerror})",
                          "READY_FILE") from None


async def _metrics_listener(server: Server, args: argparse.Namespace,
                            runner: web.AppRunner) -> web.AppRunner | None:
    """The metrics' own listener, when asked for; a port that cannot be had stops the start
    as the public one's would."""
    if args.metrics_port is None:
        return None
    metrics = web.AppRunner(server.metrics.web_app(), access_log=None, handle_signals=False)
    await metrics.setup()
    try:
        await web.TCPSite(metrics, args.metrics_host, args.metrics_port).start()
    except OSError as exc:
        await metrics.cleanup()
        await runner.cleanup()
        await server.close()
        raise ServerError(f"cannot listen for metrics on {args.metrics_host}:"
                          f"{args.metrics_port}: {exc.strerror}", "LISTEN_FAILED") from None
    port = metrics.addresses[0][1]
    print(f"Metrics on http://{args.metrics_host}:{port}/metrics", flush=True)
    return metrics


async def _shutdown(server: Server, runner: web.AppRunner, drain_seconds: float) -> None:
    """Stop listening first: a client whose socket is closed early would otherwise reconnect
    to this server while it is still closing the others, and have to come back twice."""
    server.health.draining = True
    for site in list(runner.sites):
        await site.stop()
    await server.drain(drain_seconds)
    await runner.cleanup()
    await server.close()


GC_YOUNG_THRESHOLD = 50_000
"""Allocations between collections of the youngest generation (see ``_settle_collector``):
the garbage in cycles it leaves for longer is a few MiB at most."""


def main(argv: Sequence[str] | None = None, prog: str = "serve.py") -> int:
    """The command line, named ``prog`` in its help and errors (``serve.py`` in the
    checkout, ``python -m chatcamp_server`` as a module)."""
    args = build_parser(prog).parse_args(argv)
    args.prog = prog
    logs.configure(args.log_level, args.log_format)
    quiet_malformed_requests()
    try:
        commands = {"apps": _apps, "admin": _admin, "migrate": _migrate, "assets": _assets}
        asyncio.run(commands.get(args.command, _serve)(args))
    except ServerError as exc:
        print(f"{prog}: error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def console_main() -> int:
    """The ``chatcamp-server`` command an installed package gives: an entry point takes no
    arguments, and the help and errors should name the command as it was typed."""
    return main(prog="chatcamp-server")
