"""What a kept screen reads is watched (kiosk/page_cache.py's SCREENS and WATCHED).

Each screen of page_cache.SCREENS is rendered afresh while SQLAlchemy's statement events
record the tables it reads; every table must be in WATCHED, under a generation the screen
declares. A screen that starts showing a new table fails here, rather than being sent stale
after a write to it. Each rule is also shown to fail when it is broken. SQLite only: the
tables a screen reads do not depend on the engine.
"""

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask, has_request_context, request
from sqlalchemy import Table, event
from sqlalchemy.sql import visitors

from kiosk import page_cache
from kiosk.extensions import db
from kiosk.fast_path import fast_path_of
from kiosk.page_cache import SETUP, TALLIES
from tests.helpers import screen_requests


@contextmanager
def tables_read(app: Flask) -> Iterator[set[str]]:
    """The tables the statements SQLAlchemy runs meanwhile name: the whole request of a GET
    (the fast path sends all of it again), the shared render of a POST (the page cache keeps
    only that; its write came before)."""
    found: set[str] = set()

    def record(_conn, _cursor, statement, _params, context, _many) -> None:
        if not has_request_context():
            return
        if request.method != "GET" and not page_cache.shared_render():
            return
        compiled = context.compiled
        if compiled is None or compiled.statement is None:
            found.add(f"raw SQL: {statement[:60]}")  # tables nobody can know
            return
        for element in visitors.iterate(compiled.statement):
            if isinstance(element, Table):
                found.add(element.name)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", record)


def reads_by_screen(app: Flask) -> dict[str, set[str]]:
    """Every kept screen rendered afresh, with the tables it read."""
    reads: dict[str, set[str]] = defaultdict(set)
    for endpoint, method, path, headers, form in screen_requests(app):
        page_cache.forget(app)
        client = app.test_client()  # no session yet: never the fast path's answer
        with tables_read(app) as found:
            response = client.open(path, method=method, headers=headers, data=form)
        assert response.status_code == 200, (path, response.status_code)
        # A GET reads at least the event it shows (a POST's panel may read nothing).
        assert found or method != "GET", f"{path} read nothing: it was not rendered afresh"
        reads[endpoint] |= found
    return reads


def unwatched_reads(app: Flask) -> list[str]:
    """Each table a kept screen reads that a write would not renew it for."""
    problems = []
    for endpoint, tables in sorted(reads_by_screen(app).items()):
        for table in sorted(tables):
            kind = page_cache.WATCHED.get(table)
            if kind is None:
                problems.append(f"{endpoint} reads {table}, which page_cache.WATCHED lacks")
            elif kind not in page_cache.SCREENS[endpoint]:
                problems.append(f"{endpoint} reads {table} but does not depend on {kind}")
    return problems


def test_every_declared_screen_is_rendered_here(app):
    assert {endpoint for endpoint, *_ in screen_requests(app)} == set(page_cache.SCREENS)


def test_every_table_a_kept_screen_reads_is_watched_under_a_generation_it_declares(app):
    assert unwatched_reads(app) == []


def test_a_kept_screen_reading_an_unwatched_table_fails_the_check(app, monkeypatch):
    watched = dict(page_cache.WATCHED)
    del watched["team_page"]
    monkeypatch.setattr(page_cache, "WATCHED", watched)
    problems = unwatched_reads(app)
    assert "visitor.faq reads team_page, which page_cache.WATCHED lacks" in problems


def test_a_kept_screen_reading_a_generation_it_does_not_declare_fails_the_check(app, monkeypatch):
    screens = dict(page_cache.SCREENS) | {"visitor.faq": (SETUP,)}
    monkeypatch.setattr(page_cache, "SCREENS", screens)
    watched = dict(page_cache.WATCHED) | {"team_page": TALLIES}  # as if it were a tally
    monkeypatch.setattr(page_cache, "WATCHED", watched)
    assert "visitor.faq reads team_page but does not depend on tallies" in unwatched_reads(app)


def test_a_screen_missing_from_the_registry_is_never_kept(app, monkeypatch):
    screens = {k: v for k, v in page_cache.SCREENS.items() if k != "visitor.faq"}
    monkeypatch.setattr(page_cache, "SCREENS", screens)
    with pytest.raises(page_cache.UndeclaredScreen, match="visitor.faq"):
        app.test_client().get("/faq")
    layer = fast_path_of(app)
    assert layer is not None and len(layer.recipes) == 0


def test_a_screen_kept_under_a_generation_it_does_not_declare_is_refused(app, monkeypatch):
    screens = dict(page_cache.SCREENS) | {"visitor.opener_chart": (SETUP,)}
    monkeypatch.setattr(page_cache, "SCREENS", screens)
    with pytest.raises(page_cache.UndeclaredScreen, match="opener_chart"):
        app.test_client().get("/opener/chart", headers={"HX-Request": "true"})
