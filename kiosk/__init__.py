"""Rescue Team Kiosk: an offline Flask + htmx app for a Rescue Team's awareness table."""

from pathlib import Path
from typing import Any

from flask import Flask

from kiosk import paths
from kiosk.url_rules import KioskFlask


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the kiosk app: config, extensions, content pack, blueprints, CLI."""
    app = KioskFlask(
        __name__,
        instance_path=str(paths.instance_folder()),
        template_folder=str(paths.TEMPLATES_DIR),
        static_folder=str(paths.STATIC_DIR),
    )
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    # Imported here, on purpose: `import kiosk.<module>` (a test, `python -m kiosk.i18n` at
    # install time, the benchmark) runs this package first and must not load the whole app.
    from kiosk import (
        cli,
        config,
        content,
        errors,
        extensions,
        fast_path,
        health,
        hub,
        i18n,
        lead,
        page_cache,
        parsing,
        proxies,
        rendering,
        security,
        visitor,
        volunteer,
    )

    # sealing: the models' personal columns seal through it (kiosk/sealed_text.py).
    from kiosk.services import sealing, tallies  # noqa: F401

    app.config.from_mapping(config.defaults(app.instance_path))
    app.config.from_mapping(config.from_environment())
    if test_config is not None:
        app.config.from_mapping(test_config)
    config.ensure_secret_key(app)
    config.for_the_engine(app)
    config.create_database_file(app)
    config.add_pack_translations(app)

    # `<id:...>` in routes: bounded digits, so an id too large for the database is a 404.
    app.url_map.converters["id"] = parsing.IdConverter
    extensions.init_app(app)
    content.init_app(app)
    i18n.init_app(app)
    page_cache.init_app(app)
    tallies.init_app(app)
    rendering.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    health.init_app(app)
    app.register_blueprint(visitor.bp)
    app.register_blueprint(volunteer.bp)
    app.register_blueprint(lead.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(hub.bp)
    # The fast path answers before Flask; the trusted proxies' layer sees requests first.
    fast_path.init_app(app)
    proxies.init_app(app)
    cli.init_app(app)
    return app
