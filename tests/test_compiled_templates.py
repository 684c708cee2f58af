"""A kiosk keeps its compiled templates in its instance folder: after a restart (a Pi after a
power cut) its first screens render from them instead of compiling every template again."""

from pathlib import Path

import pytest
from jinja2 import FileSystemBytecodeCache

from kiosk import create_app, rendering


def test_rendered_templates_are_kept_compiled_in_the_instance_folder(
    app, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The suite shares one in-memory cache between its apps (tests/conftest.py): not here.
    monkeypatch.setattr(rendering, "FileSystemBytecodeCache", FileSystemBytecodeCache)
    kiosk = create_app(dict(app.config))
    cache = Path(kiosk.instance_path) / "cache" / "jinja"
    assert kiosk.test_client().get("/faq").status_code == 200
    kept = {path.name: path.stat().st_size for path in cache.iterdir()}
    assert len(kept) >= 2, "the screen and the layout it extends"

    restarted = create_app(dict(app.config))
    compiled: list[str] = []
    real_compile = restarted.jinja_env.compile

    def counting_compile(source, name=None, filename=None, raw=False, defer_init=False):
        compiled.append(name)
        return real_compile(source, name, filename, raw, defer_init)

    restarted.jinja_env.compile = counting_compile
    assert restarted.test_client().get("/faq").status_code == 200
    assert compiled == [], "every template came compiled from the instance folder"
    assert {path.name: path.stat().st_size for path in cache.iterdir()} == kept
