"""The ``moroccron`` command.

Exit status: see :data:`EXIT_CODES` (shown at the end of ``moroccron --help``).
Commands that read or change the database directly live here; those that talk to a
running scheduler through its API are in :mod:`moroccron.cli_api`, shell completion in
:mod:`moroccron.cli_completion`. Global options (``--db``, ``--config``, ``-v``) work
before or after the command.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from moroccron import __version__
from moroccron.config import Settings, load_settings
from moroccron.errors import MoroccronError
from moroccron.masking import mask_job

log = logging.getLogger("moroccron.cli")


EXIT_CODES = """\
exit status:
  0    success
  1    the command was understood but failed: invalid job or module, unknown job or run,
       database or scheduler unreachable, schema newer than this moroccron, refused
       confirmation; for serve also: the port cannot be bound, or the leadership was lost
       (the supervisor restarts it as a standby)
  2    usage error (unknown command or option, bad option value)
  3    not used: serve binds its port before anything else, and a port in use is
       status 1 with one error line (versions before that exited 3 from the HTTP
       server's own start-up)
  130  interrupted (Ctrl-C); serve: a second SIGINT during its stop (143 for SIGTERM)
  run --wait: the run's outcome: 0 succeeded; otherwise the task's exit status when the
       agent reported one from 1 to 255 (a kill by SIGTERM is 143); else 1 (lost,
       skipped, killed before it started)
"""


def _settings(args: argparse.Namespace) -> Settings:
    flags = {k: getattr(args, k, None) for k in ("db", "bind", "master", "zk", "config", "packing")}
    jobs = getattr(args, "jobs", None)
    if jobs:
        flags["jobs"] = tuple(jobs)
    if getattr(args, "insecure", False):
        flags["insecure"] = True
    return load_settings(flags)


settings_for = _settings
"""The settings a command runs with: its flags over the environment over ``--config``."""


def _store(settings: Settings, *, upgrade: bool = True) -> Any:
    from moroccron.store import Store

    store = Store(settings.db)
    if upgrade:
        store.ensure_schema()
    return store


def _plugins(settings: Settings) -> Any:
    from moroccron.hooks.manager import PluginManager

    return PluginManager(disabled=settings.disable_plugins)


def _fmt_time(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC") if dt else "-"


# --------------------------------------------------------------------------- commands


def cmd_db(args: argparse.Namespace) -> int:
    settings = _settings(args)
    store = _store(settings, upgrade=False)
    if args.db_command == "upgrade":
        before = store.current_revision()
        store.upgrade(args.revision)
        print(f"database {_safe_url(settings.db)}: {before or 'empty'} -> {store.current_revision()}")
    elif args.db_command == "downgrade":
        from moroccron.cli_confirm import confirm

        undone = store.revisions_to_undo(args.revision)
        if not undone:
            print(f"database {_safe_url(settings.db)}: already at {store.current_revision() or 'base (empty)'}")
            return 0
        listing = "\n".join(f"  {r.id}  {r.doc.splitlines()[0] if r.doc else ''}".rstrip() for r in undone)
        confirm(
            f"Downgrade database {_safe_url(settings.db)} from {undone[0].id} to {args.revision}? "
            f"It undoes:\n{listing}\nData in the tables and columns these revisions added is deleted "
            "and cannot be recovered.",
            yes=args.yes,
            what=f"downgrade the database to {args.revision}",
        )
        store.downgrade(args.revision)
        print(f"database {_safe_url(settings.db)}: now at {store.current_revision() or 'base (empty)'}")
    else:
        print(store.current_revision() or "base (empty)")
    return 0


def _safe_url(url: str) -> str:
    """The database URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<database>"


def cmd_jobs_apply(args: argparse.Namespace) -> int:
    """Load and validate the modules here, then apply them to the database, or with
    ``--api`` through a running scheduler's API (the same plan, all or nothing)."""
    from moroccron.apiclient import ApiError, api_client
    from moroccron.definitions import (
        apply_definitions,
        apply_payload,
        default_source,
        dry_run_store,
        load_definitions,
    )
    from moroccron.errors import FieldError, ValidationError
    from moroccron.hooks.manager import PluginManager

    source = args.source if args.source is not None else default_source(args.paths)
    try:
        # the plugins first: the channels they register are what jobs' targets and owners' contacts may name
        settings = None if args.api else _settings(args)
        plugins = PluginManager() if settings is None else _plugins(settings)
        defs = load_definitions(args.paths)
        if args.api:
            payload = apply_payload(defs, source=source, prune=args.prune, dry_run=args.dry_run)
            answer = api_client(args.api, args.token, "").post("/api/v1/apply", json=payload, timeout=300)
            lines, summary, empty, notes = answer["lines"], answer["summary"], answer["empty"], answer["notes"]
        else:
            assert settings is not None
            if args.dry_run:
                store, notes, has_sources = dry_run_store(settings.db)
            else:
                store, notes, has_sources = _store(settings), [], True
            plan = apply_definitions(
                store,
                defs,
                prune=args.prune,
                dry_run=args.dry_run,
                plugins=plugins,
                source=source,
                stored_sources=has_sources,
            )
            lines, summary, empty = plan.lines(), plan.summary(), plan.empty
    except ValidationError as exc:
        print(f"moroccron: error: {exc.render()}", file=sys.stderr)
        return 1
    except ApiError as exc:
        problems = exc.body.get("errors") if isinstance(exc.body, dict) else None
        if exc.status == 422 and problems and len(problems) > 1:
            print(f"moroccron: error: HTTP 422: {len(problems)} problems:", file=sys.stderr)
            for p in problems:
                shown = FieldError(str(p.get("field")), str(p.get("error")), p.get("value"), p.get("allowed"))
                print(f"  - {shown}", file=sys.stderr)
            return 1
        raise
    for note in notes:
        print(f"note: {note}")
    print(f"source: {source}")
    for line in lines:
        print(line)
    verb = "would apply" if args.dry_run else "applied"
    print(f"{verb}: {summary}" if not empty else "no changes")
    return 0


def cmd_chronos_import(args: argparse.Namespace) -> int:
    from moroccron.chronos_import import import_export, parse_export, plan_lines, read_source

    settings = _settings(args)
    export = parse_export(read_source(args.source, timeout=args.timeout))
    store = _store(settings)
    plan = import_export(store, export, prune=args.prune, dry_run=args.dry_run, plugins=_plugins(settings))
    for line in plan_lines(plan, export):
        print(line)
    verb = "would apply" if args.dry_run else "applied"
    print(f"{verb}: {plan.summary()}" if not plan.empty else f"no changes ({len(plan.unchanged)} unchanged)")
    return 0


def cmd_jobs_list(args: argparse.Namespace) -> int:
    from moroccron.schedule.parse import parse_schedule

    settings = _settings(args)
    store = _store(settings)
    jobs, total = store.list_jobs(owner=args.owner, q=args.q, offset=0, limit=args.limit)
    if args.json:
        # The CLI reads the database directly, as an admin would: secret values stay hidden.
        print(json.dumps([mask_job(j.to_dict(), reveal=True) for j in jobs], indent=2))
        return 0
    now = datetime.now(UTC)
    rows = [("NAME", "SCHEDULE", "NEXT RUN", "OWNERS", "STATE")]
    for job in jobs:
        if job.schedule:
            sched = parse_schedule(job.schedule, job.timezone)
            nxt = _fmt_time(sched.next_after(now))
            what = sched.describe()
        else:
            nxt = "after " + ", ".join(job.parents) if job.parents else "on demand"
            what = "-"
        rows.append((job.name, what, nxt, ", ".join(job.owners) or "-", "disabled" if job.disabled else "enabled"))
    _table(rows)
    if total > len(jobs):
        print(f"... {total - len(jobs)} more (use --limit)")
    return 0


NEXT_COUNT_MAX = 1000
"""Fire times ``jobs next`` prints at most per job: each is one search for the next fire."""


def _next_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= NEXT_COUNT_MAX:
        raise argparse.ArgumentTypeError(f"-n/--count: {text!r} is not a whole number from 1 to {NEXT_COUNT_MAX}")
    return count


def _instant(text: str) -> datetime:
    """An ISO 8601 date-time; without an offset it is UTC."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--from: {text!r} is not an ISO 8601 date-time such as 2028-02-29T12:00:00Z"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def cmd_jobs_next(args: argparse.Namespace) -> int:
    from moroccron.schedule.parse import parse_schedule

    settings = _settings(args)
    store = _store(settings)
    jobs = [store.get_job(n) for n in args.names] if args.names else store.all_jobs()
    start = args.start.astimezone(UTC) if args.start is not None else datetime.now(UTC)
    for job in sorted(jobs, key=lambda j: j.name):
        if not job.schedule:
            trigger = f"after {' and '.join(job.parents)} succeed" if job.parents else "on demand only"
            print(f"{job.name}: {trigger}")
            continue
        sched = parse_schedule(job.schedule, job.timezone)
        print(f"{job.name}: {sched.describe()}")
        # No horizon: each fire time is searched for from the previous one, as far ahead
        # as it is; the count bounds the searches.
        cursor: datetime = start
        found = 0
        while found < args.count:
            nxt = sched.next_after(cursor)
            if nxt is None or nxt <= cursor:
                break
            local = nxt.astimezone(sched.tz) if job.timezone != "UTC" else None
            extra = f"  ({local.strftime('%Y-%m-%d %H:%M:%S %Z')})" if local else ""
            print(f"    {_fmt_time(nxt)}{extra}")
            cursor, found = nxt, found + 1
        if found == args.count:
            continue
        if sched.ends:
            print("    (schedule has ended)" if found == 0 else "    (no more: the schedule ends here)")
        else:
            print(f"    (no more fire times found after {_fmt_time(cursor)}: the search for the next one gave up)")
    return 0


def cmd_jobs_show(args: argparse.Namespace) -> int:
    store = _store(_settings(args))
    print(json.dumps(mask_job(store.get_job(args.name).to_dict(), reveal=True), indent=2))
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    settings = _settings(args)
    pm = _plugins(settings)
    rows = [("PLUGIN", "FROM", "HOOKS")]
    for info in pm.list_plugins():
        rows.append((info.name, info.source, ", ".join(info.hooks)))
    _table(rows)
    blocked = pm.blocked
    if blocked:
        print(f"blocked: {', '.join(blocked)}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from moroccron.service import serve

    return serve(_settings(args))


def cmd_auth_hash(args: argparse.Namespace) -> int:
    """Print the stored form of a password (PBKDF2) or, with --token, of a token (SHA-256), for the auth file."""
    import getpass

    from moroccron.auth import MIN_TOKEN_LENGTH, hash_secret, hash_token

    secret = args.secret if args.secret is not None else getpass.getpass("token: " if args.token else "secret: ")
    if not secret:
        print("moroccron: error: the secret is empty", file=sys.stderr)
        return 1
    if args.token and len(secret) < MIN_TOKEN_LENGTH:
        # A fast hash protects only a secret nobody can guess: short tokens keep the slow form.
        print(
            f"moroccron: error: a token needs at least {MIN_TOKEN_LENGTH} characters for the fast form "
            "(`moroccron auth token` makes one); hash a shorter secret without --token",
            file=sys.stderr,
        )
        return 1
    print(hash_token(secret) if args.token else hash_secret(secret))
    return 0


def cmd_auth_token(args: argparse.Namespace) -> int:
    """Make a new random token: print it (give it to the client) and its stored form (for the auth file)."""
    import secrets

    from moroccron.auth import hash_token

    token = secrets.token_urlsafe(32)
    print(f"token:  {token}")
    print(f"stored: {hash_token(token)}")
    return 0


def cmd_owners(args: argparse.Namespace) -> int:
    from moroccron.api.owners import owner_from_body
    from moroccron.model import LEGACY_CONTACT_FIELDS

    settings = _settings(args)
    store = _store(settings)
    if args.owners_command == "list":
        rows = [("OWNER", "NAME", "SLACK", "PAGERDUTY", "MUTED UNTIL", "FAILURE ->")]
        for o in store.list_owners():
            rows.append(
                (
                    o.id,
                    o.name or "-",
                    o.slack or "-",
                    o.pagerduty or "-",
                    _fmt_time(o.mute_until),
                    ", ".join(o.preferences.get("failure", ())) or "(nothing)",
                )
            )
        _table(rows)
    elif args.owners_command == "delete":
        store.delete_owner(args.id)
        print(f"deleted owner {args.id}")
    else:
        try:
            current = store.get_owner(args.id).to_dict()
        except LookupError:
            current = {}
        _plugins(settings)  # registers the installed plugins' channels, which contacts may name
        body = {k: v for k, v in current.items() if k not in ("id", *LEGACY_CONTACT_FIELDS)}
        for key in ("name", "email", "mute_until"):
            value = getattr(args, key)
            if value is not None:
                body[key] = value or None
        contacts = dict(body.get("contacts") or {})
        for key in LEGACY_CONTACT_FIELDS:  # --slack and --pagerduty: shortcuts for --contact
            value = getattr(args, key)
            if value is not None:
                contacts[key] = value or None
        for item in args.contact or ():
            channel, sep, address = item.partition("=")
            if not sep or not channel:
                print(
                    f"moroccron: error: --contact {item!r}: expected CHANNEL=ADDRESS "
                    "(e.g. slack=#ops, or slack= to remove it)",
                    file=sys.stderr,
                )
                return 2
            contacts[channel] = address or None
        body["contacts"] = contacts
        prefs = dict(body.get("preferences") or {})
        for item in args.pref or ():
            event, sep, channels = item.partition("=")
            if not sep:
                print(
                    f"moroccron: error: --pref {item!r}: expected EVENT=CHANNEL[,CHANNEL] "
                    "(e.g. failure=email,slack or failure= for nothing)",
                    file=sys.stderr,
                )
                return 2
            prefs[event] = [c for c in channels.split(",") if c]
        body["preferences"] = prefs
        owner = owner_from_body(args.id, body)
        created = store.put_owner(owner)
        print(f"{'created' if created else 'updated'} owner {owner.id}")
    return 0


def cmd_notify_test(args: argparse.Namespace) -> int:
    """Send a sample failure message to TARGET through the loaded notifiers and report."""
    from moroccron import channels
    from moroccron.errors import ValidationError
    from moroccron.hooks.types import NotifyTarget
    from moroccron.model import JobSpec, Run, RunState, notify_target_problem
    from moroccron.notify import Renderer, payload_for

    settings = _settings(args)
    target = NotifyTarget.parse(args.target)
    plugins = _plugins(settings)
    problem = notify_target_problem(args.target)  # against the channels the plugins registered
    if problem is not None:
        raise ValidationError.single("target", problem, args.target, channels.allowed_targets())
    plugins.startup(config=settings, store=None)
    try:
        now = datetime.now(UTC).replace(microsecond=0)
        job = JobSpec(
            name="moroccron-notify-test",
            command="exit 1",
            owners=(),
            notify={"on_failure": [str(target)]},  # type: ignore[arg-type]
            description="a test message sent by `moroccron notify test`",
        )
        run = Run(
            job=job.name,
            scheduled_at=now,
            state=RunState.FAILED,
            launched_at=now,
            started_at=now,
            finished_at=now,
            exit_status=1,
            message="Command exited with status 1",
            hostname="test",
        )
        payload = payload_for(
            job,
            run,
            {
                "failure_count": 1,
                "pending_subtree": [{"job": "example-child", "owners": ["someone@example.com"], "children": []}],
            },
        )
        notification = Renderer(settings).build("failure", payload, {}, now)
        results = [r for r in plugins.notify(notification=notification) if str(r.target) == str(target)]
    finally:
        plugins.shutdown(config=settings)
    for r in results:
        print(f"{r.target}: {'delivered' if r.ok else 'FAILED'} ({r.detail})")
    if not results:
        print(
            f"{target}: no notifier handled the {target.channel!r} channel "
            f"(is its plugin installed and configured? see `moroccron plugins`)",
            file=sys.stderr,
        )
    return 0 if results and all(r.ok for r in results) else 1


def _table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


print_table = _table
"""Print ``rows`` (the first is the header) as left-aligned columns."""


def cmd_completion(args: argparse.Namespace) -> int:
    from moroccron.cli_completion import completion_script

    sys.stdout.write(completion_script(build_parser(), args.shell))
    return 0


# --------------------------------------------------------------------------- parser


_DB_HELP = "database URL (default sqlite:///moroccron.db; env MOROCCRON_DB)"
_CONFIG_HELP = "TOML config file (env MOROCCRON_CONFIG)"
_VERBOSE_HELP = "debug logging (without it, commands other than serve and db log only warnings)"


def _global_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """``--db``, ``--config`` and ``-v``: on the top parser with real defaults, and on every
    subcommand with ``default=SUPPRESS``, so that one given before the command is not
    overwritten by the subcommand's default (and one given after it wins)."""
    parser.add_argument("--db", default=default, help=_DB_HELP)
    parser.add_argument("--config", default=default, help=_CONFIG_HELP)
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=False if default is None else default, help=_VERBOSE_HELP
    )


def _run_states(text: str) -> str:
    from moroccron.model import RunState

    allowed = [s.value for s in RunState]
    states = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in states if s not in allowed]
    if not states or bad:
        raise argparse.ArgumentTypeError(
            f"{', '.join(bad) or repr(text)} is not a run state; "
            f"allowed: {', '.join(allowed)} (several joined by commas)"
        )
    return ",".join(states)


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1 to 1000")
    return value


def build_parser() -> argparse.ArgumentParser:
    from moroccron import cli_api
    from moroccron.cli_completion import SHELLS

    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, argparse.SUPPRESS)
    api = argparse.ArgumentParser(add_help=False)
    cli_api.add_api_options(api)

    parser = argparse.ArgumentParser(
        prog="moroccron",
        description="Mesos + cron: scheduled and dependent jobs on Mesos.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"moroccron {__version__}", help="print the version and exit"
    )
    _global_options(parser, None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help="what to do")

    db = sub.add_parser("db", help="database schema", parents=[common])
    dbsub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION", help="what to do with the schema")
    up = dbsub.add_parser("upgrade", help="migrate the schema to the newest revision", parents=[common])
    up.add_argument("revision", nargs="?", default="head", help="the revision to migrate to (default: head)")
    down = dbsub.add_parser(
        "downgrade",
        parents=[common],
        help="migrate the schema down to REVISION (asks first: data in dropped tables and columns is deleted)",
    )
    down.add_argument("revision", help="the revision to migrate down to; base drops every table")
    down.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help="do not ask for confirmation (needed when standard input is not a terminal)",
    )
    dbsub.add_parser("current", help="print the schema revision", parents=[common])
    db.set_defaults(func=cmd_db)

    jobs = sub.add_parser("jobs", help="job definitions", parents=[common])
    jsub = jobs.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    apply = jsub.add_parser(
        "apply", help="apply job-definition modules (validate all, then change all)", parents=[common]
    )
    apply.add_argument("paths", nargs="+", metavar="PATH", help="module files or folders of modules")
    apply.add_argument(
        "--prune",
        action="store_true",
        help="delete stored jobs of this source (--source) that the modules no longer define; "
        "jobs of other sources, or made through the API, the UI or chronos import, stay",
    )
    apply.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan, change nothing (a missing database is not created, nor an old one migrated)",
    )
    apply.add_argument(
        "--source",
        metavar="NAME",
        help="name of this set of modules, stored with each job it creates or updates "
        "(default: the PATHs, relative to the working directory, joined with ',')",
    )
    apply.add_argument(
        "--api",
        metavar="URL",
        help="apply through the scheduler's API at URL (POST /api/v1/apply; needs a token with the "
        "write role, admin to change owners) instead of writing to the database",
    )
    apply.add_argument("--token", help="API token for --api (default: environment MOROCCRON_TOKEN)")
    apply.set_defaults(func=cmd_jobs_apply)
    lst = jsub.add_parser("list", help="list jobs", parents=[common])
    lst.add_argument("--owner", help="only the jobs of this owner")
    lst.add_argument("-q", help="search name, description and command")
    lst.add_argument("--limit", type=int, default=1000, help="list at most this many jobs (default 1000)")
    lst.add_argument("--json", action="store_true", help="print the jobs as JSON")
    lst.set_defaults(func=cmd_jobs_list)
    nxt = jsub.add_parser("next", help="print the next fire times of jobs", parents=[common])
    nxt.add_argument("names", nargs="*", metavar="NAME", help="the jobs (default: every job)")
    nxt.add_argument(
        "-n",
        "--count",
        type=_next_count,
        default=3,
        metavar="N",
        help=f"how many fire times per job (1 to {NEXT_COUNT_MAX}, default 3)",
    )
    nxt.add_argument(
        "--from",
        dest="start",
        type=_instant,
        metavar="TIME",
        help="list fire times after this ISO 8601 date-time (default: now; UTC without an offset)",
    )
    nxt.set_defaults(func=cmd_jobs_next)
    show = jsub.add_parser("show", help="print one job as JSON", parents=[common])
    show.add_argument("name", help="the job's name")
    show.set_defaults(func=cmd_jobs_show)
    for verb, func, what in (
        ("enable", cli_api.cmd_jobs_enable, "let a job run on its schedule again"),
        ("disable", cli_api.cmd_jobs_disable, "stop a job from being started (runs on now go on)"),
    ):
        p = jsub.add_parser(verb, help=f"{what} (through the API)", parents=[common, api])
        p.add_argument("name", help="the job's name")
        p.set_defaults(func=func)
    jdel = jsub.add_parser(
        "delete", help="delete a job and its run history (through the API; asks first)", parents=[common, api]
    )
    jdel.add_argument("name", help="the job's name")
    jdel.add_argument("--cascade", action="store_true", help="also delete every job that depends on it")
    jdel.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help="do not ask for confirmation (needed when standard input is not a terminal)",
    )
    jdel.set_defaults(func=cli_api.cmd_jobs_delete)
    jruns = jsub.add_parser("runs", help="a job's run history, newest first (through the API)", parents=[common, api])
    jruns.add_argument("name", help="the job's name")
    jruns.add_argument(
        "--state", type=_run_states, metavar="STATE[,STATE]", help="only runs in these states, e.g. failed,lost"
    )
    jruns.add_argument(
        "--limit", type=_limit, default=20, metavar="N", help="show at most N runs (1 to 1000, default 20)"
    )
    jruns.add_argument("--json", action="store_true", help="print the runs as JSON, as the API answers them")
    jruns.set_defaults(func=cli_api.cmd_jobs_runs)
    jlogs = jsub.add_parser("logs", help="print a run's stdout or stderr (through the API)", parents=[common, api])
    jlogs.add_argument("name", help="the job's name")
    jlogs.add_argument("--run", metavar="TASK", help="the run's task id (default: the job's latest launched run)")
    jlogs.add_argument("--stderr", action="store_true", help="print stderr instead of stdout")
    jlogs.add_argument("-f", "--follow", action="store_true", help="keep printing as the log grows, until the run ends")
    jlogs.set_defaults(func=cli_api.cmd_jobs_logs)

    runs = sub.add_parser("runs", help="single runs, by task id (through the API)", parents=[common])
    rsub = runs.add_subparsers(dest="runs_command", required=True, metavar="ACTION", help="what to do with the run")
    rshow = rsub.add_parser("show", help="print one run: its times, state, exit and agent", parents=[common, api])
    rshow.add_argument("task", metavar="TASK", help="the run's task id (moroccron jobs runs NAME lists them)")
    rshow.add_argument("--json", action="store_true", help="print the run as JSON, as the API answers it")
    rshow.set_defaults(func=cli_api.cmd_runs_show)
    rkill = rsub.add_parser("kill", help="kill a live run (a kill by request is not retried)", parents=[common, api])
    rkill.add_argument("task", metavar="TASK", help="the run's task id")
    rkill.set_defaults(func=cli_api.cmd_runs_kill)

    chronos = sub.add_parser("chronos", help="migrating from Chronos", parents=[common])
    csub = chronos.add_subparsers(dest="chronos_command", required=True, metavar="ACTION", help="what to do")
    cimport = csub.add_parser(
        "import",
        parents=[common],
        help="import Chronos jobs from an export or a live Chronos (validate all, then change all)",
    )
    cimport.add_argument(
        "source",
        metavar="SOURCE",
        help="a JSON file (a list of job hashes, as GET /v1/scheduler/jobs answers), a directory of "
        "*.json files, or the http(s):// URL of a Chronos",
    )
    cimport.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    cimport.add_argument("--prune", action="store_true", help="delete stored jobs the import does not hold")
    cimport.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for a live Chronos (default 30)",
    )
    cimport.set_defaults(func=cmd_chronos_import)

    serve = sub.add_parser("serve", help="run the scheduler, the API and the UI", parents=[common])
    serve.add_argument("--master", help="local (default), HOST:PORT or zk://HOSTS/PATH")
    serve.add_argument("--zk", help="zk://HOSTS/PATH for leader election among instances")
    serve.add_argument("--bind", help="HOST:PORT for the API and UI (default 127.0.0.1:4400)")
    serve.add_argument("--jobs", nargs="+", metavar="PATH", help="job-definition modules to apply at start")
    serve.add_argument("--packing", help="packing strategy: first-fit (default) or best-fit-decreasing")
    serve.add_argument("--insecure", action="store_true", help="allow a non-loopback bind without auth")
    serve.set_defaults(func=cmd_serve)

    run = sub.add_parser(
        "run",
        help="start a job now (through the API); --wait streams its logs and exits with its outcome",
        parents=[common, api],
    )
    run.add_argument("name", help="the job's name")
    run.add_argument("arguments", nargs="*", help="arguments instead of the job's own")
    run.add_argument("--bind", help="HOST:PORT of the scheduler when --api is not given (default: from --config)")
    run.add_argument(
        "-w",
        "--wait",
        action="store_true",
        help="wait for the run to end, printing its stdout and stderr as they grow, and exit with its "
        "outcome: 0 succeeded, else the task's exit status (1-255), else 1",
    )
    run.set_defaults(func=cli_api.cmd_run)

    auth = sub.add_parser("auth", help="API credentials", parents=[common])
    asub = auth.add_subparsers(dest="auth_command", required=True, metavar="ACTION", help="what to do")
    ahash = asub.add_parser(
        "hash", help="print the hashed form of a password (or, with --token, a token) for auth_file"
    )
    ahash.add_argument("secret", nargs="?", help="the secret (asked for when left out)")
    ahash.add_argument(
        "--token", action="store_true", help="the fast form for a high-entropy token (sha256$...) instead of PBKDF2"
    )
    ahash.set_defaults(func=cmd_auth_hash)
    asub.add_parser("token", help="make a new random token and print it with its stored form").set_defaults(
        func=cmd_auth_token
    )

    owners = sub.add_parser("owners", help="owners and what they want to hear about", parents=[common])
    osub = owners.add_subparsers(dest="owners_command", required=True, metavar="ACTION", help="what to do")
    osub.add_parser("list", help="list owners", parents=[common]).set_defaults(func=cmd_owners)
    oset = osub.add_parser("set", help="create or change an owner", parents=[common])
    oset.add_argument("id", help="how jobs name the owner, usually an email address")
    for flag, text in (
        ("name", "the owner's display name"),
        ("email", "email address for messages"),
        ("slack", "Slack channel or user, e.g. #ops"),
        ("pagerduty", "PagerDuty service"),
    ):
        oset.add_argument(f"--{flag}", help=f"{text}; empty to clear")
    oset.add_argument("--mute-until", dest="mute_until", help="ISO 8601 time; empty to unmute")
    oset.add_argument(
        "--contact",
        action="append",
        metavar="CHANNEL=ADDRESS",
        help="the owner's address on a notification channel (repeatable), e.g. slack=#ops or "
        "opsgenie=team-data; CHANNEL= removes it. --slack/--pagerduty are shortcuts",
    )
    oset.add_argument(
        "--pref",
        action="append",
        metavar="EVENT=CHANNELS",
        help="e.g. failure=email,slack; failure= turns failure messages off",
    )
    oset.set_defaults(func=cmd_owners)
    odel = osub.add_parser("delete", help="delete an owner", parents=[common])
    odel.add_argument("id", help="the owner's id")
    odel.set_defaults(func=cmd_owners)

    notify = sub.add_parser("notify", help="notifications", parents=[common])
    nsub = notify.add_subparsers(dest="notify_command", required=True, metavar="ACTION", help="what to do")
    ntest = nsub.add_parser("test", help="send a test message to TARGET and report what happened", parents=[common])
    ntest.add_argument("target", help="email:ADDR, slack:#CHANNEL, pagerduty:SERVICE or webhook:NAME")
    ntest.set_defaults(func=cmd_notify_test)

    plugins = sub.add_parser("plugins", help="list loaded plugins", parents=[common])
    plugins.set_defaults(func=cmd_plugins)

    completion = sub.add_parser(
        "completion",
        help="print a shell completion script",
        parents=[common],
        description="Print a completion script. bash: source <(moroccron completion bash) "
        "(in ~/.bashrc); zsh: source <(moroccron completion zsh) (in ~/.zshrc); "
        "fish: moroccron completion fish > "
        "~/.config/fish/completions/moroccron.fish",
    )
    completion.add_argument("shell", choices=SHELLS, help="the shell: " + ", ".join(SHELLS))
    completion.set_defaults(func=cmd_completion)

    # handled before parsing (see main); listed here so that --help shows it
    sub.add_parser("local-mesos", help="run the local Mesos master and agents on their own (--help for flags)")
    _name_actions(parser)
    return parser


def _name_actions(parser: argparse.ArgumentParser) -> None:
    """Give every ACTION list that has no help of its own one (the help walk test keeps it so)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            if not action.help:
                action.help = "what to do"
            for child in action.choices.values():
                _name_actions(child)


# Commands whose progress is their output: they log at INFO; the others only warn.
_TALKATIVE = ("serve", "db")


def _log_level(args: argparse.Namespace) -> int:
    """DEBUG with ``-v``; INFO for ``serve`` and ``db`` (a server's progress, the
    migrations run); WARNING for every other command, whose output is what it prints."""
    if args.verbose:
        return logging.DEBUG
    return logging.INFO if args.command in _TALKATIVE else logging.WARNING


def _only_migrations(record: logging.LogRecord) -> bool:
    """alembic's migration log without its set-up lines ("Context impl ...", "Will assume
    ... DDL"): what ``db`` shows is the migrations run."""
    return not str(record.msg).startswith(("Context impl", "Will assume"))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["local-mesos"]:
        # The local master has its own parser (its flags are its own); hand them over whole.
        from moroccron.mesos import local

        return local.main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=_log_level(args), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # alembic's own set-up
        logging.getLogger("alembic.runtime.migration").addFilter(_only_migrations)
    try:
        return int(args.func(args) or 0)
    except MoroccronError as exc:
        print(f"moroccron: error: {exc.render()}", file=sys.stderr)
        return 1
    except Exception as exc:
        from sqlalchemy.exc import SQLAlchemyError

        if not isinstance(exc, SQLAlchemyError):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"moroccron: error: database: {first}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
