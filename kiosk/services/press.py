"""Press requests: a journalist's request to the team itself, read by its lead.

The desk sends interview requests to the organisation whose guidelines it shows, directly:
the team does not speak for it and passes nothing on. A request left here is for the team
(`recipient` stores the team's name). It is a personal record like a sign-up: it carries the
journalist's email, the wording and version of the interview guidelines they agreed to
(ConsentMixin), the language they wrote in, and is saved once per idempotency key.
"""

from flask_babel import gettext as _
from sqlalchemy import select, update
from werkzeug.datastructures import MultiDict

from kiosk import i18n
from kiosk.content import current_content
from kiosk.extensions import db
from kiosk.models import Event, PressRequest
from kiosk.services import team
from kiosk.services.atomic import changed_rows
from kiosk.services.audit import record_audit
from kiosk.services.events import current_event
from kiosk.services.records import Checker, clean_idempotency_key, save_once

# Lengths fit the columns in models.PressRequest.
NAME_MAX = 120
OUTLET_MAX = 160
WEBSITE_MAX = 300
PAST_WORK_MAX = 1500
PAST_WORK_LINKS = 5
TEXT_MAX = 2000
COMMISSIONED = {"yes": True, "no": False}


def form_fields(form: MultiDict[str, str]) -> dict[str, object]:
    """record_press_request's arguments from the posted press request form."""
    return {
        "name": form.get("name"),
        "outlet": form.get("outlet"),
        "website": form.get("website"),
        "past_work": form.get("past_work"),
        "commissioned": form.get("commissioned"),
        "outline": form.get("outline"),
        "deadline": form.get("deadline"),
        "topics": form.get("topics"),
        "email": form.get("email"),
        "agreed": form.get("agree") == "y",
        "idempotency_key": form.get("idempotency_key"),
    }


def record_press_request(
    *,
    name: str | None,
    outlet: str | None,
    website: str | None,
    email: str | None,
    topics: str | None,
    commissioned: str | None,
    agreed: bool,
    past_work: str | None = "",
    outline: str | None = "",
    deadline: str | None = "",
    idempotency_key: str | None = None,
    event: Event | None = None,
) -> PressRequest:
    """Store a press request with the guidelines' wording; InvalidInput names the faults."""
    check = Checker()
    cleaned_name = check.text("name", name, NAME_MAX, required=_("Please enter your name."))
    cleaned_outlet = check.text(
        "outlet", outlet, OUTLET_MAX, required=_("Please name the outlet you work for.")
    )
    cleaned_website = check.link(
        "website", website, WEBSITE_MAX, required=_("Please enter your professional website.")
    )
    cleaned_past = check.links("past_work", past_work, PAST_WORK_MAX, most=PAST_WORK_LINKS)
    is_commissioned = COMMISSIONED.get(commissioned or "")
    if is_commissioned is None:
        check.errors["commissioned"] = _("Please say whether the piece is commissioned.")
    cleaned_outline = check.text(
        "outline",
        outline,
        TEXT_MAX,
        multiline=True,
        required=_("Please share the log line or outline.") if is_commissioned else "",
    )
    day = check.day("deadline", deadline)
    cleaned_topics = check.text(
        "topics",
        topics,
        TEXT_MAX,
        multiline=True,
        required=_("Please list your questions or the topics you would like to cover."),
    )
    cleaned_email = check.email("email", email, required=True)
    check.consent(
        "agree", agreed, needed=True, message=_("Please tick the box to agree to the guidelines.")
    )
    check.done()

    pack = current_content()
    record = PressRequest(
        event_id=(event or current_event()).id,
        name=cleaned_name,
        outlet=cleaned_outlet,
        website=cleaned_website,
        past_work=cleaned_past,
        commissioned=bool(is_commissioned),
        outline=cleaned_outline if is_commissioned else "",
        deadline=day,
        message=cleaned_topics,
        email=cleaned_email,
        recipient=team.team_name(),  # "Our team"'s name, else the pack's
        locale=i18n.current_locale(),
        idempotency_key=clean_idempotency_key(idempotency_key),
    )
    agreement = pack.press.agreement
    return save_once(record, consent=agreed, wording=(agreement.version, agreement.text))


def press_requests_of(event: Event) -> list[PressRequest]:
    return list(
        db.session.scalars(
            select(PressRequest).where(PressRequest.event_id == event.id).order_by(PressRequest.id)
        )
    )


def mark_handled(request_id: int, actor: str = "") -> bool | None:
    """Mark a request answered by the team: None if there is no such request, else
    whether this call marked it (an atomic UPDATE: two tabs clicking at once audit it once).
    The audit log notes it by id, never by name."""
    if db.session.get(PressRequest, request_id) is None:
        return None
    marked = changed_rows(
        update(PressRequest)
        .where(PressRequest.id == request_id, PressRequest.handled.is_(False))
        .values(handled=True)
    )
    db.session.commit()
    if marked:
        record_audit("press.handled", f"Press request {request_id} marked handled", actor)
    return bool(marked)
