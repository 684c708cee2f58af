"""The kiosk as an appliance: `kiosk service install` writes a systemd unit that systemd accepts
and that serves the kiosk as it says; `kiosk open` starts Chromium in kiosk mode on it."""

import configparser
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kiosk import cli
from kiosk.services import appliance
from tests.served import free_port, request

KIOSK = Path(sys.executable).parent / "kiosk"


def install(*args: str, env: dict[str, str] | None = None):
    runner = CliRunner()
    return runner.invoke(cli.service_group, ["install", *args], env=env, catch_exceptions=False)


def written_unit(tmp_path: Path, instance: Path, *args: str) -> str:
    result = install("--print", "--user", "kiosk", *args, env={"KIOSK_INSTANCE": str(instance)})
    assert result.exit_code == 0, result.output
    return result.output


def test_the_unit_passes_systemd_analyze_verify_even_with_an_awkward_instance_path(tmp_path):
    instance = tmp_path / "our kiosk 100%"
    unit = tmp_path / appliance.UNIT_NAME
    unit.write_text(written_unit(tmp_path, instance, "--host", "0.0.0.0", "--port", "8144"))
    verified = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True
    )
    # verify exits 0 on unknown keys too: it must also have nothing to say.
    assert (verified.returncode, verified.stdout, verified.stderr) == (0, "", "")


def test_the_unit_restarts_the_kiosk_after_the_network_with_the_instance_the_one_writable_path(
    tmp_path,
):
    instance = tmp_path / "instance"
    unit = written_unit(tmp_path, instance, "--port", "8144")
    lines = unit.splitlines()
    for line in (
        "After=network-online.target",
        "Wants=network-online.target",
        "Restart=on-failure",
        "User=kiosk",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        f"ReadWritePaths={instance}",
        f"Environment=KIOSK_INSTANCE={instance}",
        "WantedBy=multi-user.target",
        "CapabilityBoundingSet=",
    ):
        assert line in lines, line
    assert [line for line in lines if line.startswith("ReadWritePaths=")] == [
        f"ReadWritePaths={instance}"
    ]
    assert f"ExecStart={KIOSK} serve --host 127.0.0.1 --port 8144" in lines


def test_a_port_below_1024_gets_only_the_capability_to_bind_it(tmp_path):
    lines = written_unit(tmp_path, tmp_path / "i", "--port", "80").splitlines()
    assert "AmbientCapabilities=CAP_NET_BIND_SERVICE" in lines
    assert "CapabilityBoundingSet=CAP_NET_BIND_SERVICE" in lines


def test_the_unit_carries_the_kiosks_settings_but_never_its_secrets(tmp_path):
    env = {
        "KIOSK_INSTANCE": str(tmp_path / "i"),
        "KIOSK_LOCALE": "ko",
        "KIOSK_DATABASE_URL": "postgresql+psycopg://kiosk:hunter2@db/kiosk",
        "KIOSK_SECRET_KEY": "s3cret-key-value",
    }
    output = tmp_path / "unit.service"
    result = install("--user", "kiosk", "--output", str(output), env=env)
    assert result.exit_code == 0, result.output
    unit = output.read_text()
    assert "Environment=KIOSK_LOCALE=ko" in unit.splitlines()
    assert "hunter2" not in unit and "s3cret" not in unit
    assert f"EnvironmentFile=-{appliance.SECRETS_FILE}" in unit.splitlines()
    assert "KIOSK_DATABASE_URL is not written into the unit" in result.output
    assert "sudo systemctl daemon-reload" in result.output


def test_install_without_root_refuses_and_says_the_command_to_run(tmp_path, monkeypatch):
    monkeypatch.setattr(appliance, "is_root", lambda: False)
    monkeypatch.setattr(appliance, "UNIT_PATH", tmp_path / "etc" / appliance.UNIT_NAME)
    instance = tmp_path / "my instance"
    result = CliRunner().invoke(
        cli.service_group,
        ["install", "--user", "pi", "--port", "8144"],
        env={"KIOSK_INSTANCE": str(instance), "KIOSK_CONTENT": "/home/pi/pack"},
    )
    assert result.exit_code != 0
    assert "needs root" in result.output
    suggested = result.output.split("sudo ", 1)[1].splitlines()[0]
    assert shlex.split(suggested) == [
        f"KIOSK_INSTANCE={instance}",
        "KIOSK_CONTENT=/home/pi/pack",
        str(KIOSK),
        "service",
        "install",
        "--user",
        "pi",
        "--host",
        "127.0.0.1",
        "--port",
        "8144",
    ]
    assert not appliance.UNIT_PATH.exists() and not instance.exists()


def test_install_as_root_writes_the_unit_and_the_instance_folder_for_its_user(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(appliance, "is_root", lambda: True)
    monkeypatch.setattr(appliance, "UNIT_PATH", tmp_path / "etc" / appliance.UNIT_NAME)
    appliance.UNIT_PATH.parent.mkdir()
    owners = []
    monkeypatch.setattr(appliance.os, "chown", lambda path, uid, gid: owners.append((path, uid)))
    instance = tmp_path / "instance"
    result = install("--user", "nobody", env={"KIOSK_INSTANCE": str(instance)})
    assert result.exit_code == 0, result.output
    assert "Environment=KIOSK_INSTANCE=" + str(instance) in appliance.UNIT_PATH.read_text()
    assert oct(appliance.UNIT_PATH.stat().st_mode & 0o777) == "0o644"
    assert instance.is_dir() and owners == [(instance, 65534)]
    assert result.output.splitlines()[-2:] == [
        "  sudo systemctl daemon-reload",
        "  sudo systemctl enable --now rescue-kiosk",
    ]


def test_install_refuses_root_as_the_kiosks_user_and_both_outputs_at_once(tmp_path):
    result = CliRunner().invoke(cli.service_group, ["install", "--user", "root", "--print"])
    assert result.exit_code != 0 and "should not serve as root" in result.output
    both = ["install", "--user", "pi", "--print", "--output", str(tmp_path / "u")]
    result = CliRunner().invoke(cli.service_group, both)
    assert result.exit_code != 0 and "not both" in result.output


@pytest.mark.crash
@pytest.mark.xdist_group("kiosk_serve")
def test_the_kiosk_started_as_the_unit_says_answers_healthz(tmp_path):
    port = free_port()
    output = tmp_path / appliance.UNIT_NAME
    instance = tmp_path / "instance"
    result = install(
        "--user",
        "kiosk",
        "--port",
        str(port),
        "--output",
        str(output),
        env={"KIOSK_INSTANCE": str(instance)},
    )
    assert result.exit_code == 0, result.output
    command, environment = appliance.unit_command(output.read_text())
    assert command[0] == str(KIOSK) and environment == {"KIOSK_INSTANCE": str(instance)}
    base = {name: value for name, value in os.environ.items() if not name.startswith("KIOSK_")}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=base | environment, stdout=out, stderr=out)
    try:
        assert appliance.wait_until_serving(port, 60), log.read_text()
        status, _, body = request(port, "GET", "/healthz")
        assert status == 200 and '"status":"ok"' in body.replace(" ", "")
        assert (instance / "kiosk.db").exists(), "it serves the instance the unit names"
    finally:
        process.terminate()
        process.wait(timeout=20)


# ---- kiosk open -----------------------------------------------------------------------------


def fake_chromium(tmp_path: Path) -> Path:
    """A `chromium` on PATH that writes down how it was started."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "chromium"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path / "args"}\n')
    script.chmod(0o755)
    return folder


def test_open_prints_chromium_in_kiosk_mode_on_this_machines_own_address():
    result = CliRunner().invoke(cli.open_command, ["--print", "--port", "8144"])
    assert result.exit_code == 0, result.output
    words = shlex.split(result.output.splitlines()[0])
    assert Path(words[0]).name in appliance.CHROMIUM_NAMES
    for flag in ("--kiosk", "--incognito", "--no-first-run"):
        assert flag in words
    assert words[-1] == "http://127.0.0.1:8144/"


def test_open_starts_chromium_and_says_when_the_kiosk_does_not_answer(tmp_path):
    env = {"PATH": f"{fake_chromium(tmp_path)}:/usr/bin:/bin"}
    port = free_port()
    result = CliRunner().invoke(cli.open_command, ["--port", str(port), "--wait", "0"], env=env)
    assert result.exit_code == 0, result.output
    assert "does not answer" in result.output
    args = (tmp_path / "args").read_text().splitlines()
    assert args[0] == "--kiosk" and args[-1] == f"http://127.0.0.1:{port}/"


def test_open_without_chromium_says_how_to_install_it(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(cli.open_command, [], env={"PATH": str(empty)})
    assert result.exit_code == 1
    assert "Chromium is not installed" in result.output and "apt install chromium" in result.output


def test_open_autostart_writes_a_desktop_entry_that_runs_kiosk_open(tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    result = CliRunner().invoke(cli.open_command, ["--autostart", "--port", "8144"], env=env)
    assert result.exit_code == 0, result.output
    path = tmp_path / "config" / "autostart" / "rescue-kiosk.desktop"
    assert str(path) in result.output
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read_string(path.read_text())
    desktop = entry["Desktop Entry"]
    assert desktop["Type"] == "Application"
    assert shlex.split(desktop["Exec"]) == [str(KIOSK), "open", "--port", "8144"]


def test_a_desktop_entry_quotes_an_awkward_program_path():
    entry = appliance.desktop_entry(Path('/opt/my kiosk/"100%"/bin/kiosk'), 8000)
    (exec_line,) = [line for line in entry.splitlines() if line.startswith("Exec=")]
    assert exec_line == r'Exec="/opt/my kiosk/\\"100%%\\"/bin/kiosk" open --port 8000'
