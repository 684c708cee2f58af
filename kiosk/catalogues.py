"""Compile the message catalogues (.po to .mo), with nothing but Babel and the standard library.

Kept apart from kiosk/i18n.py (which needs Flask) because the wheel's build runs it too
(setup.py): an installed kiosk may live in a read-only site-packages, so its catalogues are
compiled when the wheel is built, and the start-up finds them current.
"""

import hashlib
import os
import tempfile
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po


def compile_catalogues(directory: Path) -> list[Path]:
    """Compile each `<code>/LC_MESSAGES/*.po` whose .mo is missing or made from other text.

    A sha256 of the .po kept beside the .mo says which text it was made from: a Pi without
    a clock battery cannot trust file times. The .mo is written to a temporary file and
    renamed, so several server processes starting at once never read half a catalogue.
    Returns the catalogues compiled.
    """
    compiled = []
    for po in sorted(directory.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        stamp = po.with_suffix(".mo.sha256")
        digest = hashlib.sha256(po.read_bytes()).hexdigest()
        if mo.exists() and stamp.exists() and stamp.read_text().strip() == digest:
            continue
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=po.parent.parent.name)
        buffer = BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)
        _replace(mo, buffer.getvalue())
        _replace(stamp, (digest + "\n").encode())
        compiled.append(mo)
    return compiled


def _replace(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
