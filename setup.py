"""The wheel's one build step that pyproject.toml cannot say: it carries the top-level
templates/ and static/ inside the package (as kiosk/templates, kiosk/static; kiosk/paths.py
finds them there) and its message catalogues compiled, since an installed kiosk may not be
able to write beside itself. Everything else is in pyproject.toml.
"""

import importlib.util
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
ASSETS = ("templates", "static")


def _compile_catalogues(directory: Path) -> None:
    # kiosk/catalogues.py needs only Babel: loaded by its path, not through the kiosk
    # package (whose __init__ imports Flask, which the build environment does not have).
    spec = importlib.util.spec_from_file_location("catalogues", HERE / "kiosk" / "catalogues.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.compile_catalogues(directory)


class BuildWithAssets(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return  # an editable install reads them from the checkout
        package = Path(self.build_lib) / "kiosk"
        for folder in ASSETS:
            target = package / folder
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(HERE / folder, target)
        _compile_catalogues(package / "translations")


setup(cmdclass={"build_py": BuildWithAssets})
