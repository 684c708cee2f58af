"""Where the kiosk's time goes under load: py-spy samples the server, we sum the stacks.

py-spy's raw format is one line per distinct stack, "frame;frame;frame count", each frame
"function (path:line)". The summary adds each function's samples where it is on the stack
(inclusive) and where it is the innermost frame (self), as shares of all samples.
"""

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

FRAME = re.compile(r"^(?P<function>.*?) \((?P<path>.*?)(?::\d+)?\)$")
SAMPLE_RATE = 100


@dataclass(frozen=True)
class Profile:
    samples: int
    inclusive: Counter[str]
    self_time: Counter[str]

    def top(self, counter: Counter[str], count: int, where: str = "") -> list[tuple[float, str]]:
        """The `count` largest shares (in %) of functions whose name contains `where`."""
        picked = [(n, name) for name, n in counter.most_common() if where in name][:count]
        return [(100 * n / self.samples, name) for n, name in picked]


def frame_name(frame: str) -> str:
    """`function (package/module.py)`: the path shortened to after site-packages or the repo."""
    match = FRAME.match(frame)
    if match is None:
        return frame
    path = re.sub(r".*/site-packages/", "", match["path"])
    path = re.sub(r".*/(kiosk|templates)/", r"\1/", path)
    return f"{match['function']} ({path})"


def parse_raw(text: str) -> Profile:
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    samples = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        names = [frame_name(frame) for frame in stack.split(";")]
        samples += int(count)
        self_time[names[-1]] += int(count)
        for name in set(names):
            inclusive[name] += int(count)
    return Profile(samples, inclusive, self_time)


def py_spy() -> str | None:
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def start_recording(pid: int, seconds: int, out: Path) -> subprocess.Popen | None:
    """Sample process `pid` for `seconds` into `out`; None when py-spy is not installed."""
    command = py_spy()
    if command is None:
        return None
    return subprocess.Popen(
        [command, "record", "--pid", str(pid), "--duration", str(seconds), "--rate",
         str(SAMPLE_RATE), "--nonblocking", "--format", "raw", "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def markdown(profile: Profile, count: int = 25) -> str:
    """The kiosk's own functions by inclusive share, then the top functions by self share."""
    lines = [f"{profile.samples:,} samples of the server's threads (py-spy, {SAMPLE_RATE} Hz).", ""]
    lines += ["| inclusive | kiosk function or template |", "| ---: | --- |"]
    for share, name in profile.top(profile.inclusive, count, where="kiosk/"):
        lines.append(f"| {share:.1f}% | {name} |")
    for share, name in profile.top(profile.inclusive, count // 2, where=".html"):
        lines.append(f"| {share:.1f}% | {name} |")
    lines += ["", "| self | innermost function |", "| ---: | --- |"]
    for share, name in profile.top(profile.self_time, 15):
        lines.append(f"| {share:.1f}% | {name} |")
    return "\n".join(lines)
