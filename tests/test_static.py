"""The static assets: a stylesheet that parses, and nothing fetched from the internet."""

import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[1] / "static"
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def test_the_stylesheet_opens_and_closes_every_block():
    css = re.sub(r"/\*.*?\*/", "", (STATIC / "css" / "kiosk.css").read_text(), flags=re.S)
    depth = 0
    for line_number, line in enumerate(css.splitlines(), 1):
        depth += line.count("{") - line.count("}")
        assert depth >= 0, f"a '}}' without its '{{' by line {line_number}"
    assert depth == 0, "a block is left open: rules after it apply only inside it"


def test_no_template_or_asset_loads_anything_from_the_internet():
    pattern = re.compile(r"""(src|href|action)\s*=\s*["']?(https?:)?//""", re.I)
    offenders = [
        str(path)
        for folder in (TEMPLATES, STATIC / "css", STATIC / "js")
        for path in folder.rglob("*")
        if path.is_file() and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
