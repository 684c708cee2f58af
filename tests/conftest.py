"""Fixtures: an app with a fresh migrated database per test, on each engine, its client and
CLI runner.

A test that uses `app` runs on SQLite (`[sqlite]`). One whose outcome depends on SQL or on the
engine (a constraint, a transaction, a query, a value one engine refuses) is marked
`both_engines` and runs a second time on a throwaway PostgreSQL cluster (`[postgresql]`, see
tests/postgres.py); one about PostgreSQL alone is `postgresql_only`, about SQLite alone
`sqlite_only`. `-m "not postgresql"` leaves the PostgreSQL runs out for a quick local loop;
without PostgreSQL installed they skip (and fail CI).
"""

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from hypothesis import settings
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from sqlalchemy import event

from kiosk import change_signal, content, create_app, emails, rendering
from kiosk.extensions import db
from kiosk.schema import upgrade
from kiosk.services import hashing, sealing
from kiosk.services.events import ensure_demo_event
from tests.postgres import Cluster, PostgresNotFound, find_bindir, remove_abandoned_clusters

ENGINES = ("sqlite", "postgresql")

# Locally every run of the property tests tries new sequences (that is how they find bugs:
# the stateful erasure test found the twice-erased person this way). In CI they replay a
# fixed set, so whether a commit lands does not depend on the draw.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
    settings.load_profile("ci")
TEMPLATE_DATABASE = "kiosk_template"

# Email digests at libsodium's least Argon2id cost, in this process and every `kiosk serve` it
# starts (they inherit the environment): the suite imports tens of thousands of addresses.
# tests/test_sealing.py measures the real cost.
os.environ[emails.CHEAP_FOR_TESTS] = "1"


def _config(database_url: str, **extra: object) -> dict[str, object]:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": False,
        # A hub in this process takes one table's chunk after another without resting (its
        # pacing is tested where it is set: tests/test_sync.py).
        "KIOSK_HUB_IMPORT_SHARE": 1.0,
    } | extra


def _migrate(database_url: str, instance: Path) -> None:
    os.environ["KIOSK_INSTANCE"] = str(instance)  # never the checkout's own instance/
    app = create_app(_config(database_url))
    with app.app_context():
        upgrade()
        db.engine.dispose()


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "both_engines: SQL or the engine decides the outcome; runs on SQLite and PostgreSQL",
        "sqlite_only: about SQLite itself (pragmas, WAL, sqlite3 backups, the write queue)",
        "postgresql_only: about PostgreSQL itself; no [sqlite] run",
        "sqlite: the [sqlite] run of a test that uses the database",
        "postgresql: the [postgresql] run of a test, on a throwaway PostgreSQL cluster",
    ):
        config.addinivalue_line("markers", line)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run a test that uses the database on SQLite, and on PostgreSQL too where it is marked
    `both_engines`: twins only where SQL or the engine can change the outcome, so the suite
    spends its minutes where a second engine can find something.

    Browser tests run on SQLite: what they prove is in the browser, not the database.
    """
    if "dialect" not in metafunc.fixturenames:
        return
    marked = metafunc.definition.get_closest_marker
    if marked("postgresql_only"):
        engines: tuple[str, ...] = ("postgresql",)
    elif marked("both_engines") and not (marked("sqlite_only") or marked("browser")):
        engines = ENGINES
    else:
        engines = ("sqlite",)
    metafunc.parametrize(
        "dialect",
        [pytest.param(name, marks=getattr(pytest.mark, name), id=name) for name in engines],
        indirect=True,
    )


def _check_xdist_groups(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not (hasattr(config, "workerinput") and config.getvalue("loadgroup")):
        return
    lost = [i.nodeid for i in items if i.get_closest_marker("xdist_group") and "@" not in i.nodeid]
    if lost:
        raise pytest.UsageError(
            f"pytest-xdist did not group {len(lost)} test(s) marked xdist_group (first: "
            f"{lost[0]}): this pytest and pytest-xdist disagree (see pyproject.toml)."
        )


# Set when PostgreSQL is not installed: how many [postgresql] runs were left out, and why.
POSTGRES_MISSING = pytest.StashKey[tuple[int, str]]()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without PostgreSQL, leave its runs out and say so once (not one skip per test).

    In a pytest-xdist worker under `--dist loadgroup`, check that every test marked
    `xdist_group` was given its group: when pytest and xdist disagree on how a test's id is
    stored, grouping stops silently, the crash tests run beside each other and the suite
    runs minutes over its budget."""
    _check_xdist_groups(config, items)
    runs = [item for item in items if item.get_closest_marker("postgresql")]
    if not runs:
        return
    try:
        find_bindir()
    except PostgresNotFound as error:
        items[:] = [item for item in items if not item.get_closest_marker("postgresql")]
        config.hook.pytest_deselected(items=runs)
        config.stash[POSTGRES_MISSING] = (len(runs), str(error))
        if hasattr(config, "workeroutput"):  # a pytest-xdist worker: tell the controller
            config.workeroutput["postgres_missing"] = config.stash[POSTGRES_MISSING]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """pytest-xdist's controller: learn from a worker that it left the [postgresql] runs out."""
    missing = getattr(node, "workeroutput", {}).get("postgres_missing")
    if missing:
        node.config.stash[POSTGRES_MISSING] = tuple(missing)


def pytest_report_header(config: pytest.Config) -> str | None:
    try:
        return f"postgresql: {find_bindir()} (a throwaway cluster for the [postgresql] runs)"
    except PostgresNotFound:
        return None


def _postgres_missing_line(config: pytest.Config) -> str | None:
    if POSTGRES_MISSING not in config.stash:
        return None
    count, reason = config.stash[POSTGRES_MISSING]
    return f"{count} [postgresql] test run(s) skipped: {reason}"


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    figures = [
        value
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
        for name, value in getattr(report, "user_properties", ())
        if name == "figure"
    ]
    if figures:
        terminalreporter.section("figures")
        for line in figures:
            terminalreporter.write_line(line)
    line = _postgres_missing_line(config)
    if line:
        terminalreporter.write_line(line, yellow=True, bold=True)


@pytest.fixture(scope="session")
def real_hasher() -> PasswordHasher:
    """The Argon2id parameters the kiosk itself hashes with (before quick_argon2 swaps them)."""
    return hashing._hasher


@pytest.fixture(scope="session", autouse=True)
def quick_argon2(real_hasher: PasswordHasher) -> Iterator[None]:
    """Argon2id through the kiosk's own code, at a test's cost: the real parameters take 64 MiB
    and four lanes a hash (0.2 s of both cores), and hundreds of tests set a passphrase or a
    PIN. Every hash still carries its parameters, so verifying is unchanged; the served
    kiosks (`kiosk serve` subprocesses: crash, hub) and test_hashing keep the real ones."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            hashing, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        )
        # The passphrase's wrapping of the team key: libsodium's least Argon2id.
        patch.setattr(sealing, "KDF_OPSLIMIT", 1)
        patch.setattr(sealing, "KDF_MEMLIMIT", 8192)
        yield


@pytest.fixture(scope="session", autouse=True)
def content_packs_read_once() -> Iterator[None]:
    """Each test's app reads the same content pack files, and parsing them is most of what
    create_app costs now that URL builders compile on first use (about 15 ms of 25): a pack is
    parsed once per test process for each content of its file. Keyed on the file's bytes, so
    a test that writes a pack of its own (a broken one, an edited copy) is parsed as the kiosk
    parses it; only packs that loaded are kept (a pack that fails, fails every time)."""
    real_load_pack = content.load_pack
    loaded: dict[tuple[str, str, bytes], content.ContentPack] = {}

    def load_pack_once(location: str | Path, locale: str = "en") -> content.ContentPack:
        path = content.pack_file(Path(location), locale)
        try:
            key = (str(location), locale, path.read_bytes())
        except OSError:
            return real_load_pack(location, locale)
        if key not in loaded:
            loaded[key] = real_load_pack(location, locale)
        return loaded[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(content, "load_pack", load_pack_once)
        yield


class SharedBytecodeCache(BytecodeCache):
    """Compiled templates in this process's memory, for every app a test makes."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if bucket.key in self.compiled:
            # The bucket checks the template's checksum: an edited template compiles again.
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


@pytest.fixture(scope="session", autouse=True)
def templates_compiled_once() -> Iterator[None]:
    """The kiosk keeps compiled templates in its instance folder (kiosk/rendering.py), and
    each test's instance is new: every test compiled every template it rendered again, about
    a third of a quick test's time. Here a test process keeps them in memory for all its apps.
    tests/test_compiled_templates.py turns this off to test the instance folder's cache."""
    shared = SharedBytecodeCache()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rendering, "FileSystemBytecodeCache", lambda directory: shared)
        yield


# Every team key a test made, by its public key: the tests' own way to read sealed fields.
TEST_KEYS: dict[bytes, sealing.PrivateKey] = {}


@pytest.fixture(scope="session", autouse=True)
def test_key_reader() -> Iterator[None]:
    """Tests read sealed personal fields in clear, as the lead's opened key would: every key
    a test makes is kept (here, in the test process only) and read through wherever no
    key is in use. A test about who can read (tests/test_sealing.py) turns this off with
    `only_real_keys`."""
    made = sealing.generate_key
    real_opened = sealing.opened_key

    def keep() -> sealing.PrivateKey:
        key = made()
        TEST_KEYS[bytes(key.public_key)] = key
        return key

    def test_opened() -> sealing.PrivateKey | None:
        found = real_opened()
        if found is not None:
            return found
        try:
            return TEST_KEYS.get(bytes(sealing.public_key()))
        except Exception:  # noqa: BLE001  # outside an app, or before a key: nothing to read with
            return None

    real_clear = sealing.clear

    def test_clear(value: str | None) -> str | None:
        # Any test kiosk's key: a record merged from another test kiosk is sealed with its.
        found = real_clear(value)
        if isinstance(found, sealing.Sealed):
            return open_with_test_keys(found)
        return found

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sealing, "generate_key", keep)
        patch.setattr(sealing, "opened_key", test_opened)
        patch.setattr(sealing, "clear", test_clear)
        patch.setattr(sealing, "_real_opened_key", real_opened, raising=False)
        patch.setattr(sealing, "_real_clear", real_clear, raising=False)
        yield


def open_with_test_keys(value: str) -> str:
    """A sealed value opened with whichever test key opens it (else as it is)."""
    for key in TEST_KEYS.values():
        try:
            return sealing.open_sealed(value, key)
        except Exception:  # noqa: BLE001, S112  # not this key: the next
            continue
    return value


def opened_values(data: object) -> object:
    """Parsed JSON (a bundle) with every sealed string opened with the tests' keys."""
    if isinstance(data, dict):
        return {name: opened_values(value) for name, value in data.items()}
    if isinstance(data, list):
        return [opened_values(value) for value in data]
    if isinstance(data, str) and sealing.is_sealed(data):
        return open_with_test_keys(data)
    return data


@pytest.fixture
def only_real_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sealed fields read in clear only through a key the kiosk itself opened."""
    monkeypatch.setattr(sealing, "opened_key", sealing._real_opened_key)
    monkeypatch.setattr(sealing, "clear", sealing._real_clear)


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Report a measured figure (counts, seconds) in the run's "figures" section.

    Printing would not do: under pytest-xdist (`make test`) a worker's output is not shown.
    """

    def report(line: str) -> None:
        request.node.user_properties.append(("figure", line))

    return report


@pytest.fixture
def dialect(request: pytest.FixtureRequest) -> str:
    """The database engine this run of the test uses, by its SQLAlchemy dialect name:
    "sqlite" or "postgresql"."""
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """A PostgreSQL cluster for the whole session, removed at its end whatever happened."""
    remove_abandoned_clusters()
    cluster = Cluster(find_bindir())
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_template(postgres: Cluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrate once into a template database; each test gets a copy of it."""
    postgres.create_database(name=TEMPLATE_DATABASE)
    _migrate(postgres.url(TEMPLATE_DATABASE), tmp_path_factory.mktemp("instance"))
    return TEMPLATE_DATABASE


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the migrations once on SQLite; every test starts from a copy of the result."""
    path = tmp_path_factory.mktemp("template") / "kiosk.db"
    _migrate(f"sqlite:///{path}", tmp_path_factory.mktemp("instance"))
    return path


@pytest.fixture
def database_url(dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, migrated database of this test's engine; dropped after the test."""
    if dialect == "sqlite":
        path = tmp_path / "kiosk.db"
        shutil.copy(request.getfixturevalue("migrated_db"), path)
        yield f"sqlite:///{path}"
        return
    cluster: Cluster = request.getfixturevalue("postgres")
    name = cluster.create_database(template=request.getfixturevalue("postgres_template"))
    yield cluster.url(name)
    cluster.drop_database(name)


@pytest.fixture
def more_databases(
    dialect: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[], str]]:
    """Makes more fresh, migrated databases of this test's engine (another tablet's, say);
    the PostgreSQL ones are dropped after the test."""
    made: list[str] = []
    if dialect == "sqlite":
        template = request.getfixturevalue("migrated_db")

        def make() -> str:
            path = tmp_path / f"more-{len(made)}.db"
            shutil.copy(template, path)
            made.append(str(path))
            return f"sqlite:///{path}"

        yield make
        return
    cluster: Cluster = request.getfixturevalue("postgres")
    template_name = request.getfixturevalue("postgres_template")

    def make_postgres() -> str:
        made.append(cluster.create_database(template=template_name))
        return cluster.url(made[-1])

    yield make_postgres
    for name in made:
        cluster.drop_database(name)


@pytest.fixture
def app_config() -> dict[str, object]:
    """Override in a test module to change the app's configuration."""
    return {}


@pytest.fixture
def app(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app_config: dict
) -> Iterator[Flask]:
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "instance"))
    app = create_app(_config(database_url, **app_config))
    with app.app_context():
        ensure_demo_event()
    # On PostgreSQL the change signal's listener is up, as in a server that answered once:
    # a test never sees it come up halfway (kiosk/change_signal.py).
    assert change_signal.signal_of(app).listening(), "the change signal listens"
    yield app
    change_signal.signal_of(app).stop()  # a PostgreSQL app's listener, if it started one
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def second(app: Flask) -> Iterator[Flask]:
    """Another server process's app on the same database and instance folder (a hub's
    second `kiosk serve`): its own caches, and only the database between the two."""
    keep = ("TESTING", "SECRET_KEY", "SQLALCHEMY_DATABASE_URI", "WTF_CSRF_ENABLED")
    other = create_app({key: app.config[key] for key in keep})
    assert change_signal.signal_of(other).listening(), "the change signal listens"
    yield other
    change_signal.signal_of(other).stop()
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test is a failed run: a browser or PostgreSQL run that did not happen
    proved nothing."""
    if os.environ.get("CI", "").lower() != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    postgres_missing = _postgres_missing_line(session.config)
    if skipped or postgres_missing:
        if reporter:
            if skipped:
                reporter.write_line(
                    f"CI=true: {len(skipped)} test(s) skipped; failing the run.", red=True
                )
            if postgres_missing:
                reporter.write_line(f"CI=true: {postgres_missing}; failing the run.", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def content_pack_dir() -> Path:
    from kiosk.config import DEFAULT_CONTENT

    return DEFAULT_CONTENT


@pytest.fixture
def copy_pack(tmp_path: Path, content_pack_dir: Path):
    """A writable copy of the default pack's English file, for tests that break it."""

    def make(edit=lambda text: text) -> Path:
        target = tmp_path / "pack"
        target.mkdir(exist_ok=True)
        source = (content_pack_dir / "en.toml").read_text(encoding="utf-8")
        (target / "en.toml").write_text(edit(source), encoding="utf-8")
        return target

    return make


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch):
    """kiosk.clock.now fixed at a moment the test moves on or back (tests/data_helpers.py)."""
    from tests.data_helpers import movable_clock

    return movable_clock(monkeypatch)


@pytest.fixture
def lead(app: Flask) -> FlaskClient:
    """The team lead's browser, logged in; the visitor keeps `client`."""
    from tests.data_helpers import logged_in_lead

    return logged_in_lead(app)


@pytest.fixture
def read_only_database(app, dialect):
    """The engine itself refuses every write (root ignores file modes, so chmod proves
    nothing; a PostgreSQL standby refuses writes the same way)."""

    def query_only(dbapi_connection, _record):
        if dialect == "sqlite":
            dbapi_connection.execute("PRAGMA query_only=ON")
        else:
            dbapi_connection.execute("SET default_transaction_read_only = on")
            dbapi_connection.commit()

    with app.app_context():
        engine = db.engine
        engine.dispose()
    event.listen(engine, "connect", query_only)
    yield
    event.remove(engine, "connect", query_only)
    engine.dispose()
