"""The kiosk's modules import each other without cycles and only downwards, counting the
imports inside functions (and under TYPE_CHECKING) too: an import tucked into a function to
dodge a cycle is still the cycle.

Layers, lowest first; a module imports modules of its own layer or lower ones:

- low: what every part stands on (paths, clock, parsing, emails, phones, config, the
  declared hooks and headers, the extensions, the models, the content pack, languages, the
  page cache)
- services: domain work, kiosk/services/
- web: what answers requests or commands (blueprints, rendering, error pages, the CLI)
- app: the app factory (kiosk/__init__.py) and the console entry point (kiosk/__main__.py)

Imports inside functions are allowed only from ALLOWED_IN_FUNCTIONS, each with its reason.
"""

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

KIOSK = Path(__file__).resolve().parent.parent / "kiosk"

LAYERS = {
    "low": {
        "kiosk.paths",
        "kiosk.url_rules",
        "kiosk.catalogues",
        "kiosk.clock",
        "kiosk.privacy",
        "kiosk.parsing",
        "kiosk.emails",
        "kiosk.phones",
        "kiosk.config",
        "kiosk.hooks",
        "kiosk.bounded",
        "kiosk.memory",
        "kiosk.sealed_text",
        "kiosk.write_queue",
        "kiosk.extensions",
        "kiosk.change_signal",
        "kiosk.wal_stamp",
        "kiosk.schema",
        "kiosk.models",
        "kiosk.page_cache",
        "kiosk.i18n",
        "kiosk.content",
    },
    "services": {"kiosk.services", "kiosk.services.*"},
    "web": {
        "kiosk.rendering",
        "kiosk.errors",
        "kiosk.security",
        "kiosk.proxies",
        "kiosk.fast_path",
        "kiosk.health",
        "kiosk.hub",
        "kiosk.visitor",
        "kiosk.volunteer",
        "kiosk.lead",
        "kiosk.lead.*",
        "kiosk.serving",
        "kiosk.cli",
    },
    "app": {"kiosk", "kiosk.__main__"},
}
ORDER = list(LAYERS)

# (importing module, imported module or package): why the import is inside a function.
ALLOWED_IN_FUNCTIONS = {
    ("kiosk", "kiosk"): "create_app loads the app's modules: `import kiosk.<module>` runs "
    "the package first and must not load the whole app (tests, `python -m kiosk.i18n`)",
    ("kiosk.services.network", "fcntl"): "Unix only: on other systems the call is skipped",
    ("kiosk.change_signal", "psycopg"): "PostgreSQL's driver: only a hub has it installed",
    ("kiosk.schema", "flask_migrate"): "Alembic (through Flask-Migrate) is a fifth of a "
    "start-up: loaded only when a migration runs (tests/test_schema.py)",
}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (a kiosk module, or any other's full name)
    line: int
    in_function: bool


def module_names(root: Path) -> dict[str, Path]:
    """Every module of the package at `root`, by dotted name (Alembic's migration scripts,
    loaded from their files, are not modules of it)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if "migrations" in parts:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def imports_in(name: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    in_function = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            in_function.update(id(inner) for inner in ast.walk(node) if inner is not node)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            # `from package import module` imports the module; `from module import name`
            # the module that holds the name.
            targets = [
                f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target not in modules and "." in target and target.startswith("kiosk."):
                target = target.rpartition(".")[0]
            if target != name:
                found.append(Import(name, target, node.lineno, id(node) in in_function))
    return found


def all_imports(root: Path) -> tuple[dict[str, Path], list[Import]]:
    modules = module_names(root)
    found = [i for name, path in modules.items() for i in imports_in(name, path, modules)]
    return modules, found


def layer_of(name: str) -> str | None:
    for layer, members in LAYERS.items():
        for member in members:
            if name == member or (member.endswith(".*") and name.startswith(member[:-1])):
                return layer
    return None


def cycles(modules: dict[str, Path], found: list[Import]) -> list[list[Import]]:
    """One cycle of imports through each group of modules that import each other."""
    graph: dict[str, dict[str, Import]] = {name: {} for name in modules}
    for i in found:
        if i.target in modules:
            graph[i.source].setdefault(i.target, i)
    # Tarjan's strongly connected components, iteratively.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(graph[target])))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(group)
    return [_a_cycle(graph, group) for group in groups]


def _a_cycle(graph: dict[str, dict[str, Import]], group: set[str]) -> list[Import]:
    """A path of imports from the group's first module back to itself, within the group."""
    start = min(group)
    paths = {start: []}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target, i in sorted(graph[node].items()):
            if target == start:
                return [*paths[node], i]
            if target in group and target not in paths:
                paths[target] = [*paths[node], i]
                queue.append(target)
    raise AssertionError(f"no cycle through {start}")


def shown(modules: dict[str, Path], name: str) -> Path:
    """A module's file, from the folder that holds the package."""
    return modules[name].relative_to(modules["kiosk"].parent.parent)


def describe(cycle: list[Import], modules: dict[str, Path]) -> str:
    steps = " -> ".join([cycle[0].source, *(i.target for i in cycle)])
    where = ", ".join(
        f"{shown(modules, i.source)}:{i.line}" + (" (in a function)" if i.in_function else "")
        for i in cycle
    )
    return f"{steps} ({where})"


def upward(found: list[Import], modules: dict[str, Path]) -> list[str]:
    problems = []
    for i in found:
        if i.target not in modules:
            continue
        source, target = layer_of(i.source), layer_of(i.target)
        if source and target and ORDER.index(target) > ORDER.index(source):
            problems.append(
                f"{i.source} ({source}) imports {i.target} ({target}): "
                f"{shown(modules, i.source)}:{i.line}"
            )
    return problems


def unexplained_function_imports(found: list[Import], modules: dict[str, Path]) -> list[str]:
    def allowed(i: Import) -> bool:
        return any(
            i.source == source and (i.target == target or i.target.startswith(target + "."))
            for source, target in ALLOWED_IN_FUNCTIONS
        )

    return [
        f"{shown(modules, i.source)}:{i.line} imports {i.target}"
        for i in found
        if i.in_function and not allowed(i)
    ]


# ---- The kiosk itself ------------------------------------------------------------------------


def test_the_kiosk_has_no_import_cycle_not_even_through_a_function():
    modules, found = all_imports(KIOSK)
    found_cycles = [describe(cycle, modules) for cycle in cycles(modules, found)]
    assert found_cycles == [], "Import cycles:\n" + "\n".join(found_cycles)


def test_every_kiosk_module_has_a_layer():
    modules, _found = all_imports(KIOSK)
    assert [name for name in modules if layer_of(name) is None] == []


def test_the_kiosk_imports_only_downwards():
    modules, found = all_imports(KIOSK)
    problems = upward(found, modules)
    assert problems == [], "Imports from a higher layer:\n" + "\n".join(problems)


def test_the_kiosk_imports_inside_functions_only_where_it_says_why():
    modules, found = all_imports(KIOSK)
    problems = unexplained_function_imports(found, modules)
    assert problems == [], "Imports inside functions, not in ALLOWED_IN_FUNCTIONS:\n" + (
        "\n".join(problems)
    )


# ---- The checks can fail ---------------------------------------------------------------------


@pytest.fixture
def package(tmp_path):
    """A throwaway package named kiosk: the checks above, on files written by each test."""
    root = tmp_path / "kiosk"
    (root / "services").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "services" / "__init__.py").write_text("")

    def write(files: dict[str, str]) -> tuple[dict[str, Path], list[Import]]:
        for name, text in files.items():
            (root / name).write_text(text)
        return all_imports(root)

    return write


def test_a_cycle_through_a_function_level_relative_import_is_found_and_named(package):
    modules, found = package(
        {
            "models.py": "def f():\n    from .services import records\n",
            "services/records.py": "from .. import models\n",
        }
    )
    [cycle] = cycles(modules, found)
    assert describe(cycle, modules).startswith(
        "kiosk.models -> kiosk.services.records -> kiosk.models (kiosk/models.py:2 (in a function)"
    )


def test_an_import_from_a_higher_layer_is_found(package):
    modules, found = package(
        {"content.py": "from kiosk.services import records\n", "services/records.py": ""}
    )
    assert upward(found, modules) == [
        "kiosk.content (low) imports kiosk.services.records (services): kiosk/content.py:1"
    ]


def test_an_import_in_a_function_outside_the_allow_list_is_found(package):
    modules, found = package({"clock.py": "def now():\n    import time\n    return time\n"})
    assert unexplained_function_imports(found, modules) == ["kiosk/clock.py:2 imports time"]


def test_every_type_ignore_in_the_kiosk_says_why():
    """mypy checks kiosk/ at 0 errors; an ignore is allowed only with its reason beside it."""
    bare = [
        f"{path.relative_to(KIOSK.parent)}:{number}"
        for path in sorted(KIOSK.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"# type: ignore(\[[\w,-]+\])?\s*$", line)
    ]
    assert bare == [], "a `# type: ignore` without a reason after it: " + ", ".join(bare)
