"""Where the kiosk finds the files it ships, and where it keeps its data by default.

In a checkout (`make run`, an editable install) templates/ and static/ are top-level folders
beside kiosk/, as the house layout has them. The wheel carries them inside the package, as
kiosk/templates and kiosk/static (setup.py copies them in when it builds), so an installed
kiosk needs nothing outside site-packages. Whichever is there is the one used.
"""

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
MIGRATIONS_DIR = PACKAGE_DIR / "migrations"
TRANSLATIONS_DIR = PACKAGE_DIR / "translations"
# Only a built wheel has the templates inside the package.
INSTALLED = (PACKAGE_DIR / "templates").is_dir()
_ASSETS_ROOT = PACKAGE_DIR if INSTALLED else PACKAGE_DIR.parent
TEMPLATES_DIR = _ASSETS_ROOT / "templates"
STATIC_DIR = _ASSETS_ROOT / "static"


def default_instance() -> Path:
    """The instance folder when KIOSK_INSTANCE is not set.

    A checkout keeps it beside the code (`instance/`, git-ignored). An installed kiosk must
    not write into site-packages, nor depend on the folder it was started from (a PIN set
    from one folder would open nothing in another): it uses the user's data folder.
    """
    if not INSTALLED:
        return PACKAGE_DIR.parent / "instance"
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "rescue-kiosk"


def instance_folder() -> Path:
    """The instance folder this process uses: KIOSK_INSTANCE, else the default."""
    return Path(os.environ.get("KIOSK_INSTANCE") or default_instance()).resolve()
