"""The column type of personal fields: sealed on every write, opened on read only with a key.

How a value is sealed and opened is services/sealing.py's (the team's key lives in the
database, which the models below it must not import): it hands its two functions to `use`
when it is imported, which the app factory does before anything is written. A write before
then is refused, never stored in clear.
"""

from collections.abc import Callable

from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

PREFIX = "nacl1:"  # how every sealed value begins (services/sealing.py)
_sealing: dict[str, Callable[[str], str]] = {}


def use(seal: Callable[[str], str], clear: Callable[[str], str]) -> None:
    """How personal fields are sealed before they are written and opened when read."""
    _sealing["seal"], _sealing["clear"] = seal, clear


class SealedText(TypeDecorator[str]):
    """A personal column: sealed on every write, opened on read only with the key in use."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: object) -> str | None:
        if value is None:
            return None
        if "seal" not in _sealing:
            raise RuntimeError("personal fields are written only once services.sealing is loaded")
        return _sealing["seal"](value)

    def process_result_value(self, value: str | None, dialect: object) -> str | None:
        if value is None or "clear" not in _sealing:
            return value
        return _sealing["clear"](value)
