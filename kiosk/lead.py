"""The team lead's console, behind a passphrase: events, the live dashboard, exports,
merging tablets, erasure, settings and the audit log."""

from flask import Blueprint

bp = Blueprint("lead", __name__, url_prefix="/lead")
