"""Figures, their targets, ratios to the floor, and the table printed and written."""

import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).with_name("results.md")
# Hand-written notes (profiles, before/after of fixes) kept below the generated table.
FINDINGS = Path(__file__).with_name("findings.md")


@dataclass(frozen=True)
class Target:
    """`value <op> limit`, e.g. Target("<", 50, "ms"); `of_floor` compares the floor ratio."""

    op: str
    limit: float
    unit: str = ""
    of_floor: bool = False
    # What the floor column holds: the bare floor, or (the growth scenario) "empty event".
    versus: str = "floor"

    def met(self, value: float) -> bool:
        return {"<": value < self.limit, "<=": value <= self.limit, ">=": value >= self.limit}[
            self.op
        ]

    def __str__(self) -> str:
        if self.of_floor:
            return f"{self.op} {self.limit:g}× {self.versus}"
        return f"{self.op} {self.limit:g} {self.unit}".rstrip()


@dataclass(frozen=True)
class Figure:
    """One measured figure; `floor` is the bare floor's, `own` the floor of its own limit
    (the page-bytes floor for a read, the durable-write floor for a tap), same run."""

    name: str
    value: float | None
    unit: str
    floor: float | None = None
    target: Target | None = None
    note: str = ""
    own: float | None = None
    own_name: str = ""

    @property
    def ratio(self) -> float | None:
        return ratio(self.value, self.floor)

    @property
    def own_ratio(self) -> float | None:
        return ratio(self.value, self.own)

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        measured = self.ratio if self.target.of_floor else self.value
        if measured is None:
            return "not measured"
        return "met" if self.target.met(measured) else "MISSED"


def ratio(value: float | None, floor: float | None) -> float | None:
    """value / floor, or None when either is missing or the floor is zero."""
    if value is None or not floor:
        return None
    return value / floor


def number(value: float | None, unit: str = "") -> str:
    """A figure for the table: 3 significant digits, thousands separated."""
    if value is None:
        return "n/a"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}" if value else "0"
    return f"{text} {unit}".rstrip()


HEADER = ["Figure", "Kiosk", "Floor", "× floor", "Own floor", "× own", "Target", "Result", "Note"]


def rows(figures: list[Figure]) -> list[list[str]]:
    return [
        [
            f.name,
            number(f.value, f.unit),
            number(f.floor, f.unit) if f.floor is not None else "",
            f"{f.ratio:.2f}×" if f.ratio is not None else "",
            f"{f.own_name} {number(f.own, f.unit)}" if f.own is not None else "",
            f"{f.own_ratio:.2f}×" if f.own_ratio is not None else "",
            str(f.target) if f.target else "",
            f.verdict,
            f.note,
        ]
        for f in figures
    ]


def text_table(figures: list[Figure]) -> str:
    table = [HEADER, *rows(figures)]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def markdown_table(figures: list[Figure]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    return "\n".join([line(HEADER), line(["---"] * len(HEADER)), *map(line, rows(figures))])


def first_line(path: str, prefix: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip() if ":" in line else line
    except OSError:
        pass
    return "unknown"


def tool_version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError:
        return "not installed"
    return (done.stdout or done.stderr).splitlines()[0].strip() if done.stdout + done.stderr else ""


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    from importlib.metadata import version

    memory_kb = int(first_line("/proc/meminfo", "MemTotal").split()[0] or 0)
    os_name = first_line("/etc/os-release", "PRETTY_NAME=").split("=", 1)[-1].strip('"')
    return {
        "Date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "CPU": first_line("/proc/cpuinfo", "model name"),
        "Cores": str(os.cpu_count()),
        "Memory": f"{memory_kb / 1024 / 1024:.1f} GiB",
        "Python": platform.python_version(),
        "OS": f"{os_name}, Linux {platform.release()}",
        "Load tool": tool_version(["wrk", "--version"]).split(" Copyright")[0],
        "Server": f"waitress {version('waitress')}, Flask {version('flask')}",
    }


@dataclass(frozen=True)
class Goal:
    """One row of the issue's targets table: what is promised, what was measured, met or not."""

    figure: str
    target: str
    measured: str
    met: bool | None

    @property
    def verdict(self) -> str:
        return "not measured" if self.met is None else ("met" if self.met else "MISSED")


def goals_table(goals: list[Goal]) -> str:
    lines = ["| figure | target | measured | result |", "| --- | --- | --- | --- |"]
    lines += [f"| {g.figure} | {g.target} | {g.measured} | {g.verdict} |" for g in goals]
    return "\n".join(lines)


def markdown(
    figures: list[Figure],
    about: dict[str, str],
    settings: str,
    profile: str,
    goals: list[Goal] | None = None,
) -> str:
    facts = "\n".join(f"- **{key}:** {value}" for key, value in about.items())
    findings = FINDINGS.read_text() if FINDINGS.exists() else ""
    if profile:
        profile = f"## Profile of this run's mixed load (8 tablets)\n\n{profile}\n\n"
    summary = ""
    if goals:
        summary = f"## Targets (issues 15 and 21)\n\n{goals_table(goals)}\n\n## Every figure\n\n"
    return (
        "# Benchmark results\n\n"
        "Written by `make bench` (bench/run.py): the tables and the profile are regenerated on\n"
        "every run; the findings under them come from bench/findings.md.\n\n"
        f"{facts}\n- **Run:** {settings}\n\n{summary}{markdown_table(figures)}\n\n"
        f"{profile}{findings}"
    )


def splice(
    key: str, title: str, figures: list[Figure], goals: list[Goal], settings: str, notes: str = ""
) -> None:
    """Put a scenario run on its own (bench/hub.py, bench/sync_scale.py) into results.md, in
    a marked section above the findings that replaces the scenario's previous one. A whole
    `make bench` writes the file afresh, with the scenario in its tables."""
    start, end = f"<!-- {key} -->", f"<!-- /{key} -->"
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = (
        f"{start}\n## {title}\n\n- **Date:** {when}\n- **Run:** {settings}\n\n"
        f"{goals_table(goals)}\n\n{markdown_table(figures)}\n\n"
        f"{notes.strip() + chr(10) + chr(10) if notes.strip() else ''}{end}\n"
    )
    text = RESULTS.read_text() if RESULTS.exists() else ""
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block.rstrip("\n") + rest.split(end, 1)[1]
    elif "## Reading these figures" in text:
        before, after = text.split("## Reading these figures", 1)
        text = f"{before}{block}\n## Reading these figures{after}"
    else:
        text = f"{text.rstrip()}\n\n{block}"
    RESULTS.write_text(text)
