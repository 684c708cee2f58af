"""Visitor screens kept per generation (kiosk/page_cache.py): kept while nothing they show
changes, and never stale in another server process after a write committed in one.

Two app instances on one database stand for two `kiosk serve` processes of a hub: each has
its own cache, and only the database tells one of the other's writes (on PostgreSQL by a
notification, which `settled` waits for: kiosk/change_signal.py). Both engines.
"""

import re

import pytest
from sqlalchemy import delete, insert, literal, select, text, update

from kiosk import page_cache, write_queue
from kiosk.extensions import db
from kiosk.models import Event, Setting, Tally
from kiosk.services import events, settings
from tests.helpers import HX, assert_calm_503_without_generations, settled
from tests.test_counts import statements_of

# SQL decides these outcomes: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_engines


def count_of(html: str, label: str) -> int:
    match = re.search(rf">{label}</span>.*?bar-count\">(\d+)<", html, re.S)
    assert match, f"{label} is in the chart"
    return int(match.group(1))


def tap(client, choice: str) -> None:
    assert client.post("/opener", data={"choice": choice}, headers=HX).status_code == 200


def test_a_tap_in_one_process_shows_in_the_others_next_read(app, second):
    here, there = app.test_client(), second.test_client()
    tap(here, "famine")
    assert count_of(here.get("/opener/chart", headers=HX).get_data(as_text=True), "Famine") == 1
    assert count_of(here.get("/").get_data(as_text=True), "Famine") == 1
    tap(there, "famine")
    settled(app)  # PostgreSQL: the notification reached this process (SQLite reads)
    assert count_of(here.get("/opener/chart", headers=HX).get_data(as_text=True), "Famine") == 2
    assert count_of(here.get("/").get_data(as_text=True), "Famine") == 2
    assert count_of(there.get("/").get_data(as_text=True), "Famine") == 2


def test_an_event_activated_in_one_process_shows_in_the_others_chart(app, second):
    here = app.test_client()
    tap(here, "nukes")
    assert count_of(here.get("/").get_data(as_text=True), "Nuclear weapons") == 1
    with second.app_context():
        events.create_event("Spring fair", activate=True)
    settled(app)
    assert count_of(here.get("/").get_data(as_text=True), "Nuclear weapons") == 0
    assert (
        count_of(here.get("/opener/chart", headers=HX).get_data(as_text=True), "Nuclear weapons")
        == 0
    )


def test_a_setting_changed_in_one_process_shows_in_the_others_pages(app, second):
    here = app.test_client()
    for path in ("/", "/faq", "/involved"):
        assert 'data-idle-seconds="' in here.get(path).get_data(as_text=True)
    with second.app_context():
        settings.set_setting(settings.IDLE_SECONDS, "123")
    settled(app)
    for path in ("/", "/faq", "/involved"):
        assert 'data-idle-seconds="123"' in here.get(path).get_data(as_text=True)


def setting_reads(app, ask) -> int:
    """How many statements `ask()` runs that read the settings table."""
    return sum("from setting" in statement for statement in statements_of(app, ask))


def test_the_idle_limit_on_a_screen_rendered_per_visitor_is_read_once_per_setting(app, second):
    """The sign-up form is rendered for each visitor (never kept), and its layout shows the
    idle limit: read once, not on every render, and renewed in every process by a change."""
    here = app.test_client()

    def idle_on_signup() -> str:
        page = here.get("/signup").get_data(as_text=True)
        match = re.search(r'data-idle-seconds="(\d+)"', page)
        assert match
        return match.group(1)

    idle_on_signup()
    assert setting_reads(app, idle_on_signup) == 0
    with second.app_context():
        settings.set_setting(settings.IDLE_SECONDS, "77")
    settled(app)
    assert idle_on_signup() == "77"
    assert setting_reads(app, idle_on_signup) == 0


def test_a_screen_is_rendered_once_until_something_it_shows_changes(app, client, monkeypatch):
    renders: list[str] = []
    real = page_cache.cached

    def counting(key, depends, render, **kwargs):
        return real(key, depends, lambda: renders.append(str(key)) or render(), **kwargs)

    monkeypatch.setattr(page_cache, "cached", counting)
    for _ in range(3):
        client.get("/faq")
        client.get("/opener/chart", headers=HX)
    assert len(renders) == 2
    tap(client, "people")  # a tally: the chart again, the FAQ stays
    client.get("/faq")
    client.get("/opener/chart", headers=HX)
    assert len(renders) == 4  # the tap's answer and the chart
    with app.app_context():
        settings.set_setting(settings.IDLE_SECONDS, "200")
    client.get("/faq")
    assert len(renders) == 5


def test_core_writes_and_rollbacks(app):
    """Any statement that changes what the screens show bumps, ORM or Core; a rollback not."""
    with app.app_context():
        before = page_cache.generations()
        db.session.execute(update(Event).values(place="Hall B"))
        db.session.rollback()
        assert page_cache.generations() == before
        with db.engine.begin() as connection:
            connection.execute(update(Event).values(place="Hall C"))
        after = page_cache.generations()
    assert after[page_cache.SETUP] == before.get(page_cache.SETUP, 0) + 1
    assert after.get(page_cache.TALLIES) == before.get(page_cache.TALLIES)


def csrf_of(html: str) -> str:
    tokens = set(re.findall(r'name="csrf_token" value="([^"]+)"', html))
    assert len(tokens) == 1, tokens
    return tokens.pop()


def test_a_cached_page_carries_each_visitors_own_csrf_token(app, second):
    second.config["WTF_CSRF_ENABLED"] = True
    first, other = second.test_client(), second.test_client()
    first_page = first.get("/").get_data(as_text=True)
    other_page = other.get("/").get_data(as_text=True)
    mine, theirs = csrf_of(first_page), csrf_of(other_page)
    assert mine != theirs
    assert f'"X-CSRFToken": "{theirs}"' in other_page
    assert page_cache.CSRF_SLOT not in other_page and page_cache.TAP_KEY_SLOT not in other_page
    form = {"choice": "people", "csrf_token": mine}
    assert first.post("/opener", data=form, headers=HX).status_code == 200
    assert other.post("/opener", data=form, headers=HX).status_code == 400
    form["csrf_token"] = theirs
    assert other.post("/opener", data=form, headers=HX).status_code == 200


def test_a_tap_renews_the_openers_chart_not_the_page_around_it(app, client, monkeypatch):
    renders: list[object] = []
    real = page_cache.cached

    def counting(key, depends, render, **kwargs):
        return real(key, depends, lambda: renders.append(key[0]) or render(), **kwargs)

    monkeypatch.setattr(page_cache, "cached", counting)
    for _ in range(3):
        client.get("/")
    assert sorted(map(str, renders)) == ["opener_chart", "visitor/opener.html"]
    renders.clear()
    tap(client, "famine")
    renders.clear()
    page = client.get("/").get_data(as_text=True)
    assert renders == ["opener_chart"]
    assert count_of(page, "Famine") == 1


def test_a_taps_new_chart_reads_the_counts_not_the_event_row(app, client):
    client.get("/opener/chart", headers=HX)  # the setup generation's event id is kept
    tap(client, "famine")
    answers = []
    statements = statements_of(app, lambda: answers.append(client.get("/opener/chart", headers=HX)))
    assert count_of(answers[0].get_data(as_text=True), "Famine") == 1
    assert [s for s in statements if "from tally_count" in s]
    assert not [s for s in statements if "from event" in s]


def test_a_database_failure_under_a_cached_screen_is_the_calm_503(app, client):
    """The generations are read on a DBAPI connection of their own: its errors still reach
    the kiosk's database-failure page (503), never a 500."""
    assert_calm_503_without_generations(app, client)


def test_an_events_language_changed_in_one_process_shows_in_the_others_pages(app, second):
    """The event's language is kept per process with the setup generation (issue 14's
    default language): a change in one process shows in the other's next page."""
    here = app.test_client()
    assert '<html lang="en">' in here.get("/faq").get_data(as_text=True)
    with second.app_context():
        db.session.execute(update(Event).where(Event.status == Event.ACTIVE).values(locale="ko"))
        db.session.commit()
    settled(app)
    assert '<html lang="ko">' in here.get("/faq").get_data(as_text=True)
    assert '<html lang="ko">' in here.get("/").get_data(as_text=True)


# ---- writes are recognised from the statement SQLAlchemy runs, not from its SQL text ------


def idle_shown(client) -> str:
    match = re.search(r'data-idle-seconds="(\d+)"', client.get("/faq").get_data(as_text=True))
    assert match
    return match.group(1)


def cte_write(value: str, dialect: str):
    """A write to `setting` that starts with WITH, on each engine the way it allows: a
    CTE read by an UPDATE (`WITH new AS (SELECT ...) UPDATE setting ...`) on SQLite, a
    data-modifying CTE (`WITH changed AS (UPDATE setting ... RETURNING ...) SELECT ...`)
    on PostgreSQL."""
    if dialect == "sqlite":
        new = select(literal(value).label("value")).cte("new")
        return (
            update(Setting)
            .where(Setting.key == settings.IDLE_SECONDS)
            .values(value=select(new.c.value).scalar_subquery())
            .add_cte(new)
        )
    changed = (
        update(Setting)
        .where(Setting.key == settings.IDLE_SECONDS)
        .values(value=value)
        .returning(Setting.key)
        .cte("changed")
    )
    return select(changed.c.key)


def test_a_cte_write_to_a_watched_table_renews_the_screens_that_show_it(app, client, dialect):
    with app.app_context():
        settings.set_setting(settings.IDLE_SECONDS, "20")
    assert idle_shown(client) == "20"
    assert idle_shown(client) == "20"  # kept
    with app.app_context():
        statement = cte_write("33", dialect)
        assert str(statement.compile(db.engine)).lstrip().upper().startswith("WITH")
        db.session.execute(statement)
        db.session.commit()
    assert idle_shown(client) == "33"


def test_raw_sql_that_does_not_say_what_it_writes_renews_every_screen(app, client):
    with app.app_context():
        settings.set_setting(settings.IDLE_SECONDS, "20")
    assert idle_shown(client) == "20"
    with app.app_context():
        db.session.execute(
            text("UPDATE setting SET value = '44' WHERE key = :key"),
            {"key": settings.IDLE_SECONDS},
        )
        db.session.commit()
        after_text = page_cache.generations()
        with db.engine.begin() as connection:
            connection.exec_driver_sql("UPDATE setting SET value = '45' WHERE key = 'idle_seconds'")
        after_driver_sql = page_cache.generations()
    assert after_driver_sql[page_cache.SETUP] == after_text[page_cache.SETUP] + 1
    assert after_driver_sql[page_cache.TALLIES] == after_text[page_cache.TALLIES] + 1
    assert idle_shown(client) == "45"


def test_raw_sql_that_says_it_writes_nothing_watched_renews_nothing(app):
    with app.app_context():
        before = page_cache.generations()
        quiet = {page_cache.WRITES: ()}
        db.session.execute(text("SELECT count(*) FROM setting").execution_options(**quiet))
        db.session.commit()
        with db.engine.begin() as connection:
            connection.exec_driver_sql("SELECT 1", execution_options=quiet)
        assert page_cache.generations() == before
    # The write turn's BEGIN IMMEDIATE (SQLite) says so too: every write transaction has one.
    assert set(write_queue.WRITES_NOTHING) == {page_cache.WRITES}


def test_the_tables_a_statement_writes_are_those_of_its_inserts_updates_and_deletes():
    setting, tally, event = Setting.__table__, Tally.__table__, Event.__table__
    changed = update(setting).values(value="1").returning(setting.c.key).cte("changed")
    added = insert(tally).values(kind="x").returning(tally.c.id).cte("added")
    read = select(event.c.id).cte("read")
    cases = [
        (select(setting), set()),
        (select(changed.c.key), {"setting"}),  # WITH changed AS (UPDATE ...) SELECT
        (select(event).add_cte(changed), {"setting"}),  # a CTE nothing reads still runs
        (select(event).where(event.c.id.in_(select(added.c.id))), {"tally"}),
        (update(setting).values(value="2").add_cte(read), {"setting"}),  # WITH ... UPDATE
        (insert(tally).from_select(["id"], select(event.c.id)), {"tally"}),  # reads event
        (delete(event).add_cte(changed, nest_here=True), {"event", "setting"}),
        (update(Setting).values(value="3"), {"setting"}),  # ORM-enabled
        (update(setting.alias("s")).values(value="4"), {"setting"}),  # UPDATE setting AS s
        (text("UPDATE setting SET value = '4'"), None),  # raw: SQLAlchemy cannot say
    ]
    for statement, expected in cases:
        written = page_cache.written_tables(statement)
        assert written == (None if expected is None else frozenset(expected)), statement
