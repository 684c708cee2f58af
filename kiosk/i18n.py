"""Languages: which ones the kiosk speaks, which one this request speaks, and the catalogues.

A language is a content pack file (`<code>.toml`) plus a message catalogue
(`kiosk/translations/<code>/LC_MESSAGES/messages.po`); no code names a language.

A visitor's choice lives in a small cookie (`kiosk_lang`) for one visit: the idle reset and
the thank-you's return go through `visitor.start`, which drops it, so the next visitor
meets the event's language (`Event.locale`), or the instance's (`KIOSK_LOCALE`). Reading
the cookie costs nothing; the event's language is kept per process until an event or
setting changes (kiosk/page_cache.py).
"""

import sys
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    has_request_context,
    redirect,
    request,
    url_for,
)
from flask.wrappers import Response
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from kiosk import hooks, page_cache
from kiosk.catalogues import compile_catalogues
from kiosk.extensions import babel, db
from kiosk.models import Event
from kiosk.paths import TRANSLATIONS_DIR

bp = Blueprint("i18n", __name__)

LANG_COOKIE = "kiosk_lang"


def languages() -> list[tuple[str, str]]:
    """(code, the language's own name) of every language the kiosk speaks, default first."""
    packs = current_app.extensions["kiosk_packs"]
    return [(code, pack.language_name) for code, pack in packs.items()]


def speaks(code: str | None) -> bool:
    return code is not None and code in current_app.extensions["kiosk_packs"]


def instance_locale() -> str:
    """The instance's language: KIOSK_LOCALE (the first pack loaded)."""
    return current_app.extensions["kiosk_content"].locale


def default_locale() -> str:
    """The language a new visitor meets: the active event's, else the instance's."""
    if "kiosk_default_locale" not in g:
        g.kiosk_default_locale = _event_locale() or instance_locale()
    return g.kiosk_default_locale


def _event_locale() -> str | None:
    try:
        # Kept per process until an event or setting changes (kiosk/page_cache.py): every
        # request asks, and a cached screen would otherwise spend most of its time here.
        return page_cache.remembered("event_locale", (page_cache.SETUP,), _active_locale)
    except SQLAlchemyError:
        # A broken database must not stop the calm error page from rendering.
        db.session.rollback()
        return None


def _active_locale() -> str | None:
    code = db.session.scalar(select(Event.locale).where(Event.status == Event.ACTIVE))
    return code if speaks(code) else None


def current_locale() -> str:
    """This request's language: the visitor's choice for this visit, else the default."""
    if not has_request_context():
        return instance_locale()
    if "kiosk_locale" not in g:
        chosen = request.cookies.get(LANG_COOKIE)
        g.kiosk_locale = chosen if speaks(chosen) else default_locale()
    return g.kiosk_locale


# The longest address the language switch echoes back: a page is never made to carry a
# client's 200 KB query string (issue 20); a longer one comes back to the page's path.
MAX_ECHO = 1024


def _here() -> str:
    """Where the language switch comes back to: this page, if it can be fetched again. A
    screen kept for everyone echoes the address it is kept under (page_cache), nothing the
    request added; any page echoes at most MAX_ECHO characters."""
    if page_cache.shared_render():
        return page_cache.screen_address()
    if request.method != "GET" or request.endpoint == "i18n.switch":
        return url_for("visitor.index")
    for here in (request.full_path.rstrip("?"), request.path):
        if len(here) <= MAX_ECHO:
            return here
    return url_for("visitor.index")


def _safe_next(target: str | None) -> str:
    """A path on this kiosk, never another site (no scheme, no host, no //, no backslash)."""
    if not target or "\\" in target or not target.startswith("/") or target.startswith("//"):
        return url_for("visitor.index")
    try:
        parts = urlsplit(target)
    except ValueError:
        return url_for("visitor.index")
    if parts.scheme or parts.netloc:
        return url_for("visitor.index")
    return target


@bp.get("/language/<code>")
def switch(code: str) -> Response:
    """Speak `code` to this visitor until the screen starts over."""
    if not speaks(code):
        abort(404)
    # Made with the app's Response class; redirect() is typed as returning werkzeug's.
    response = cast(Response, redirect(_safe_next(request.args.get("next")), 303))
    response.set_cookie(LANG_COOKIE, code, httponly=True, samesite="Lax", secure=request.is_secure)
    return response


def forget_choice(response: Response) -> Response:
    """Back to the default language: the next visitor starts afresh."""
    response.delete_cookie(LANG_COOKIE)
    return response


hooks.header(
    "Content-Language", hooks.FOR_EVERYONE, "the answer's language, part of a kept screen's key"
)


@hooks.for_everyone("the language, which is part of a kept screen's key")
def add_content_language(response: Response) -> Response:
    """Say which language a page or fragment speaks (only if it spoke one)."""
    if "kiosk_locale" in g:
        response.headers.setdefault("Content-Language", g.kiosk_locale)
    return response


# ---- Catalogues: compiled from the .po files, at install and at start-up -----------------


def translation_directories(app: Flask) -> list[Path]:
    value = app.config["BABEL_TRANSLATION_DIRECTORIES"]
    return [Path(part) for part in str(value).split(";") if part.strip()]


def has_catalogue(app: Flask, code: str) -> bool:
    return any(
        (directory / code / "LC_MESSAGES" / "messages.mo").exists()
        for directory in translation_directories(app)
    )


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=current_locale)
    for directory in translation_directories(app):
        try:
            compile_catalogues(directory)
        except OSError as error:
            # A read-only install keeps the catalogues compiled when it was installed.
            app.logger.warning("Could not compile the catalogues in %s: %s", directory, error)
    for code in app.extensions["kiosk_packs"]:
        if code != "en" and not has_catalogue(app, code):
            app.logger.warning(
                "The content pack speaks %r but no message catalogue does: "
                "buttons and messages stay in English (see README, Languages).",
                code,
            )
    app.register_blueprint(bp)
    app.after_request(add_content_language)

    @app.context_processor
    @hooks.for_everyone("the languages and the locale, which is part of a kept screen's key")
    def inject_languages() -> dict[str, object]:
        return {
            "languages": languages,
            "current_locale": current_locale,
            "default_locale": default_locale,
            "language_here": _here,
        }


# Header lines pybabel rewrites on every run: dropped, so two people updating a catalogue
# in parallel do not conflict over dates and placeholders.
_CHURNING_HEADERS = (
    '"POT-Creation-Date: ',
    '"PO-Revision-Date: ',
    '"Report-Msgid-Bugs-To: ',
    '"Last-Translator: ',
    '"Language-Team: ',
)


def tidy_headers(directory: Path) -> None:
    for po in sorted(directory.glob("*/LC_MESSAGES/*.po")):
        lines = po.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if not line.startswith(_CHURNING_HEADERS)]
        if kept != lines:
            po.write_text("".join(kept), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    """`python -m kiosk.i18n [--tidy]`: compile the kiosk's catalogues (make does it after
    installing); --tidy first drops the header lines that churn (make translations)."""
    directory = TRANSLATIONS_DIR
    if "--tidy" in (sys.argv[1:] if argv is None else argv):
        tidy_headers(directory)
    for mo in compile_catalogues(directory):
        print(f"compiled {mo}")


if __name__ == "__main__":
    main()
