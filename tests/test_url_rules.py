"""Routes compile their URL builders on first use (kiosk/url_rules.py): not while the app is
made, and every URL they build is the one Werkzeug's own rules build."""

import threading

import pytest
from flask import Flask, url_for
from werkzeug.routing import AnyConverter, Map, Rule

from kiosk import parsing
from kiosk.url_rules import LazyBuilderRule


def sample_values(rule: Rule) -> dict[str, object]:
    """A value for each of the rule's arguments that its converter accepts."""
    values: dict[str, object] = {}
    for name, converter in rule._converters.items():
        if isinstance(converter, parsing.IdConverter):
            values[name] = 7
        elif isinstance(converter, AnyConverter):
            values[name] = sorted(converter.items)[0]
        else:
            values[name] = "x y"
    return values


def test_making_the_app_compiles_no_url_builder(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled: list[str] = []
    real = Rule._compile_builder

    def counting(rule: Rule, append_unknown: bool = True):
        compiled.append(rule.rule)
        return real(rule, append_unknown)

    monkeypatch.setattr(Rule, "_compile_builder", counting)
    from kiosk import create_app

    fresh = create_app(dict(app.config))
    assert compiled == []
    assert all(isinstance(rule, LazyBuilderRule) for rule in fresh.url_map.iter_rules())

    with fresh.test_request_context():
        assert url_for("visitor.index") == "/"
        assert url_for("visitor.index") == "/"
    assert compiled == ["/"], "one builder compiled, once, for the one route built"


def test_every_route_builds_the_url_werkzeugs_own_rule_builds(app: Flask) -> None:
    plain = Map(converters=dict(app.url_map.converters))
    lazy_rules = list(app.url_map.iter_rules())
    for rule in lazy_rules:
        plain.add(Rule(rule.rule, endpoint=rule.endpoint, methods=rule.methods))
    lazy_adapter = app.url_map.bind("kiosk.local")
    plain_adapter = plain.bind("kiosk.local")
    for rule in lazy_rules:
        values = sample_values(rule)
        expected = plain_adapter.build(rule.endpoint, values, append_unknown=False)
        assert lazy_adapter.build(rule.endpoint, values, append_unknown=False) == expected
        # With an argument the route does not take: the other builder, the query string.
        with_extra = {**values, "from": "a b"}
        expected = plain_adapter.build(rule.endpoint, with_extra)
        assert lazy_adapter.build(rule.endpoint, with_extra) == expected
    assert len(lazy_rules) > 50


def test_threads_building_urls_for_the_first_time_at_once_all_get_them(app: Flask) -> None:
    endpoints = sorted({rule.endpoint for rule in app.url_map.iter_rules() if not rule.arguments})
    results: dict[int, list[str]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def build_all(n: int) -> None:
        try:
            start.wait()
            with app.test_request_context():
                results[n] = [url_for(endpoint) for endpoint in endpoints]
        except BaseException as error:  # noqa: BLE001  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=build_all, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({tuple(urls) for urls in results.values()}) == 1
    assert len(results) == 8
