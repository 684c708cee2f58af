"""Pledges: an amount a visitor means to give, finished on their own phone. No card data, ever."""

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select

from kiosk.extensions import db
from kiosk.models import Event, Pledge
from kiosk.parsing import NotANumber, dollars, normalise, parse_cents, parse_whole
from kiosk.services import counts
from kiosk.services.events import event_taking_records
from kiosk.services.records import Checker, clean_idempotency_key, save_once

PRESET_DOLLARS = (15, 30, 50, 100)
# LiNK sends a free t-shirt to Liberty Donors giving this much a month or more: a thank-you,
# never a minimum (any monthly amount is welcome).
TSHIRT_MONTHLY_DOLLARS = 15
MINIMUM_DOLLARS = 1
MAXIMUM_DOLLARS = 100_000
NAME_MAX = 120
KINDS = (Pledge.ONCE, Pledge.MONTHLY)
OTHER = "other"


def presets(event: Event) -> list[int]:
    """Preset amounts in dollars, ending with the cost of one rescue at this event."""
    return [*PRESET_DOLLARS, event.rescue_cost_cents // 100]


def _is_preset(amount: str, event: Event) -> bool:
    try:
        return parse_whole(amount, 1, MAXIMUM_DOLLARS) in presets(event)
    except NotANumber:
        return False


def _check_amount(checker: Checker, event: Event, amount: str | None, other: str | None) -> int:
    """Cents of the chosen preset, or of the amount typed into "Other": the same bounds
    for one-time and monthly gifts."""
    amount = normalise(amount)
    if not amount and normalise(other):
        amount = OTHER  # typed into "Other" without ticking it first
    if amount != OTHER and not _is_preset(amount, event):
        checker.errors["amount"] = _("Please choose an amount.")
        return 0
    field, typed = ("amount_other", other) if amount == OTHER else ("amount", amount)
    try:
        return parse_cents(typed, MINIMUM_DOLLARS * 100, MAXIMUM_DOLLARS * 100)
    except NotANumber as problem:
        checker.errors[field] = {
            NotANumber.TOO_SMALL: _(
                "The smallest amount is %(low)s.", low=dollars(MINIMUM_DOLLARS * 100)
            ),
            NotANumber.TOO_LARGE: _(
                "Please pledge at most %(high)s.", high=dollars(MAXIMUM_DOLLARS * 100)
            ),
        }.get(problem.problem, _("Please enter an amount in dollars, e.g. 25."))
        return 0


def record_pledge(
    *,
    kind: str | None,
    amount: str | None,
    amount_other: str | None = "",
    name: str | None = "",
    email: str | None = "",
    consent: bool = False,
    idempotency_key: str | None = None,
    event: Event | None = None,
) -> Pledge:
    """Store a pledge. `amount` is a preset in whole dollars or "other" (then `amount_other`).

    Name and email are optional; an email needs the consent box, as on the sign-up.
    """
    event = event_taking_records(event)
    check = Checker()
    if kind not in KINDS:
        check.errors["kind"] = _("Please choose one-time or monthly.")
    cents = _check_amount(check, event, amount, amount_other)
    clean_name = check.text("name", name, NAME_MAX)
    clean_email = check.email("email", email, required=False)
    check.consent("consent", consent, needed=bool(clean_email))
    check.done()

    pledge = Pledge(
        event_id=event.id,
        kind=kind,
        amount_cents=cents,
        name=clean_name,
        email=clean_email,
        idempotency_key=clean_idempotency_key(idempotency_key),
    )
    return save_once(pledge, consent=consent and bool(clean_email))


def pledged_total_cents(event: Event) -> int:
    """Everything pledged at the event; a monthly pledge counts its first month (a kept
    count: services/counts.py)."""
    return counts.records_total(event.id, "pledge")[1]


def share_label(part_cents: int, whole_cents: int) -> str:
    """A share as shown: "0%" only when nothing is pledged, "<1%" for a first small pledge (a
    visitor's $15 must never read as nothing), else whole percents (above 100 when passed)."""
    if part_cents <= 0:
        return "0%"
    percent = part_cents * 100 // max(whole_cents, 1)
    return "<1%" if percent < 1 else f"{percent:,}%"


def bar_width(part_cents: int, whole_cents: int) -> int:
    """A bar's width in percent: at least a sliver once anything is pledged, at most full."""
    if part_cents <= 0:
        return 0
    return max(1, min(part_cents * 100 // max(whole_cents, 1), 100))


@dataclass(frozen=True)
class Progress:
    total_cents: int
    rescue_cost_cents: int

    @property
    def percent(self) -> int:
        """Share of one rescue, in percent; above 100 once a rescue is covered."""
        return self.total_cents * 100 // max(self.rescue_cost_cents, 1)

    @property
    def share(self) -> str:
        """The share of one rescue as shown (see share_label)."""
        return share_label(self.total_cents, self.rescue_cost_cents)

    @property
    def bar_percent(self) -> int:
        return bar_width(self.total_cents, self.rescue_cost_cents)

    @property
    def rescues(self) -> int:
        return self.total_cents // max(self.rescue_cost_cents, 1)


def progress(event: Event) -> Progress:
    """The event's pledged total toward the cost of one rescue."""
    return Progress(pledged_total_cents(event), event.rescue_cost_cents)


def pledges_of(event: Event) -> list[Pledge]:
    return list(
        db.session.scalars(select(Pledge).where(Pledge.event_id == event.id).order_by(Pledge.id))
    )
