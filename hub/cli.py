"""The ``hub`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hub import __version__
from hub.config import Settings
from hub.errors import HubError


def _print(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, default=str))


def _open_hub(settings: Settings):
    from hub.runtime import Hub

    return Hub.open(settings)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from hub import logs
    from hub.app import create_app

    # Before uvicorn configures its loggers, which keeps their filters: no token reaches the log.
    logs.install()
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=args.log_level,
                proxy_headers=True, timeout_graceful_shutdown=5, **serve_limits(settings))
    return 0


def serve_limits(settings: Settings) -> dict[str, object]:
    """uvicorn's limits for slow or too many clients (issue 14, docs/deploy.md): connections past
    ``limit_concurrency`` are answered 503 at once, kept below the process's open-file limit so a
    flood cannot leave it unable to accept at all; idle keep-alive connections close after
    ``timeout_keep_alive``. uvicorn has no timeout for a request's headers: nginx's
    ``client_header_timeout`` in front is what ends a slowloris."""
    import resource

    limit = settings.serve_limit_concurrency
    if limit is None:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        # Room for the database, the media files being sent, logs and the event streams' sockets.
        limit = max(32, (soft if soft != resource.RLIM_INFINITY else 65536) - 200)
    return {"limit_concurrency": limit, "timeout_keep_alive": settings.serve_keep_alive_s,
            "backlog": settings.serve_backlog, "h11_max_incomplete_event_size": 64 * 1024}


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    hub = _open_hub(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    hub.listen()
    hub.pipeline.start(max(1, args.threads))
    logging.getLogger("hub").info("worker running with %d thread(s)", max(1, args.threads))
    stop.wait()
    hub.close()
    return 0


# Whoever may run these commands owns the machine: they act with no principal (the audit log
# records no actor) and are bound by the domain's rules, not by a role.


def cmd_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    from hub.signing import Keyring

    _print(Keyring(settings.data_dir / "keys").public_keys())
    return 0


def cmd_keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    """A new signing key; the others go on signing for the overlap, so devices can be moved over."""
    from datetime import timedelta

    from hub.signing import Keyring

    if not 0 <= args.overlap_days <= 365:
        print("hub keys rotate: --overlap-days must be between 0 and 365", file=sys.stderr)
        return 2
    keys = Keyring(settings.data_dir / "keys")
    new = keys.rotate(timedelta(days=args.overlap_days))
    _print({"new": {"id": new.id, "algorithm": "ed25519", "public_key": new.public_b64},
            "signing": keys.public_keys()})
    return 0


def cmd_keys_retire(args: argparse.Namespace, settings: Settings) -> int:
    from hub.signing import Keyring

    keys = Keyring(settings.data_dir / "keys")
    try:
        keys.retire(args.key_id)
    except ValueError as exc:
        print(f"hub keys retire: {exc}", file=sys.stderr)
        return 2
    _print({"signing": keys.public_keys()})
    return 0


def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Walk the audit log's hash chain: 0 when intact, 1 naming the first entry changed, removed or inserted."""
    result = _open_hub(settings).services.audit.verify()
    if not result["intact"]:
        print(f"hub audit verify: audit entry #{result['entry']}: {result['problem']}", file=sys.stderr)
    _print(result)
    return 0 if result["intact"] else 1


def cmd_communes_add(args: argparse.Namespace, settings: Settings) -> int:
    hub = _open_hub(settings)
    _print(hub.services.directory.add_commune(None, args.code, args.name, voice=args.voice))
    return 0


def cmd_communes_import_geojson(args: argparse.Namespace, settings: Settings) -> int:
    try:
        text = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"hub communes import-geojson: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    hub = _open_hub(settings)
    _print(hub.services.directory.import_boundaries(None, text, code_property=args.code_property))
    return 0


def _read_password() -> str:
    """One line of standard input, without its line end (a password never appears in argv)."""
    return sys.stdin.readline().rstrip("\r\n")


def cmd_users_add(args: argparse.Namespace, settings: Settings) -> int:
    password = _read_password() if args.password_stdin else None
    hub = _open_hub(settings)
    _print(hub.services.directory.add_user(None, args.name, args.role, args.commune, password=password))
    return 0


def cmd_users_set_password(args: argparse.Namespace, settings: Settings) -> int:
    password = _read_password()
    hub = _open_hub(settings)
    _print(hub.services.directory.set_password(None, args.name, password))
    return 0


def cmd_devices_add(args: argparse.Namespace, settings: Settings) -> int:
    hub = _open_hub(settings)
    _print(hub.services.directory.register_device(None, args.name, args.commune, args.kind))
    return 0


def cmd_playlists_sync(args: argparse.Namespace, settings: Settings) -> int:
    hub = _open_hub(settings)
    report = hub.services.playlists.sync(Path(args.directory))
    _print(report.as_dict())
    for error in report.errors:
        print(error, file=sys.stderr)
    return 1 if report.errors else 0


def cmd_plugins(args: argparse.Namespace, settings: Settings) -> int:
    from hub.plugins import list_plugins, make_plugin_manager

    plugins = list_plugins(make_plugin_manager(settings))
    if args.json:
        _print(plugins)
    else:
        for plugin in plugins:
            print(f"{plugin['name']} {plugin['version'] or ''}: {', '.join(plugin['hooks'])}")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from hub.demo import run_demo

    if (args.host or args.port) and "HUB_PUBLIC_URL" not in os.environ:
        host = args.host or "127.0.0.1"
        host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        host = f"[{host}]" if ":" in host else host
        settings = settings.model_copy(update={"public_url": f"http://{host}:{args.port or 8000}"})
    return run_demo(settings, fresh=args.fresh)


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from hub.store import migrate

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.sqlalchemy_url, args.revision)
    return 0


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from hub.backup import backup

    _print(backup(settings, Path(args.file)).as_dict())
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from hub.backup import restore

    _print(restore(settings, Path(args.file)).as_dict())
    return 0


def cmd_db_copy(args: argparse.Namespace, settings: Settings) -> int:
    from hub.backup import copy_database
    from hub.config import Settings as Target

    target = Target(data_dir=settings.data_dir, database_url=args.to).sqlalchemy_url
    _print({"from": settings.sqlalchemy_url.split("@")[-1], "to": target.split("@")[-1],
            "rows": copy_database(settings.sqlalchemy_url, target)})
    return 0


def build_parser(pm=None, settings: Settings | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub", description="grassroots-hub: bulletins to loudspeakers, boards and feeds")
    parser.add_argument("--version", action="version", version=f"grassroots-hub {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, func: Callable, help_text: str, parent=sub) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = command("serve", cmd_serve, "serve the API, pages, feeds and media (and render, unless HUB_WORKERS=0)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--log-level", default="info")

    p = command("worker", cmd_worker, "run render workers alone (use with HUB_WORKERS=0 on the server)")
    p.add_argument("--threads", type=int, default=1)

    p = command("demo", cmd_demo, "fill an empty data folder with demo data and render it offline")
    p.add_argument("--fresh", action="store_true", help="refuse nothing: add demo data even if the folder has data")
    p.add_argument("--host", help="the host `hub serve` will listen on (for the addresses printed; "
                                  "HUB_PUBLIC_URL, when set, wins)")
    p.add_argument("--port", type=int, help="the port `hub serve` will listen on (likewise)")

    p = command("plugins", cmd_plugins, "list the loaded plugins and their hooks")
    p.add_argument("--json", action="store_true")

    communes = sub.add_parser("communes", help="manage communes").add_subparsers(dest="action", required=True)
    p = command("add", cmd_communes_add, "add a commune", communes)
    p.add_argument("code")
    p.add_argument("name")
    p.add_argument("--voice", help="preferred voice for this commune, e.g. vi-VN-x-south")
    p = command("import-geojson", cmd_communes_import_geojson,
                "set communes' outlines from a GeoJSON FeatureCollection (CAP alerts carry them as <polygon>)",
                communes)
    p.add_argument("file", help="a GeoJSON file: one Feature per commune, Polygon or MultiPolygon")
    p.add_argument("--code-property", help="the feature property holding the commune code "
                   "(default: the first of code, ma_xa, MA_XA, maxa, ma)")

    users = sub.add_parser("users", help="manage users").add_subparsers(dest="action", required=True)
    p = command("add", cmd_users_add, "add a user and print its token (shown only this once)", users)
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=["admin", "editor", "operator", "monitor"])
    p.add_argument("--commune")
    p.add_argument("--password-stdin", action="store_true", help="read a console password from standard input")
    p = command("set-password", cmd_users_set_password,
                "set a user's console password, read from standard input (their sessions end)", users)
    p.add_argument("name")

    devices = sub.add_parser("devices", help="manage devices").add_subparsers(dest="action", required=True)
    p = command("add", cmd_devices_add, "register a device and print its token (shown only this once)", devices)
    p.add_argument("name")
    p.add_argument("--commune", required=True)
    p.add_argument("--kind", default="speaker", choices=["speaker", "display"])

    keys = sub.add_parser("keys", help="the keys manifests are signed with").add_subparsers(dest="action",
                                                                                          required=True)
    command("list", cmd_keys_list, "print the public keys that sign now (give them to --trust-key)", keys)
    p = command("rotate", cmd_keys_rotate, "add a new signing key; the older ones sign on for the overlap", keys)
    p.add_argument("--overlap-days", type=float, default=30.0,
                   help="how long the older keys go on signing (default 30; 0 retires them now)")
    p = command("retire", cmd_keys_retire, "end an older key's overlap now (every device trusts the new key)", keys)
    p.add_argument("key_id")

    audit = sub.add_parser("audit", help="the audit log").add_subparsers(dest="action", required=True)
    command("verify", cmd_audit_verify, "check the audit log's hash chain (exit 1 naming the first break)", audit)

    lists = sub.add_parser("playlists", help="playlist files").add_subparsers(dest="action", required=True)
    p = command("sync", cmd_playlists_sync, "make the file playlists equal the YAML files in DIR", lists)
    p.add_argument("directory", metavar="DIR")

    from hub.agent import add_arguments as agent_arguments, run as agent_run

    p = command("agent", lambda args, _settings: agent_run(args),
                "run the reference loudspeaker agent (docs/agent.md)")
    agent_arguments(p)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="action", required=True)
    p = command("upgrade", cmd_db_upgrade, "migrate the database schema (default: to the newest)", db)
    p.add_argument("revision", nargs="?", default="head")
    p = command("copy", cmd_db_copy, "copy every row of this hub's database (it may keep running) into another, "
                                     "empty one, e.g. SQLite to PostgreSQL (docs/deploy.md)", db)
    p.add_argument("--to", required=True, metavar="URL", help="the target, e.g. postgresql://hub@db/hub")

    p = command("backup", cmd_backup, "write one archive of the database, media store and signing keys "
                                      "(the hub may keep running)")
    p.add_argument("file", metavar="FILE")
    p = command("restore", cmd_restore, "restore an archive into an empty data folder (or empty HUB_DATABASE_URL), "
                                        "checking every media file's hash")
    p.add_argument("file", metavar="FILE")

    if pm is not None:
        pm.hook.hub_register_commands(subparsers=sub, settings=settings)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; a bad setting or a domain error is one line on stderr and exit status 2."""
    from hub.plugins import make_plugin_manager

    def run() -> int:
        settings = Settings()
        pm = make_plugin_manager(settings)
        args = build_parser(pm, settings).parse_args(argv)
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if not args.verbose:
            logging.getLogger("alembic").setLevel(logging.WARNING)
        return args.func(args, settings) or 0

    try:
        return run()
    except ValidationError as exc:
        print(f"hub: invalid setting: {exc}", file=sys.stderr)
        return 2
    except HubError as exc:
        print(f"hub: {exc.detail}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
