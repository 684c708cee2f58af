"""Questions visitors leave for the team; read by the team lead and nobody else."""

from flask_babel import gettext as _
from sqlalchemy import select

from kiosk.extensions import db
from kiosk.models import Event, Question
from kiosk.services.events import event_taking_records
from kiosk.services.records import Checker, clean_idempotency_key, save_once

QUESTION_MAX = 1000


def record_question(
    *,
    question: str | None,
    email: str | None = "",
    consent: bool = False,
    idempotency_key: str | None = None,
    event: Event | None = None,
) -> Question:
    """Store a question; an optional email for the reply needs the consent box."""
    check = Checker()
    text = check.text(
        "question",
        question,
        QUESTION_MAX,
        required=_("Please write your question."),
        multiline=True,
    )
    clean_email = check.email("email", email, required=False)
    check.consent("consent", consent, needed=bool(clean_email))
    check.done()

    record = Question(
        event_id=event_taking_records(event).id,
        text=text,
        email=clean_email,
        idempotency_key=clean_idempotency_key(idempotency_key),
    )
    return save_once(record, consent=consent and bool(clean_email))


def questions_of(event: Event) -> list[Question]:
    return list(
        db.session.scalars(
            select(Question).where(Question.event_id == event.id).order_by(Question.id)
        )
    )
