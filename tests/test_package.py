"""The built wheel serves: installed into a fresh virtualenv, away from the checkout, `kiosk
serve` answers every visitor screen, its static files and /healthz, and speaks Korean from the
catalogues compiled into the wheel, without writing a byte into its own package folder (which
may be read-only in site-packages).

Slow (a wheel built, a virtualenv made and its dependencies installed: about a minute), so it
runs with the `kiosk serve` tests on one worker.
"""

import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.served import Kiosk, free_port, request

pytestmark = [pytest.mark.tools, pytest.mark.xdist_group("tools")]

ROOT = Path(__file__).resolve().parents[1]
VISITOR_SCREENS = ["/", "/faq", "/involved", "/signup", "/pledge", "/learn", "/press", "/ask"]
HTMX = "/static/vendor/htmx-2.0.11/htmx-2.0.11.min.js"


def run(*command: object, **options) -> str:
    """Standard output and error of a command that must succeed."""
    done = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, check=False, **options
    )
    assert done.returncode == 0, f"{command}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def files_of(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A virtualenv with the wheel (and its dependencies) installed: its bin/ folder."""
    where = tmp_path_factory.mktemp("package")
    built = run(
        sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", where / "dist", ROOT
    )
    # setuptools' deprecations and notices (the license's form, ...) print on every install.
    assert "BuildBackendWarning" not in built and "Deprecat" not in built, built
    (wheel,) = (where / "dist").glob("kiosk-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for shipped in (
        "kiosk/templates/errors/error.html",
        "kiosk/templates/visitor/opener.html",
        "kiosk/static/css/kiosk.css",
        "kiosk/static/vendor/htmx-2.0.11/htmx-2.0.11.min.js",
        "kiosk/static/vendor/htmx-2.0.11/LICENSE",
        "kiosk/content/default/en.toml",
        "kiosk/content/default/ko.toml",
        "kiosk/migrations/alembic.ini",
        "kiosk/migrations/env.py",
        "kiosk/translations/ko/LC_MESSAGES/messages.mo",
        "kiosk/translations/ko/LC_MESSAGES/messages.mo.sha256",
    ):
        assert shipped in names, f"the wheel lacks {shipped}"
    versions = [name for name in names if name.startswith("kiosk/migrations/versions/")]
    assert len(versions) == len(list((ROOT / "kiosk" / "migrations" / "versions").glob("*.py")))
    venv = where / "venv"
    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel)
    return venv / "bin"


def test_the_installed_wheel_runs_from_site_packages_not_the_checkout(installed, tmp_path):
    answer = run(
        installed / "python",
        "-c",
        "import kiosk.paths as p; print(p.INSTALLED, p.TEMPLATES_DIR, p.default_instance())",
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "XDG_DATA_HOME": str(tmp_path / "data")},
    )
    installed_flag, templates, instance = answer.split("\n")[0].split()
    assert installed_flag == "True"
    assert "site-packages" in templates and not templates.startswith(str(ROOT) + "/kiosk")
    # Never site-packages, never wherever it was started from: the user's data folder.
    assert instance == str(tmp_path / "data" / "rescue-kiosk")


def test_the_installed_wheel_serves_every_visitor_screen(installed, tmp_path, figure):
    package = next((installed.parent / "lib").glob("python3*/site-packages/kiosk"))
    before = files_of(package)
    kiosk = Kiosk(
        tmp_path / "instance",
        free_port(),
        env={"PYTHONPATH": ""},
        executable=installed / "kiosk",
    )
    started = time.monotonic()
    kiosk.start()
    try:
        kiosk.wait_ready(timeout=60)
        figure(f"installed wheel: ready in {time.monotonic() - started:.1f} s")
        for path in VISITOR_SCREENS:
            status, headers, body = request(kiosk.port, "GET", path)
            assert status == 200, (path, body[-2000:])
            assert "<html" in body and "<h1" in body, path
            assert 'src="/static/vendor/htmx-2.0.11/htmx-2.0.11.min.js' in body, path
        # Korean from the catalogue compiled into the wheel, not only from the content pack.
        status, _, body = request(kiosk.port, "GET", "/ask", cookies="kiosk_lang=ko")
        assert status == 200 and "무엇이든 물어보세요" in body
        status, headers, body = request(kiosk.port, "GET", HTMX)
        assert status == 200 and headers["Content-Type"].startswith("text/javascript")
        assert len(body) > 40_000 and "htmx" in body
        status, _, body = request(kiosk.port, "GET", "/static/css/kiosk.css")
        assert status == 200 and "--" in body
        status, _, body = request(kiosk.port, "GET", "/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
    finally:
        kiosk.stop()
    log = kiosk.log.read_text()
    assert "Could not compile" not in log and "Traceback" not in log, log
    # Nothing written beside the code: a read-only site-packages serves the same.
    assert files_of(package) == before
