"""The kiosk as an appliance: a systemd unit that serves it from boot and after any crash, and
Debian's Chromium in kiosk mode on the machine's own screen, opened at login.

Plain functions that build text and commands; `kiosk service install` and `kiosk open`
(kiosk/cli.py) write and run what they return, and the tests read it.
"""

import getpass
import http.client
import os
import pwd
import re
import shlex
import shutil
import sys
import time
from pathlib import Path

from kiosk import paths

UNIT_NAME = "rescue-kiosk.service"
UNIT_PATH = Path("/etc/systemd/system") / UNIT_NAME
# A hub's secrets (KIOSK_DATABASE_URL, KIOSK_SECRET_KEY) go here, readable by root only: a
# unit file in /etc/systemd/system is readable by every user.
SECRETS_FILE = Path("/etc/rescue-kiosk.env")
SECRET_VARIABLES = ("KIOSK_DATABASE_URL", "KIOSK_SECRET_KEY")
# The settings a unit carries over from the environment it was written in.
CARRIED_VARIABLES = (
    "KIOSK_CONTENT",
    "KIOSK_LOCALE",
    "KIOSK_IDLE_SECONDS",
    "KIOSK_VOLUNTEER_IDLE_SECONDS",
    "KIOSK_PUBLIC_URL",
    "KIOSK_TRUSTED_PROXIES",
)
AUTOSTART_NAME = "rescue-kiosk.desktop"
# Debian calls it chromium; Raspberry Pi OS also has chromium-browser.
CHROMIUM_NAMES = ("chromium", "chromium-browser")
PRIVILEGED_PORTS = 1024


class ApplianceError(Exception):
    """Something the command cannot do, said so the person can fix it."""


def kiosk_executable() -> Path:
    """This install's `kiosk` script, by its absolute path (a virtualenv's or pipx's bin/).

    Not resolved: a virtualenv's python is a link to the system's, whose folder has no kiosk.
    """
    return Path(os.path.abspath(sys.executable)).parent / "kiosk"


def is_root() -> bool:
    return os.geteuid() == 0


def default_user() -> str:
    """Who the kiosk serves as: the person behind sudo, else whoever runs this."""

    return os.environ.get("SUDO_USER") or getpass.getuser()


def carried_environment(environ: os._Environ[str] | dict[str, str]) -> dict[str, str]:
    """The kiosk's settings set here that the unit repeats (never a secret)."""
    return {name: environ[name] for name in CARRIED_VARIABLES if environ.get(name)}


def _unit_value(value: str) -> str:
    """One word of a unit file line, quoted as systemd reads it (specifiers are `%`)."""
    if "\n" in value or "\r" in value:
        raise ApplianceError(f"a line break cannot go into a unit file: {value!r}")
    escaped = value.replace("%", "%%")
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", escaped):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _exec_word(value: str) -> str:
    # ExecStart= also expands $NAME: a literal dollar is written twice.
    return _unit_value(value.replace("$", "$$"))


def unit_text(
    *,
    user: str,
    host: str,
    port: int,
    instance: Path,
    executable: Path,
    environment: dict[str, str] | None = None,
) -> str:
    """The systemd unit that serves this kiosk: restarted when it stops, after the network,
    sandboxed so that the instance folder is the one place it can write."""
    if not executable.is_absolute() or not instance.is_absolute():
        raise ApplianceError("the kiosk's program and instance folder need absolute paths")
    command = " ".join(
        _exec_word(word) for word in (str(executable), "serve", "--host", host, "--port", str(port))
    )
    variables = {"KIOSK_INSTANCE": str(instance)} | dict(environment or {})
    lines = [
        "# Written by `kiosk service install`. Install it again rather than editing it.",
        "[Unit]",
        "Description=Rescue Team Kiosk",
        # Tablets reach it over the network; it also serves 127.0.0.1 before any network.
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        f"User={_unit_value(user)}",
        *(f"Environment={_unit_value(f'{name}={value}')}" for name, value in variables.items()),
        f"EnvironmentFile=-{SECRETS_FILE}",
        f"ExecStart={command}",
        # A crash, a kill by the OOM killer, a database that was not ready: start again.
        "Restart=on-failure",
        "RestartSec=3",
        # Give waitress time to finish the requests it is answering (a sign-up being stored).
        "TimeoutStopSec=20",
        # Sandbox: the whole file system read-only except the instance folder (database,
        # secret key, backups), a private /tmp, no way to gain privileges.
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=read-only",
        f"ReadWritePaths={_unit_value(str(instance))}",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "ProtectProc=invisible",
        "RestrictSUIDSGID=yes",
        "RestrictRealtime=yes",
        "RestrictNamespaces=yes",
        "LockPersonality=yes",
        # AF_NETLINK: the start-up lists this machine's addresses for the tablets.
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "UMask=0077",
        # Not MemoryDenyWriteExecute: libffi (ctypes, cffi) may need writable code pages.
    ]
    if port < PRIVILEGED_PORTS:
        lines += [
            "AmbientCapabilities=CAP_NET_BIND_SERVICE",
            "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        ]
    else:
        lines.append("CapabilityBoundingSet=")
    lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


def unit_command(unit: str) -> tuple[list[str], dict[str, str]]:
    """ExecStart's words and Environment's variables of a unit this module wrote: the tests
    start the kiosk the way systemd would."""

    environment: dict[str, str] = {}
    command: list[str] = []
    for line in unit.splitlines():
        key, _, value = line.partition("=")
        if key == "Environment":
            name, _, setting = shlex.split(value.replace("%%", "%"))[0].partition("=")
            environment[name] = setting
        elif key == "ExecStart":
            command = shlex.split(value.replace("%%", "%").replace("$$", "$"))
    return command, environment


def prepare_instance(instance: Path, user: str) -> str | None:
    """Make the instance folder the unit names, owned by its user; what to fix, if anything.

    systemd refuses to start a unit whose ReadWritePaths= folder is missing, and a folder
    made by root here would be one the kiosk cannot write.
    """

    try:
        account = pwd.getpwnam(user)
    except KeyError:
        raise ApplianceError(f"there is no user {user!r} on this machine (--user)") from None
    if not instance.exists():
        instance.mkdir(parents=True, mode=0o700)
        os.chown(instance, account.pw_uid, account.pw_gid)
        return None
    if instance.stat().st_uid != account.pw_uid:
        return (
            f"{instance} belongs to another user than {user}: "
            f"`sudo chown -R {user}: {instance}` before starting the service."
        )
    return None


# ---- Chromium on the machine's own screen --------------------------------------------------


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def local_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/"


def chromium_command(browser: str, port: int) -> list[str]:
    """Chromium full-screen on the kiosk, forgetting each session, with nothing to click
    away: no first-run pages, no error or restore bubbles, no translate bar, no swipe back."""
    return [
        browser,
        "--kiosk",
        "--incognito",
        "--no-first-run",
        "--noerrdialogs",
        "--disable-session-crashed-bubble",
        "--disable-infobars",
        "--disable-pinch",
        "--overscroll-history-navigation=0",
        "--disable-features=Translate,BackForwardCache",
        "--check-for-update-interval=31536000",
        local_url(port),
    ]


def wait_until_serving(port: int, timeout: float) -> bool:
    """Whether the kiosk answers on this machine within `timeout` seconds (at boot the
    desktop may come up before the service has started)."""
    deadline = time.monotonic() + timeout
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            return True  # any answer: a 503 page says "tell a volunteer", which helps more
        except (OSError, http.client.HTTPException):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.5)
        finally:
            connection.close()


def autostart_path() -> Path:
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "autostart" / AUTOSTART_NAME


def _desktop_word(value: str) -> str:
    # The Desktop Entry spec: reserved characters need double quotes; inside them ", `, $
    # and \ take a backslash, and the file format doubles every backslash again.
    if "\n" in value:
        raise ApplianceError(f"a line break cannot go into a desktop entry: {value!r}")
    escaped = value.replace("%", "%%")
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", escaped):
        return escaped
    quoted = re.sub(r'(["`$\\])', r"\\\1", escaped)
    return '"' + quoted.replace("\\", "\\\\") + '"'


def desktop_entry(executable: Path, port: int) -> str:
    """An XDG autostart entry: at login the desktop runs `kiosk open`, which waits for the
    kiosk to answer and then starts Chromium on it."""
    words = (str(executable), "open", "--port", str(port))
    command = " ".join(_desktop_word(word) for word in words)
    return "\n".join(
        [
            "[Desktop Entry]",
            "Type=Application",
            "Name=Rescue Team Kiosk",
            "Comment=Opens the kiosk full-screen at login (written by `kiosk open --autostart`)",
            f"Exec={command}",
            "Terminal=false",
            "X-GNOME-Autostart-enabled=true",
            "",
        ]
    )


def instance_for(user: str) -> Path:
    """The instance folder a unit for `user` serves: KIOSK_INSTANCE, else the default one.

    Under sudo an installed kiosk's default would be root's data folder, which the user
    cannot reach: it is the user's own instead.
    """

    if os.environ.get("KIOSK_INSTANCE") or not paths.INSTALLED or user == getpass.getuser():
        return paths.instance_folder()
    try:
        home = Path(pwd.getpwnam(user).pw_dir)
    except KeyError:
        raise ApplianceError(f"there is no user {user!r} on this machine (--user)") from None
    return home / ".local" / "share" / "rescue-kiosk"


def install_command(
    user: str, host: str, port: int, instance: Path, environment: dict[str, str]
) -> str:
    """`kiosk service install` again, with what sudo would otherwise drop spelled out."""

    settings = {"KIOSK_INSTANCE": str(instance)} | environment
    words = [f"{name}={value}" for name, value in settings.items()]
    words += [str(kiosk_executable()), "service", "install"]
    words += ["--user", user, "--host", host, "--port", str(port)]
    return shlex.join(words)
