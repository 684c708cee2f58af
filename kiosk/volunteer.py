"""The volunteer's screen, behind a short PIN: quick tips, a conversation counter,
and quick entry of paper sign-ups."""

from flask import Blueprint

bp = Blueprint("volunteer", __name__, url_prefix="/volunteer")
