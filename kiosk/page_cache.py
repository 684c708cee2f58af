"""Rendered visitor screens kept per generation of what they show, correct across processes.

The opener, its chart, the reframes, the FAQ and Get involved show the content pack, the
active event, the settings and the opener's tallies: nothing about a visitor. Rendering them
was most of a read's cost (bench/findings.md), so each process keeps the rendered text of
each screen and sends it again until what it shows changes.

What it shows changes with a write, and a hub has several server processes on one
PostgreSQL database, so no process can learn of a change by itself. The database tells:

- `generation` holds a counter per kind of change: TALLIES (an opener tap: its chart) and
  SETUP (an event, a setting, the team's page). Any transaction that inserts, updates or
  deletes rows of the tables in WATCHED bumps the counter of that kind just before it
  commits (`install`: SQLAlchemy statement and commit events, whatever code wrote, ORM or
  Core, request or command); an opener tap bumps TALLIES in the database's own trigger on
  `tally` (migration b3f9d1c7a5e2, which also keeps the chart's counts: FAQ taps and
  conversations bump nothing). Either way the new counter is committed together with the
  change or not at all. What a statement writes is read from the statement SQLAlchemy runs
  (the tables of every INSERT, UPDATE and DELETE in it, CTEs included: `written_tables`),
  never from its SQL text. Raw SQL (text(), exec_driver_sql) says what it writes with the
  WRITES execution option; raw SQL that does not is taken to write every watched table (the
  screens render again, never stale).
- Each counter has a row per shard: each PostgreSQL connection bumps the shard it owns
  (services/counts.py; SQLite has one writer and shard 0), so the processes of a hub never
  queue their commits on one row. A counter's value is the sum of its shards, read in
  one statement: shards only grow, and the commits a process sees only grow, so every
  commit that bumps raises the sum and an equal sum means the same commits.
- A cached screen is found by the counters it depends on, read *before* anything it shows:
  what is then read is at least as new as the counters, so a screen kept under a counter
  value is never older than what that value stands for. The next read after a commit, in
  any process, sees the new value and renders afresh.
- On PostgreSQL the counters are not read from the database on every answer: each process
  keeps them in memory, told of every commit by a NOTIFY (kiosk/change_signal.py), and
  falls back to reading them whenever its listener is not sure it saw every change. A
  commit of this process bumps its own memory as soon as it returned (`_bump_here`: the
  kinds it bumped, and an opener tap's, whose bump is the database's trigger), so a
  visitor's own tap shows in their next answer. A screen is kept under the counters' trust
  period too (change_signal.SIGNAL), so values from memory and from the database are never
  mistaken for one another.

Never kept: anything per visitor. A cached screen is rendered with placeholders where the
CSRF token and the tap forms' idempotency key go; each answer fills in this session's token
and a fresh key. Forms that take personal data (sign-up, pledge, ask) are never cached, nor
is any lead or volunteer screen; the cached screens stay `no-store` for the browser.

Never grown by a client: a screen is kept under the parameters its view reads, checked and
in one order (`cached(query=...)`), never the raw query string, so made-up parameters and
unreadable values share the one screen they are answered with; the address the page echoes
(the language switch's way back) is that canonical one. What a process keeps is bounded in
bytes (kiosk/bounded.py), not entries.
"""

from __future__ import annotations

import contextlib
import sqlite3
import weakref
from collections.abc import Callable, Collection, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

from flask import Flask, current_app, g, request
from flask_babel import get_locale
from flask_wtf.csrf import generate_csrf
from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.engine.interfaces import ExecutionContext
from sqlalchemy.exc import DBAPIError, SQLAlchemyError, StatementError
from sqlalchemy.sql import ClauseElement, visitors
from sqlalchemy.sql.compiler import Compiled
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.expression import TableClause

from kiosk import change_signal, hooks, wal_stamp
from kiosk.bounded import ByteBudget
from kiosk.extensions import db
from kiosk.privacy import new_form_key

T = TypeVar("T")

TALLIES = "tallies"
SETUP = "setup"
SIGNAL = change_signal.SIGNAL
# The tables whose changes the visitor screens show, and the counter each change bumps.
# (`tally` bumps TALLIES in its trigger, and only for an opener tap: see above.)
WATCHED = {
    # The opener chart's counts: kept by the database's trigger on `tally`, which bumps
    # TALLIES itself for an opener tap; a statement that writes the counts directly (a
    # repair, a purge) bumps it here.
    "tally_count": TALLIES,
    "event": SETUP,
    "setting": SETUP,
    # The team's own page (services/team.py): Get involved, its QR codes, every brand line.
    "team_page": SETUP,
    "team_event": SETUP,
}
# The screens that are the same for every visitor: the only ones the page cache keeps and the
# fast path (kiosk/fast_path.py, GETs only) answers, each with the generations of what it
# shows. `cached()` refuses any other endpoint; tests/test_page_cache_contract.py renders each
# and checks that every table it reads is watched under one of these.
SCREENS: dict[str, tuple[str, ...]] = {
    "visitor.index": (SETUP, TALLIES),  # the opener, and its chart
    "visitor.reframe": (SETUP, TALLIES),
    "visitor.answer": (SETUP,),  # a tap's htmx answer: the reframe panel, no chart (POST)
    "visitor.opener_chart": (SETUP, TALLIES),
    "visitor.faq": (SETUP,),
    "visitor.faq_entry": (SETUP,),
    "visitor.faq_open": (SETUP,),  # an answer opened, counted (POST)
    "visitor.involved": (SETUP,),
    "visitor.qr": (SETUP,),
}
# An execution option of raw SQL (text(), exec_driver_sql): the names of the tables it may
# write, () for none. SQLAlchemy cannot know them from the text, and the kiosk does not guess.
WRITES = "kiosk_writes"
# Tables whose writes the database's own triggers may count as a change (an opener tap on
# `tally` bumps TALLIES): this process bumps its memory of them after its commit.
TRIGGERED = {"tally": TALLIES}
# An execution option: the generations a statement's writes bump through the triggers, when
# its writer knows better than TRIGGERED (a tap batch of FAQ taps bumps none).
TRIGGERS = "kiosk_triggers_bump"
# The tally kinds whose row bumps a generation in the trigger (Tally.OPENER: the chart's).
TRIGGERED_BY_KIND: dict[str, tuple[str, ...]] = {"opener": (TALLIES,)}
BUMP = (
    "INSERT INTO generation (name, shard, value) VALUES ('{name}', {shard}, 1) "
    "ON CONFLICT (name, shard) DO UPDATE SET value = generation.value + 1"
)
# This connection's shard of a generation: the one it owns (services/counts.py), else one
# it shares; the counters' triggers use the same.
SHARD = {
    "postgresql": (
        "coalesce(nullif(current_setting('kiosk.shard', true), '')::integer, pg_backend_pid() % 64)"
    )
}
# A database at an older schema (a command or test working on one) has no table to bump, or
# one without shards: PostgreSQL checks first (a failed statement would abort the
# transaction; one look-up in the catalogue's index), SQLite says so.
PG_BUMP = (
    "DO $$ BEGIN IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass('generation')"
    " AND attname = 'shard' AND NOT attisdropped) THEN {bumps}; END IF; END $$"
)
NO_TABLE = ("no such table: generation", "table generation has no column named shard")
_TOUCHED = "kiosk_generations_touched"
# What this transaction bumps (by page_cache or the triggers), and once it committed, what
# this process's memory must bump (kiosk/change_signal.py) as soon as the commit returned.
_HERE = "kiosk_generations_here"
_COMMITTED = "kiosk_generations_committed"
# An execution option for connections that must not bump (Alembic's: the table may not
# exist yet while earlier migrations change events).
NO_BUMP = "kiosk_no_generation_bump"

# Placeholders a shared render leaves where per-visitor values go (never escaped by Jinja).
CSRF_SLOT = "kiosk-csrf-slot-8c1e4f"
TAP_KEY_SLOT = "kiosk-tap-key-slot-8c1e4f"
# The bytes of screens one process keeps per set of generations (a few kinds, named in the
# code): every screen of both languages, pages and fragments, is about 5 MB; beyond the
# budget the least recently asked for goes and is rendered again when asked.
PAGE_BYTES = 12 * 1024 * 1024
_CACHE = "kiosk_page_cache"
_SHARED = "kiosk_shared_render"
# The counters as this request first read them (a screen made of two cached parts reads
# them once; a request that wrote before it renders reads them after its commit).
_COUNTERS = "kiosk_generations"
# The generations the cached parts of this request depend on, and where its offer goes.
_USED = "kiosk_generations_used"
# The parameters the screen of this request was kept under (`cached(query=...)`).
_QUERY = "kiosk_screen_query"
# The tap this POST counted, when its answer is a kept screen (`tap_answer`).
_TAP = "kiosk_tap_answer"
OFFER = "kiosk.shared_screen"
_MISSING = object()


def written_tables(statement: ClauseElement) -> frozenset[str] | None:
    """The names of the tables `statement` writes: of every INSERT, UPDATE and DELETE in it,
    at its top or in a CTE (`WITH ... UPDATE`, a data-modifying `WITH u AS (UPDATE ...)`).
    None for raw SQL, whose tables SQLAlchemy does not know."""
    if isinstance(statement, TextClause):
        return None
    names: set[str] = set()
    for element in visitors.iterate(statement):
        if isinstance(element, UpdateBase):
            # The table itself, or the one under an alias of it (UPDATE setting AS s ...).
            names |= {t.name for t in visitors.iterate(element.table) if isinstance(t, TableClause)}
    return frozenset(names)


# Per compiled statement (SQLAlchemy keeps one per statement shape): walked once.
_WRITTEN: weakref.WeakKeyDictionary[Compiled, frozenset[str] | None] = weakref.WeakKeyDictionary()


def _written_by(context: ExecutionContext) -> frozenset[str] | None:
    declared: Collection[str] | None = context.execution_options.get(WRITES)
    if declared is not None:
        return frozenset(declared)
    compiled = context.compiled
    if compiled is None or compiled.statement is None:
        return None  # exec_driver_sql: a string
    try:
        return _WRITTEN[compiled]
    except KeyError:
        written = _WRITTEN[compiled] = written_tables(compiled.statement)
        return written


def _note_write(
    conn: Connection,
    _cursor: Any,
    _statement: str,
    _params: Any,
    context: ExecutionContext,
    _many: bool,
) -> None:
    if context.execution_options.get(NO_BUMP):
        return
    if kinds := _watched_kinds(_written_by(context)):
        conn.info.setdefault(_TOUCHED, set()).update(kinds)


def _watched_kinds(written: Collection[str] | None) -> set[str]:
    """The generations page_cache bumps for a statement that wrote `written` (None: raw SQL
    that did not say, so it may have written anything)."""
    if written is None:
        return set(WATCHED.values())
    return {WATCHED[name] for name in written if name in WATCHED}


def _note_write_here(
    conn: Connection,
    _cursor: Any,
    _statement: str,
    _params: Any,
    context: ExecutionContext,
    _many: bool,
) -> None:
    """What this statement bumps, by page_cache or by the triggers: this process's memory
    bumps it after the commit (kiosk/change_signal.py; PostgreSQL only)."""
    if context.execution_options.get(NO_BUMP):
        return
    written = _written_by(context)
    triggered: Collection[str] | None = context.execution_options.get(TRIGGERS)
    kinds = _watched_kinds(written)
    if written is None:  # raw SQL that did not say: it may have written anything
        kinds |= set(TRIGGERED.values())
    elif triggered is None:
        kinds |= {TRIGGERED[name] for name in written if name in TRIGGERED}
    if triggered is not None:
        kinds |= set(triggered)
    if kinds:
        conn.info.setdefault(_HERE, set()).update(kinds)


def _committing_here(conn: Connection) -> None:
    here = conn.info.pop(_HERE, None)
    if here:
        conn.info.setdefault(_COMMITTED, set()).update(here)


def _forget_here(conn: Connection) -> None:
    with contextlib.suppress(SQLAlchemyError):
        conn.info.pop(_HERE, None)


def _bump_before_commit(conn: Connection) -> None:
    """In the committing transaction: bump the counters of what it changed."""
    touched = conn.info.pop(_TOUCHED, None)
    if not touched:
        return
    # One order everywhere (no deadlock between processes); the names are ours, not input.
    shard = SHARD.get(conn.dialect.name, "0")
    bumps = [BUMP.format(name=name, shard=shard) for name in sorted(touched)]
    if conn.dialect.name == "postgresql":
        bumps = [PG_BUMP.format(bumps="; ".join(bumps))]
    statement = "; ".join(bumps)  # what an error names
    # The DBAPI cursor, not conn.execute: no statement events, no new transaction.
    dbapi_connection = conn.connection.dbapi_connection
    try:
        cursor = dbapi_connection.cursor()  # type: ignore[union-attr]  # a live connection's, never None
        try:
            for bump in bumps:
                cursor.execute(bump)
        finally:
            cursor.close()
    except sqlite3.OperationalError as error:
        if not any(reason in str(error) for reason in NO_TABLE):
            raise _wrapped(error, statement, conn.dialect) from error
    except conn.dialect.loaded_dbapi.Error as error:
        raise _wrapped(error, statement, conn.dialect) from error


def _wrapped(error: Exception, statement: str, dialect: Dialect) -> StatementError:
    """A DBAPI error as SQLAlchemy raises it (OperationalError, ...), so a server gone away
    gets the kiosk's calm 503 (kiosk/errors.py) here too, never a 500."""
    return DBAPIError.instance(statement, None, error, dialect.loaded_dbapi.Error, dialect=dialect)


def _forget_after_rollback(conn: Connection) -> None:
    # A connection that died under its transaction (a server killed) has no info to read
    # until rolled back: nothing to forget then (at worst a later commit bumps once more,
    # which only renders a screen again; a bump is never lost this way).
    with contextlib.suppress(SQLAlchemyError):
        conn.info.pop(_TOUCHED, None)


def _bump_here(info: dict[Any, Any], signal: change_signal.ChangeSignal) -> None:
    """After a commit returned: this process's memory of the generations it bumped moves on
    (its own notification would come a moment later)."""
    committed = info.pop(_COMMITTED, None)
    if committed:
        signal.bump(committed)


def install(engine: Engine, signal: change_signal.ChangeSignal | None = None) -> None:
    """Bump the generations in every transaction of `engine` that changes what they cover;
    and, once it committed, `signal`'s memory of them. SQLAlchemy has no event after a commit:
    the connection's next transaction or its return to the pool comes after it (the ORM
    session and `engine.begin()` return theirs as the commit returns)."""
    event.listen(engine, "before_cursor_execute", _note_write)
    event.listen(engine, "commit", _bump_before_commit)
    event.listen(engine, "rollback", _forget_after_rollback)
    if signal is None or not signal.listens:
        return  # SQLite: every answer reads the generations
    event.listen(engine, "before_cursor_execute", _note_write_here)
    event.listen(engine, "commit", _committing_here)
    event.listen(engine, "rollback", _forget_here)

    def begun(conn: Connection) -> None:
        _bump_here(conn.info, signal)

    def returned(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            _bump_here(record.info, signal)

    event.listen(engine, "begin", begun)
    event.listen(engine, "checkin", returned)


READ = "SELECT name, CAST(sum(value) AS BIGINT) FROM generation GROUP BY name"


def generations() -> dict[str, int]:
    """The counters as committed now: one small SELECT on a pooled DBAPI connection of its
    own, ended before anything the screen shows is read (a cached screen reads nothing else,
    and no session, transaction or write turn is started for it)."""
    session = db.session()
    if session.in_transaction():
        # The request holds a connection already (and on SQLite perhaps the write turn):
        # read on it, never take a second one from the pool while holding the first.
        connection = session.connection()
        rows = connection.exec_driver_sql(READ, execution_options={WRITES: ()}).all()
        return {name: value for name, value in rows}
    return read_generations(db.engine)


def read_generations(engine: Engine) -> dict[str, int]:
    """The counters, read on a pooled DBAPI connection of `engine` and ended at once (also
    outside any request: kiosk/fast_path.py). Errors come as SQLAlchemy's."""
    try:
        connection = engine.raw_connection()
    except engine.dialect.loaded_dbapi.Error as error:  # the server cannot be reached
        raise _wrapped(error, READ, engine.dialect) from error
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(READ)
            rows = cursor.fetchall()
        finally:
            cursor.close()
        connection.commit()  # end the read (PostgreSQL opened a transaction for it)
    except engine.dialect.loaded_dbapi.Error as error:
        if engine.dialect.is_disconnect(error, connection.dbapi_connection, None):
            connection.invalidate()  # a server restarted: the pool opens a new one
        raise _wrapped(error, READ, engine.dialect) from error
    finally:
        connection.close()  # back to the pool
    return {name: value for name, value in rows}


def screen_counters() -> dict[str, int]:
    """The counters a kept screen is found by, with their trust period (SIGNAL): this
    process's memory while its listener is sure of them (kiosk/change_signal.py), else read
    from the database now (trust period 0)."""
    kept = change_signal.signal_of(current_app).counters()
    if kept is not None:
        return kept
    stamp = wal_stamp.of(current_app)
    if stamp is not None and not db.session().in_transaction():
        # SQLite: read again only when a commit rewrote its wal-index (kiosk/wal_stamp.py).
        # Not inside a transaction: its own writes are not committed, nor in the stamp.
        return stamp.counters(lambda: read_generations(db.engine)) | {SIGNAL: 0}
    return generations() | {SIGNAL: 0}


def shared_render() -> bool:
    """True while a screen is being rendered for everyone (placeholders, not values)."""
    return bool(g.get(_SHARED))


def csrf_token() -> str:
    """The template's csrf_token(): a placeholder in a shared render, else this session's."""
    return CSRF_SLOT if shared_render() else generate_csrf()


def tap_key() -> str:
    """The template's tap_key(): the idempotency key of the tap forms this request renders
    (one per page), a placeholder in a shared render."""
    if shared_render():
        return TAP_KEY_SLOT
    if "tap_key" not in g:
        g.tap_key = new_form_key()
    return g.tap_key


@dataclass(frozen=True)
class Offer:
    """A screen answered the same to every visitor but for its placeholders: what the fast
    path (kiosk/fast_path.py) may send again, once Flask's whole answer is seen to match.

    `text` has the placeholders, `filled` is what this request's body holds, `csrf` the
    signed token filled in ("" if none), `counters` the generations it was made under,
    `endpoint` the screen (one of SCREENS), `query` the parameters its view reads with the
    values it used (None: left out, the view's default): the fast path keeps it only for a
    request that sent exactly those."""

    text: str
    filled: str
    csrf: str
    counters: tuple[tuple[str, int], ...]
    endpoint: str
    query: tuple[tuple[str, str | None], ...] = ()
    tap: TapAnswer | None = None


@dataclass(frozen=True)
class TapAnswer:
    """What a tap's POST counted (`kind`, `key`) and the form fields its view read with the
    values it used (`form`, None: absent): the fast path counts the same tap, and gives the
    same answer, only to a POST that sent exactly those (kiosk/fast_path.py)."""

    kind: str
    key: str
    form: tuple[tuple[str, str | None], ...]


# The POSTs whose answer is a kept screen and which count one anonymous tap: their answers
# are offered to the fast path with the tap (`tap_answer`), so it can count and answer the
# next such tap in front of Flask, with every check Flask's path makes.
TAP_SCREENS = frozenset({"visitor.answer", "visitor.faq_open"})


def tap_answer(kind: str, key: str, form: dict[str, str | None]) -> None:
    """Say, in a tap's view (one of TAP_SCREENS), which tap it counted and every form field
    it read with the value it used; its answer is then offered with them (`personal`)."""
    if request.endpoint not in TAP_SCREENS:
        raise UndeclaredScreen(f"{request.endpoint} is not a tap of page_cache.TAP_SCREENS.")
    setattr(g, _TAP, TapAnswer(kind, key, tuple(sorted(form.items()))))


def personal(text: str) -> str:
    """The body of a shared screen for this visitor: this session's CSRF token and a fresh
    tap key filled in. A GET's screen is offered to the fast path with the generations
    that every cached part of this request was read under (and the setup's: the language);
    so is a tap's answer, with the tap it counted (`tap_answer`): no other POST's."""
    csrf = generate_csrf() if CSRF_SLOT in text else ""
    filled = text.replace(CSRF_SLOT, csrf).replace(TAP_KEY_SLOT, new_form_key())
    tap = g.get(_TAP) if request.method == "POST" else None
    if request.method == "GET" or tap is not None:
        counters = _request_counters()
        names = sorted(g.get(_USED, set()) | {SETUP, SIGNAL})
        values = tuple((name, counters.get(name, 0)) for name in names)
        query = g.get(_QUERY, ()) if tap is None else ()
        endpoint = request.endpoint or ""
        request.environ[OFFER] = Offer(text, filled, csrf, values, endpoint, query, tap)
    return filled


def _render_for_everyone(render: Callable[[], str]) -> str:
    """`render()` with placeholders for the per-visitor values, however a template asks.

    Flask-WTF hands templates its generate_csrf twice (a global and a context processor) and
    keeps the signed token of a request in `g`: the token is set to the placeholder in `g`
    for the render, so every way to it gives the placeholder, never this visitor's token.
    """
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    missing = object()
    own_token = g.pop(field, missing)
    setattr(g, field, CSRF_SLOT)
    setattr(g, _SHARED, True)
    try:
        return render()
    finally:
        setattr(g, _SHARED, False)
        g.pop(field, None)
        if own_token is not missing:
            setattr(g, field, own_token)


def _request_counters() -> dict[str, int]:
    if _COUNTERS not in g:
        setattr(g, _COUNTERS, screen_counters())
        # What this request read before (the active event) may be older than the counters.
        g.pop("active_event", None)
        g.pop("kiosk_team", None)
    return getattr(g, _COUNTERS)


def _group(depends: tuple[str, ...]) -> _Group:
    """This process's kept things for `depends`, at the counters this request read."""
    counters = _request_counters()
    g.setdefault(_USED, set()).update(depends)
    values = tuple(counters.get(name, 0) for name in (*depends, SIGNAL))
    groups: dict[tuple[str, ...], _Group] = current_app.extensions[_CACHE]
    group = groups.get(depends)
    if group is None or group.values != values:
        # What older generations made is never asked for again: let it go.
        group = groups[depends] = _Group(values)
    return group


def remembered(name: str, depends: tuple[str, ...], compute: Callable[[], T]) -> T:
    """A value `compute()` reads from what the generations `depends` cover (the active
    event's language), kept per process while they stand. An error is raised, not kept."""
    group = _group(depends)
    key = ("value", name)
    kept = group.pages.get(key, _MISSING)  # one look: another thread may let it go
    if kept is not _MISSING:
        return cast(T, kept)
    value = compute()
    group.pages.put(key, value)
    return value


Query = dict[str, str | None]


def cached(
    key: Hashable,
    depends: tuple[str, ...],
    render: Callable[[], str],
    query: Query | None = None,
) -> str:
    """The text `render()` makes for `key`, kept while the generations `depends` stand,
    with placeholders for the per-visitor values: answer with `personal(text)`.

    `render` must show nothing per visitor but csrf_token() and tap_key(), and must read
    what it shows from the database only when called (after the generations are read).
    Only a screen of SCREENS is kept, and only under generations it declares there.
    `query` names every request parameter the view reads, with the value it checked and
    used (None: the view's default); the request's other parameters change nothing and are
    never kept. The first screen of a request names them for the whole answer.
    """
    declared = SCREENS.get(request.endpoint or "")
    if declared is None or not set(depends) <= set(declared):
        raise UndeclaredScreen(
            f"{request.endpoint} keeps a screen under {depends}: declare it in "
            "page_cache.SCREENS with every generation it shows (README: Add a visitor screen)."
        )
    group = _group(depends)
    if _QUERY not in g:
        setattr(g, _QUERY, tuple(sorted((query or {}).items())))
    # The path and the parameters read too: a template that echoes them (a link back here,
    # like the language switch of issue 14) echoes `screen_address()`, made of nothing else.
    # No visitor screen shows the host.
    full_key = (key, str(get_locale()), request.script_root, request.path, g.get(_QUERY))
    text = group.pages.get(full_key)
    if text is None:
        text = _render_for_everyone(render)
        group.pages.put(full_key, text)
    return text


def screen_address() -> str:
    """This screen's address as it is kept: the path and the parameters its view read, in
    one order, defaults left out (what a shared screen may echo: a link back to itself)."""
    query = [(name, value) for name, value in g.get(_QUERY, ()) if value is not None]
    return f"{request.path}?{urlencode(query)}" if query else request.path


class UndeclaredScreen(RuntimeError):
    """A view kept a screen that page_cache.SCREENS does not declare (a programming error)."""


class _Group:
    """One process's screens that depend on the same generations, at the values it saw last
    (a tap renews the chart's group; the FAQ's, which depends on the setup only, stays)."""

    def __init__(self, values: tuple[int, ...]) -> None:
        self.values = values
        self.pages: ByteBudget[Hashable, Any] = ByteBudget(PAGE_BYTES)


def forget(app: Flask) -> None:
    """Let go of every screen and value this process keeps (the next asks render afresh)."""
    app.extensions[_CACHE].clear()


@hooks.for_everyone("a placeholder in a shared render, filled in for each answer")
def inject_csrf_token() -> dict[str, object]:
    return {"csrf_token": csrf_token}


def init_app(app: Flask) -> None:
    app.extensions[_CACHE] = {}
    # After CSRFProtect's own (kiosk.extensions): the later context processor wins.
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["tap_key"] = tap_key
    app.context_processor(inject_csrf_token)
    with app.app_context():
        engine = db.engine
    install(engine, change_signal.init_app(app, engine, set(WATCHED.values())))
    wal_stamp.init_app(app, engine)
