"""The `kiosk` command (and `python -m kiosk`): the app's commands, on the app the factory makes.

Above the app factory, which registers the commands (kiosk/cli.py) on every app it builds.
"""

import click
from flask.cli import FlaskGroup

from kiosk import create_app
from kiosk.cli import open_command, service_group
from kiosk.config import ConfigError, SecretKeyError
from kiosk.content import ContentError


def main() -> None:
    """Entry point of the `kiosk` console script."""
    group = FlaskGroup(create_app=create_app, help="Rescue Team Kiosk")
    # Found without building the app: `sudo kiosk service install` must not create the
    # instance folder and its secret key as root, and `kiosk open` touches no data.
    group.add_command(service_group)
    group.add_command(open_command)
    try:
        group.main(prog_name="kiosk")
    except ContentError as error:
        # An invalid content pack stops every command, with the file and key that are wrong.
        click.secho(f"UNSAFE: the content pack is invalid: {error}", err=True, fg="red")
        raise SystemExit(1) from None
    except SecretKeyError as error:
        # Never run with an empty or unreadable key: every form would fail.
        click.secho(f"UNSAFE: no usable secret key. {error}", err=True, fg="red")
        raise SystemExit(1) from None
    except ConfigError as error:
        click.secho(f"The configuration is invalid: {error}", err=True, fg="red")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
