"""The `kiosk` command: serve the kiosk and look after its events and data."""

import json
import os
import shlex
import subprocess  # nosec B404 # starts Chromium, found on PATH, with no shell
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import IO

import click
from flask import Flask, current_app, g
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import inspect

from kiosk import clock, health, i18n, memory, proxies, schema, serving
from kiosk.config import kiosk_command
from kiosk.extensions import db
from kiosk.models import Event
from kiosk.parsing import NotANumber, parse_cents, parse_id, parse_whole
from kiosk.services import (
    appliance,
    erasure,
    events,
    exports,
    hub,
    identity,
    lead_auth,
    network,
    safety,
    sealing,
    sync,
    volunteers,
)
from kiosk.services.atomic import held_lock
from kiosk.services.audit import record_audit
from kiosk.services.backup import BackupError, backup_database, hold_serving_lock
from kiosk.services.imports import ImportRefused, import_bundle
from kiosk.services.joining import join_event
from kiosk.services.restore import restore_database


class Dollars(click.ParamType):
    """An amount in dollars ("3000", "2,999.50"), read by kiosk.parsing as cents."""

    name = "dollars"

    def __init__(self, low_cents: int) -> None:
        self.low_cents = low_cents

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        try:
            return parse_cents(str(value), self.low_cents, events.LARGEST_CENTS)
        except NotANumber as problem:
            self.fail(str(problem), param, ctx)


class WholeNumber(click.ParamType):
    """A whole number from low to high, read by kiosk.parsing."""

    name = "number"

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        try:
            return value if isinstance(value, int) else parse_whole(str(value), self.low, self.high)
        except NotANumber as problem:
            self.fail(str(problem), param, ctx)


class RecordId(click.ParamType):
    """A record's id (`kiosk event list` shows events'), read by kiosk.parsing."""

    name = "id"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        try:
            return value if isinstance(value, int) else parse_id(str(value))
        except NotANumber as problem:
            self.fail(str(problem), param, ctx)


MIGRATIONS = "kiosk: migrations"


def prepare_database() -> None:
    """Bring the schema up to date and make sure an event is active.

    Several server processes of a hub may start at once on one PostgreSQL database: they
    migrate one after another (the next finds the schema at head and does nothing).
    """
    with held_lock(MIGRATIONS):
        schema.upgrade_if_behind()
        sealing.scrub_database()  # the clear values an upgrade sealed leave no old page
    identity.kiosk_id()  # before any record: each record stores it (models.FromKiosk)
    events.ensure_demo_event()  # and the team key: every personal field is sealed with it
    db.session.remove()
    g.pop("active_event", None)  # of the session just removed: looked up afresh when needed


def where() -> str:
    """The instance folder and database this command uses (never a password)."""
    url = db.engine.url.render_as_string(hide_password=True)
    return f"Instance {current_app.instance_path}, database {url}"


def say_where(*, err: bool = False) -> None:
    """Every command says which instance it used: a PIN set in another one opens nothing."""
    click.echo(where(), err=err)


def warn_if_new_database() -> None:
    """Migrate; say loudly when this command just created the database, since a kiosk
    served with another KIOSK_INSTANCE (or KIOSK_DATABASE_URL) would never see it."""
    with db.engine.connect() as connection:
        existed = inspect(connection).has_table("alembic_version")
    schema.upgrade_if_behind()
    if not existed:
        click.secho(
            "Note: this instance had no database until now. If the kiosk is served from "
            "another instance folder, run this with the same KIOSK_INSTANCE.",
            err=True,
            fg="yellow",
        )


def print_tablet_addresses(host: str, port: int) -> None:
    """Where a tablet opens the kiosk, with a QR code of it to scan from the tablet."""
    local = "127.0.0.1" if host in network.ALL_INTERFACES else host
    click.echo(f"  On this machine, open   http://{local}:{port}/")
    urls = network.tablet_urls(host, port)
    if not urls and host not in network.ALL_INTERFACES:
        click.echo("  For tablets on the same Wi-Fi, start it with HOST=0.0.0.0 (see README).")
        return
    if not urls:
        click.echo("  No network found: join this machine to the table's hotspot, then restart.")
        return
    click.echo(f"  On a tablet, open       {urls[0]}   or scan:")
    qr = network.terminal_qr(urls[0])
    try:
        qr.encode(getattr(sys.stdout, "encoding", None) or "ascii")
    except UnicodeEncodeError:
        qr = ""  # a console that can't draw the blocks gets the address alone
    for line in qr.splitlines():
        click.echo(f"    {line}")
    for other in urls[1:]:
        click.echo(f"  or, on another network  {other}")


# How far a streamed response (an export) may run ahead of its reader before its thread
# waits: waitress's default, 16 MB, spilled to a temporary file and back, and grew the
# process by 25 MB per 20 MB export; and a download broken off is noticed this close to
# where it stopped, so its records are not marked exported (lead/data.py's export).
OUTBUF_AHEAD_BYTES = 512 * 1024


# Where the kiosk listens: `kiosk serve`, and the unit and the browser that must find it.
host_option = click.option(
    "--host", default=lambda: os.environ.get("HOST", "127.0.0.1"), show_default="$HOST or 127.0.0.1"
)
port_option = click.option(
    "--port",
    type=WholeNumber(1, 65535),
    default=lambda: os.environ.get("PORT", "8000"),
    show_default="$PORT or 8000",
)


@click.command("serve")
@host_option
@port_option
@click.option("--threads", type=WholeNumber(1, 64), default=8, show_default=True)
@with_appcontext
def serve_command(host: str, port: int, threads: int) -> None:
    """Serve the kiosk with waitress (a production WSGI server)."""
    memory.limit_malloc_arenas()

    refuse_unsafe_database()
    prepare_database()
    hold_serving_lock()  # `kiosk restore` refuses while this process runs
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # LocalProxy's, not in Flask's types
    # The production entry point never shows a traceback, whatever FLASK_DEBUG says.
    app.debug = False
    app.config["PROPAGATE_EXCEPTIONS"] = False
    _report_purge(erasure.purge_expired())
    erasure.start_daily_purge(app)
    health.watch_database_file(app)
    sync.start(app)  # a table joined to a hub sends it records by itself
    # Every page of the file is read once the kiosk serves, not before: a start must not
    # take longer as the season's data grows (issue 21.4).
    safety.check_fully_in_background(app)
    # The lead console's "Connect a tablet" shows the address tablets can open.
    app.config.update(KIOSK_SERVE_HOST=host, KIOSK_SERVE_PORT=port)
    event = events.active_event()
    click.echo(f"Rescue Team Kiosk: active event {event.name!r}" if event else "Rescue Team Kiosk")
    click.echo(f"  {where()}")
    print_tablet_addresses(host, port)
    for announce in app.extensions.get("kiosk_startup_notes", []):
        click.echo(announce())
    # Leave no transaction open in this thread: it would hold SQLite's write lock.
    db.session.remove()
    extra = {}
    if proxies.reads_forwarded_headers(app):
        # Behind a reverse proxy the kiosk decides whom to trust (kiosk/proxies.py): waitress,
        # which trusts no proxy of its own, must pass the X-Forwarded-* headers on.
        extra["clear_untrusted_proxy_headers"] = False
    serving.serve(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="kiosk",
        outbuf_high_watermark=OUTBUF_AHEAD_BYTES,
        **extra,
    )


def refuse_unsafe_database() -> None:
    """Stop, loudly, before serving from a database that could lose or refuse sign-ups."""
    problems = safety.database_problems()
    if problems:
        click.secho("REFUSING TO START: the database is not safe for sign-ups.", err=True, fg="red")
        for problem in problems:
            click.secho(f"  - {problem}", err=True, fg="red")
        raise SystemExit(1)


@click.command("check")
@with_appcontext
def check_command() -> None:
    """Report what would make this deployment unsafe; exit non-zero if anything would."""
    say_where()
    problems = safety.deployment_problems()
    for problem in problems:
        click.secho(f"UNSAFE: {problem}", fg="red")
    if problems:
        raise SystemExit(1)
    state = safety.database_state()
    facts = state.facts
    if state.dialect == "postgresql":
        encrypted = "encrypted" if facts["encrypted"] else "not encrypted (local)"
        database = (
            f"PostgreSQL {facts['server_version']} at {facts['host']} reached ({encrypted}), "
            f"writable, migrations at head ({facts['revision']})"
        )
    else:
        database = f"SQLite pragmas and quick_check good, migrations at head ({facts['revision']})"
    click.echo("OK: debug off, secret key private,")
    click.echo(f"    {database},")
    click.echo("    content pack valid, team-lead passphrase set.")


@click.group("event", cls=AppGroup)
@with_appcontext
def event_group() -> None:
    """Prepare and switch events."""
    say_where()
    schema.upgrade_if_behind()


@event_group.command("list")
def event_list() -> None:
    """List events, the active one marked with *."""
    for event in events.list_events():
        mark = "*" if event.status == event.ACTIVE else " "
        when = event.date.isoformat() if event.date else "-"
        source = event.tracking_source
        click.echo(f"{mark} {event.id:>4}  {when:10}  {event.status:8}  {event.name}  [{source}]")


@event_group.command("create")
@click.option("--name", required=True)
@click.option("--date", "on", type=click.DateTime(["%Y-%m-%d"]), default=None, help="YYYY-MM-DD")
@click.option("--place", default="")
@click.option(
    "--goal",
    type=Dollars(0),
    default=None,
    help="Fundraising goal in dollars [default: the content pack's cost of one rescue]",
)
@click.option(
    "--rescue-cost",
    type=Dollars(100),
    default=None,
    help="Cost of one rescue in dollars [default: the content pack's]",
)
@click.option("--tracking", default="", help="trackingSource value for donate and fundraise links")
@click.option(
    "--language", default=None, help="Language new visitors meet (e.g. ko); default KIOSK_LOCALE"
)
@click.option("--activate", is_flag=True)
def event_create(
    name: str,
    on: datetime | None,
    place: str,
    goal: int | None,
    rescue_cost: int | None,
    tracking: str,
    language: str | None,
    activate: bool,
) -> None:
    """Create an event (and make it active with --activate)."""

    if language is not None and not i18n.speaks(language):
        spoken = ", ".join(code for code, _name in i18n.languages())
        raise click.BadParameter(f"the content pack speaks {spoken}", param_hint="--language")
    event = events.create_event(
        name,
        on=on.date() if on else clock.today(),
        place=place,
        goal_cents=goal,
        rescue_cost_cents=rescue_cost,
        tracking_source=tracking,
        locale=language,
        activate=activate,
    )
    click.echo(f"Created event {event.id}: {event.name}" + (" (active)" if activate else ""))


@event_group.command("activate")
@click.argument("event_id", type=RecordId())
def event_activate(event_id: int) -> None:
    """Make EVENT_ID the active event."""

    event = db.session.get(Event, event_id)
    if event is None:
        raise click.ClickException(
            f"There is no event {event_id}; `{kiosk_command('event list')}` shows them."
        )
    try:
        events.activate_event(event)
    except events.EventErased as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Active event: {event.id} {event.name}")


@event_group.command("join")
@click.argument("file", type=click.File("rb"))
@click.option("--activate", is_flag=True, help="Make the joined event the active one")
def event_join(file: IO[bytes], activate: bool) -> None:
    """Take on another kiosk's event from its join file (Events, "Set up another kiosk")."""

    try:
        joined = join_event(file.read(), activate=activate, actor="cli")
    except ImportRefused as error:
        raise click.ClickException(f"{error}\nNothing was changed.") from error
    event = joined.event
    state = " (active)" if event.status == event.ACTIVE else ""
    if joined.created:
        click.echo(f"Joined {event.name}: event {event.id}{state}")
    else:
        click.echo(f"{event.name} was already on this kiosk: event {event.id}{state}")


def _event_or_active(event_id: int | None) -> "Event":

    event = db.session.get(Event, event_id) if event_id is not None else events.active_event()
    if event is None:
        which = f"no event {event_id}" if event_id is not None else "no active event"
        raise click.ClickException(f"There is {which}; `{kiosk_command('event list')}` shows them.")
    return event


@click.command("export")
@with_appcontext
@click.option(
    "--event", "event_id", type=RecordId(), default=None, help="Event ID [default: active]"
)
@click.option(
    "--format",
    "format_name",
    type=click.Choice(list(exports.FORMATS)),
    default="csv",
    show_default=True,
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="File to write [default: standard output]",
)
@click.option(
    "--keep",
    is_flag=True,
    help="json: keep this file as the event's record, so its records count as exported",
)
@click.option(
    "--only-new",
    is_flag=True,
    help="csv, mailchimp: only sign-ups no earlier export of that kind holds (new or changed)",
)
@click.option(
    "--passphrase-stdin",
    is_flag=True,
    help="Read the lead passphrase (or the recovery code) from stdin to open personal data",
)
def export_command(
    event_id: int | None,
    format_name: str,
    out: Path | None,
    keep: bool,
    only_new: bool,
    passphrase_stdin: bool,
) -> None:
    """Export an event's sign-ups, pledges, questions, tallies or everything (json).

    Personal data is sealed at rest: the CSV formats holding it ask for the lead passphrase
    (or read it with --passphrase-stdin) to open it; the json bundle stays sealed."""
    schema.upgrade_if_behind()
    key = None
    if exports.FORMATS[format_name].personal and format_name != "json":
        # A key already in use (a caller's reading_with block) is used as it is.
        key = sealing.opened_key() or _open_team_key(passphrase_stdin)
    event = _event_or_active(event_id)
    marks = exports.Marks()
    with sealing.reading_with(key):
        chunks = exports.export_chunks(event, format_name, marks, only_new=only_new)
        if out is None:
            for chunk in chunks:
                click.echo(chunk, nl=False)
        else:
            _write_private_file(out, chunks)
            click.echo(f"Wrote {format_name} export of event {event.id} to {out}", err=True)
            say_where(err=True)  # standard output alone carries an export written there
    exports.mark_exported(
        event, format_name, actor="cli", marks=marks, keep=keep, only_new=only_new
    )


def _open_team_key(from_stdin: bool) -> sealing.PrivateKey:
    """The team key opened by the lead passphrase or the recovery code, or a clear refusal."""
    if from_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
    else:
        secret = click.prompt("Team lead passphrase (or recovery code)", hide_input=True)
    for opener in (sealing.open_with_passphrase, sealing.open_with_recovery_code):
        try:
            key = opener(secret)
        except sealing.WrongSecret:
            continue
        record_audit("lead.key_opened", "Personal data opened for an export", "cli")
        db.session.commit()
        return key
    raise click.ClickException("That passphrase opens nothing: the personal data stays sealed.")


def _write_private_file(path: Path, chunks: Iterable[str]) -> None:
    """Write to a temporary file readable by the owner only, then move it into place."""
    partial = path.with_name(f".{path.name}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    # newline="" keeps the CSV's own CRLF line ends.
    with open(descriptor, "w", encoding="utf-8", newline="") as handle:
        handle.writelines(chunks)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


@click.command("pin")
@with_appcontext
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the PIN from standard input")
def pin_command(from_stdin: bool) -> None:
    """Set or change the volunteer screen's PIN (4 to 12 digits)."""
    say_where()
    warn_if_new_database()
    if from_stdin:
        pin = sys.stdin.readline().strip()
    else:
        pin = click.prompt("New volunteer PIN", hide_input=True, confirmation_prompt=True).strip()
    try:
        volunteers.set_volunteer_pin(pin, actor="cli")
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        "Volunteer PIN set. On a tablet, press and hold the team's name for 2 seconds "
        "(or open /volunteer/) and enter it."
    )


@click.command("passphrase")
@with_appcontext
@click.option(
    "--stdin",
    "from_stdin",
    is_flag=True,
    help="Read the new passphrase from stdin, then (a second line) the current one, the "
    "recovery code or the setup code.",
)
def passphrase_command(from_stdin: bool) -> None:
    """Set or reset the team lead passphrase (ends every lead session); the personal data
    stays sealed as it is, its key re-wrapped with the new passphrase."""

    say_where()
    warn_if_new_database()
    sealing.ensure_team_key()
    if from_stdin:
        passphrase = sys.stdin.readline().rstrip("\r\n")
    else:
        passphrase = click.prompt(
            "New team lead passphrase", hide_input=True, confirmation_prompt=True
        )
    problem = lead_auth.passphrase_problem(passphrase)
    if problem:
        raise click.ClickException(problem)
    key = None
    made_here = sealing.setup_secret_made_here()
    if lead_auth.has_passphrase() or not made_here:
        prompt = "Current passphrase, recovery code or setup code (the end of the setup link)"
        if from_stdin:
            current = sys.stdin.readline().rstrip("\r\n")
        else:
            current = click.prompt(prompt, hide_input=True)
        key = lead_auth.open_team_key(current)
        if key is None:
            raise click.ClickException(
                "That opens nothing: the personal data can only be re-wrapped with the "
                "current passphrase, the recovery code or the first run's setup code."
            )
    lead_auth.set_passphrase(passphrase, actor="cli", key=key)
    click.echo("Team lead passphrase set. Every lead session was logged out.")
    if key is None or "recovery" not in sealing.wrapped_by():
        opened = key or lead_auth.open_team_key(passphrase)
        if opened is None:  # the passphrase just set opens the key it wrapped
            raise click.ClickException("The team key could not be opened to make a recovery code.")
        code = sealing.new_recovery_code(opened)
        db.session.commit()
        click.echo(
            f"Recovery code: {code}\n"
            "Write it down and keep it apart from this kiosk: with it, a lost passphrase can "
            "be replaced; without either, the visitors' data can never be opened."
        )


def _report_purge(purged: erasure.Erased) -> None:
    if purged.paused:
        click.echo(f"  Retention purge paused: {purged.paused}.")
        click.echo("  Check the clock; `kiosk purge --trust-clock` runs it once it is right.")
    kept = purged.describe_kept()
    if purged.events:
        names = ", ".join(purged.events)
        click.echo(
            f"  Retention: erased personal data of {names} ({purged.describe()})"
            + (f"; {kept}" if kept else "")
        )
    elif kept:
        click.echo(f"  Retention: {kept}; they are purged once exported.")


@click.command("purge")
@with_appcontext
@click.option(
    "--trust-clock",
    is_flag=True,
    help="Purge even though the clock looks wrong (after checking it is right)",
)
def purge_command(trust_clock: bool) -> None:
    """Erase exported personal data of events closed more than the retention days ago."""
    say_where()
    schema.upgrade_if_behind()
    purged = erasure.purge_expired(actor="cli", trust_clock=trust_clock)
    _report_purge(purged)
    if not purged.events and not purged.paused and not purged.kept:
        click.echo("Nothing to purge: no closed event is past its retention period.")


@click.group("erase", cls=AppGroup)
@with_appcontext
def erase_group() -> None:
    """Erase a person everywhere, or an event's personal data once it is exported."""
    schema.upgrade_if_behind()


@erase_group.command("person")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Erase without asking")
def erase_person_command(email: str, yes: bool) -> None:
    """Erase everything about EMAIL at every event; it stays erased in every later merge."""
    found = erasure.person_records(email)
    if not found.total:
        click.echo("Nothing here belongs to that address. A tombstone is left all the same.")
    elif not yes:
        click.confirm(f"Erase {found.describe()}? This cannot be undone", abort=True)
    try:
        erased = erasure.erase_person(email, actor="cli")
    except erasure.ErasureRefused as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Erased: {erased.describe()}. No later import brings them back.")


@erase_group.command("event")
@click.argument("event_id", type=int)
def erase_event_command(event_id: int) -> None:
    """Erase EVENT_ID's personal data (it must be closed, and everything exported)."""
    event = _event_or_active(event_id)
    try:
        erased = erasure.erase_event(event, actor="cli")
    except erasure.ErasureRefused as error:
        formats = sorted(
            {f for model in error.unexported for f in exports.formats_exporting(model)}
        )
        hint = (
            f"\n`kiosk export --event {event.id} --format` {' / '.join(formats)}" if formats else ""
        )
        raise click.ClickException(f"{event.name}: {error}" + (hint if formats else "")) from None
    click.echo(f"Erased the personal data of {event.name}: {erased.describe()}.")


@click.command("backup")
@with_appcontext
def backup_command() -> None:
    """Copy the database into the instance folder's backups/, with a timestamp."""

    say_where()
    try:
        target = backup_database(current_app.instance_path)
    except BackupError as error:
        raise click.ClickException(str(error)) from error
    record_audit("backup", f"Database copied to {target.name}", "cli")
    click.echo(f"Backup written: {target}")


@click.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Replace the database without asking")
@with_appcontext
def restore_command(file: Path, yes: bool) -> None:
    """Put a backup FILE in place of the database (stop `kiosk serve` first); everyone
    erased since stays erased."""

    if not yes:
        click.confirm("Replace this kiosk's database with the backup?", abort=True)
    try:
        erased = restore_database(file)
    except BackupError as error:
        raise click.ClickException(str(error)) from error
    people = len(erased.forget.emails)
    record_audit("restore", f"Database restored from {file.name}: {erased.describe()}", "cli")
    click.echo(f"Restored {file.name}.")
    click.echo(
        f"  Erased again: {people} erased {'person' if people == 1 else 'people'}, "
        f"{erased.describe()} (tombstones and event erasures re-applied)."
    )


@click.command("import")
@click.argument("file", type=click.File("rb"))
@click.option(
    "--into",
    "into_id",
    type=RecordId(),
    default=None,
    help="Merge a file of an event unknown here into this event ID (remembered for next time)",
)
@with_appcontext
def import_command(file: IO[bytes], into_id: int | None) -> None:
    """Merge another kiosk's JSON export of an event (idempotent by record UUID)."""

    say_where()
    schema.upgrade_if_behind()
    into = _event_or_active(into_id) if into_id is not None else None
    try:
        report = import_bundle(file.read(), actor="cli", into=into)
    except ImportRefused as error:
        raise click.ClickException(f"{error}\nNothing was imported.") from error
    click.echo(f"Imported {report.describe()}")


@click.group("hub", cls=AppGroup)
def hub_group() -> None:
    """Many tables, one hub: add tables on the hub, join one at a table, see its sync."""


@hub_group.command("add-table")
@click.argument("name")
@click.option(
    "--event", "event_ids", type=RecordId(), multiple=True, help="Event id (default: the active)."
)
@click.option("--url", default="", help="The hub's address as tables reach it (KIOSK_PUBLIC_URL).")
@click.option("--fingerprint", default="", help="SHA-256 of the hub's self-signed certificate.")
def hub_add_table(name: str, event_ids: tuple[int, ...], url: str, fingerprint: str) -> None:
    """On the hub: allow a table to send records; prints its one-line join code."""
    warn_if_new_database()
    chosen = [_event_or_active(event_id) for event_id in event_ids] or [_event_or_active(None)]
    address = url or current_app.config.get("KIOSK_PUBLIC_URL", "")
    if not address:
        raise click.ClickException("Give the hub's address: --url https://hub.example.org")
    try:
        code = hub.add_table(name, chosen, address, fingerprint, actor="cli")
    except hub.HubRefused as refused:
        raise click.ClickException(str(refused)) from refused
    click.echo(code)
    click.echo(f"At the table, run:  kiosk hub join {code}", err=True)


@hub_group.command("revoke")
@click.argument("name")
def hub_revoke(name: str) -> None:
    """On the hub: refuse a table's token from now on."""
    table = hub.table_named(name)
    if table is None:
        raise click.ClickException(f"No table is called {name!r}.")
    hub.revoke_table(table.id, actor="cli")
    click.echo(f"Table {name!r} is revoked: the hub refuses it from now on.")


@hub_group.command("join")
@click.argument("code")
def hub_join(code: str) -> None:
    """At a table: join the hub of a join code; the kiosk then syncs by itself."""
    warn_if_new_database()
    try:
        joined = sync.join(code, actor="cli")
    except hub.HubRefused as refused:
        raise click.ClickException(str(refused)) from refused
    click.echo(f"This kiosk is table {joined.code.table!r} of the hub {joined.code.hub}.")
    if joined.reached:
        click.echo(f"Events taken on: {', '.join(joined.events)}.")
    else:
        click.echo(
            f"The hub did not answer now ({joined.problem}); the kiosk takes its events on and "
            "sends its records at the first sync that reaches it."
        )


@hub_group.command("sync")
def hub_sync() -> None:
    """At a table: one sync round now (the server does them by itself)."""
    try:
        done = sync.sync_once()
    except sync.HubUnreachable as problem:
        raise click.ClickException(str(problem)) from problem
    if done is None:
        raise click.ClickException("This kiosk has joined no hub, or was revoked.")
    click.echo(f"Sent {done.sent} records in {done.chunks} chunks; {done.forgotten} people erased.")


@hub_group.command("status")
def hub_status() -> None:
    """At a table: the sync's state as JSON (hub, last_sync, waiting, last_error)."""
    click.echo(json.dumps(sync.status(), indent=2))


@click.group("service")
def service_group() -> None:
    """Serve this kiosk as a system service (systemd): from boot, restarted when it stops."""


@service_group.command("install")
@click.option(
    "--user",
    default=appliance.default_user,
    show_default="$SUDO_USER or you",
    help="The account the kiosk serves as (it owns the instance folder).",
)
@host_option
@port_option
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the unit to this file instead of /etc/systemd/system.",
)
@click.option("--print", "print_only", is_flag=True, help="Print the unit instead of writing it.")
def service_install(user: str, host: str, port: int, output: Path | None, print_only: bool) -> None:
    """Write the systemd unit that serves this instance from boot, restarted when it stops."""
    if output is not None and print_only:
        raise click.UsageError("Give --output FILE or --print, not both.")
    if user == "root":
        raise click.ClickException(
            "The kiosk should not serve as root: pass --user NAME, the account whose kiosk it is."
        )
    instance = appliance.instance_for(user)
    carried = appliance.carried_environment(os.environ)
    try:
        unit = appliance.unit_text(
            user=user,
            host=host,
            port=port,
            instance=instance,
            executable=appliance.kiosk_executable(),
            environment=carried,
        )
    except appliance.ApplianceError as error:
        raise click.ClickException(str(error)) from None
    if print_only:
        click.echo(unit, nl=False)
        return
    for name in appliance.SECRET_VARIABLES:
        if os.environ.get(name):
            click.secho(
                f"Note: {name} is not written into the unit (every user can read it). Put it in "
                f"{appliance.SECRETS_FILE}, one NAME=value a line, readable by root only.",
                err=True,
                fg="yellow",
            )
    if output is not None:
        output.write_text(unit, encoding="utf-8")
        click.echo(f"Wrote {output} (serving {instance}). To use it:")
        click.echo(f"  sudo cp {shlex.quote(str(output))} {appliance.UNIT_PATH}")
    else:
        if not appliance.is_root():
            again = appliance.install_command(user, host, port, instance, carried)
            raise click.ClickException(
                f"Writing {appliance.UNIT_PATH} needs root. Run:\n  sudo {again}\n"
                "(or --print to see the unit, --output FILE to write it elsewhere)"
            )
        try:
            problem = appliance.prepare_instance(instance, user)
        except appliance.ApplianceError as error:
            raise click.ClickException(str(error)) from None
        appliance.UNIT_PATH.write_text(unit, encoding="utf-8")
        appliance.UNIT_PATH.chmod(0o644)
        click.echo(f"Wrote {appliance.UNIT_PATH} (serving {instance} as {user}). Now run:")
        if problem:
            click.secho(f"  First: {problem}", fg="yellow")
    click.echo("  sudo systemctl daemon-reload")
    click.echo(f"  sudo systemctl enable --now {appliance.UNIT_NAME.removesuffix('.service')}")


CHROMIUM_MISSING = (
    "Chromium is not installed: `sudo apt install chromium` (Debian, Raspberry Pi OS), "
    "then run this again."
)


@click.command("open")
@port_option
@click.option("--print", "print_only", is_flag=True, help="Print the command, do not run it.")
@click.option(
    "--autostart",
    is_flag=True,
    help="Open it at every login: write ~/.config/autostart/rescue-kiosk.desktop.",
)
@click.option(
    "--wait",
    type=WholeNumber(0, 3600),
    default=120,
    show_default=True,
    help="Seconds to wait for the kiosk to answer before opening it.",
)
def open_command(port: int, print_only: bool, autostart: bool, wait: int) -> None:
    """Open the kiosk full-screen on this machine: Chromium in kiosk mode."""
    browser = appliance.find_chromium()
    if autostart:
        entry = appliance.desktop_entry(appliance.kiosk_executable(), port)
        if print_only:
            click.echo(entry, nl=False)
            return
        path = appliance.autostart_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(entry, encoding="utf-8")
        click.echo(f"Wrote {path}: at every login the kiosk opens full-screen.")
        if browser is None:
            click.secho(CHROMIUM_MISSING, err=True, fg="yellow")
        return
    command = appliance.chromium_command(browser or "chromium", port)
    if print_only:
        click.echo(shlex.join(command))
        if browser is None:
            click.secho(CHROMIUM_MISSING, err=True, fg="yellow")
        return
    if browser is None:
        raise click.ClickException(CHROMIUM_MISSING)
    if not appliance.wait_until_serving(port, wait):
        click.secho(
            f"The kiosk does not answer at {appliance.local_url(port)}: opening it anyway. "
            f"Is it running? `systemctl status {appliance.UNIT_NAME}`",
            err=True,
            fg="yellow",
        )
    # The browser's own path, found on PATH above: no shell.
    raise SystemExit(subprocess.call(command))  # noqa: S603  # nosec B603 # no shell


def init_app(app: Flask) -> None:
    app.cli.add_command(serve_command)
    app.cli.add_command(event_group)
    app.cli.add_command(check_command)
    app.cli.add_command(export_command)
    app.cli.add_command(pin_command)
    app.cli.add_command(passphrase_command)
    app.cli.add_command(purge_command)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
    app.cli.add_command(erase_group)
    app.cli.add_command(import_command)
    app.cli.add_command(service_group)
    app.cli.add_command(hub_group)
    app.cli.add_command(open_command)
