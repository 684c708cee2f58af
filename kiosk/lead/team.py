"""Our team: the team's name, fundraising page and goal, contact, public sign-up link and
next events (services/team.py); checked, previewed as visitors will see it, then saved."""

from typing import Any

from flask import request
from flask.wrappers import Response

from kiosk.lead.blueprint import bp, client_address, redirect_to, render_form
from kiosk.rendering import is_htmx
from kiosk.services import team as team_page
from kiosk.services.records import InvalidInput

PREVIEW, EDIT, SAVE = "preview", "edit", "save"


def _render(form: object, errors: dict[str, str] | None = None, **context: Any) -> Response:
    shown = team_page.current_version()
    return render_form(
        "lead/team.html",
        "team_form",
        form,
        errors,
        rows=range(1, team_page.EVENT_ROWS + 1),
        field=team_page.event_field,
        revision=shown.revision if shown else 0,
        **context,
    )


@bp.route("/team", methods=["GET", "POST"])
def team() -> Response:
    """The team's own page: the form, its preview (step=preview), back to it (step=edit),
    and saving what was previewed (step=save)."""
    if request.method == "GET":
        return _render(team_page.form_of(), saved=request.args.get("saved") == "1")
    step = request.form.get("step", PREVIEW)
    try:
        values = team_page.checked(request.form)
    except InvalidInput as invalid:
        return _render(request.form, invalid.errors)
    if step == EDIT:
        return _render(request.form)
    if step != SAVE:
        return _render(request.form, preview=team_page.preview(values))
    team_page.save(values, actor=client_address())
    if is_htmx():
        return _render(team_page.form_of(), saved=True)
    return redirect_to("lead.team", saved="1")
