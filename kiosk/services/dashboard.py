"""The live picture of one event for the team lead: counts, money, charts, open questions."""

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from kiosk.content import current_content
from kiosk.extensions import db
from kiosk.models import (
    KIOSK_ID_SETTING,
    Event,
    PressRequest,
    Question,
    Setting,
    Tally,
)
from kiosk.services import counts, tallies
from kiosk.services.pledges import bar_width, share_label

# The hourly chart shows at most this many hours, ending at the latest sign-up.
MAX_HOURS = 24


@dataclass
class HourBar:
    label: str
    count: int
    height: int  # 0-100, share of the busiest hour


@dataclass
class EventPicture:
    event: Event
    signups: int
    pledged_cents: int
    pledges: int
    conversations: int
    questions_left: list[Question]
    opener_bars: list[dict[str, object]]
    faq_bars: list[dict[str, object]]
    hours: list[HourBar] = field(default_factory=list)
    press_waiting: list[PressRequest] = field(default_factory=list)
    kiosks: list["KioskCount"] = field(default_factory=list)

    # Shown as the visitor's progress is: a first $15 pledge reads "<1%", never "0%".
    @property
    def goal_share(self) -> str:
        return share_label(self.pledged_cents, self.event.goal_cents)

    @property
    def rescue_share(self) -> str:
        return share_label(self.pledged_cents, self.event.rescue_cost_cents)

    @property
    def goal_bar(self) -> int:
        return bar_width(self.pledged_cents, self.event.goal_cents)


@dataclass
class KioskCount:
    """One kiosk's records of an event: `kiosk_id` None for records made before kiosk ids."""

    kiosk_id: str | None
    this_kiosk: bool
    signups: int = 0
    pledges: int = 0
    questions: int = 0
    # The name the lead reads: "Kiosk <number>" (this kiosk is "This kiosk"), numbered from 2
    # in the order each kiosk's records first arrived here.
    number: int = 0
    first_ids: tuple[float, ...] = (math.inf, math.inf, math.inf)

    @property
    def short_id(self) -> str:
        return (self.kiosk_id or "")[:8]

    @property
    def total(self) -> int:
        return self.signups + self.pledges + self.questions


def _not_done(model: Any, done: Any, event: Event) -> list[Any]:
    """The event's records of `model` whose flag `done` is not set yet, oldest first."""
    query = select(model).where(model.event_id == event.id, done.is_(False))
    return list(db.session.scalars(query.order_by(model.created_at)))


def open_questions(event: Event) -> list[Question]:
    return _not_done(Question, Question.answered, event)


def waiting_press_requests(event: Event) -> list[PressRequest]:
    """Press requests not yet passed on, oldest first (the nearest deadline is in each)."""
    return _not_done(PressRequest, PressRequest.handled, event)


def signups_per_hour(event: Event) -> list[HourBar]:
    """Sign-ups per hour of the kiosk's local time, every hour shown even when empty: from
    the sign-ups kept per 15 minutes (services/counts.py), at most a day's buckets read."""
    last_bucket = counts.edge_bucket(event.id, counts.SIGNUP, last=True)
    if last_bucket is None:
        return []
    last = _local_hour(last_bucket)
    earliest = last - timedelta(hours=MAX_HOURS - 1)
    first_bucket = counts.bucket_of(earliest)
    hours: Counter[datetime] = Counter()
    for bucket, number in counts.buckets(
        event.id, counts.SIGNUP, first_bucket, last_bucket
    ).items():
        hours[_local_hour(bucket)] += number
    first_bucket_ever = counts.edge_bucket(event.id, counts.SIGNUP, last=False)
    first = max(
        _local_hour(first_bucket_ever if first_bucket_ever is not None else last_bucket), earliest
    )
    slots: list[datetime] = []
    moment = first
    while moment <= last:
        slots.append(moment)
        moment += timedelta(hours=1)
    busiest = max(hours[slot] for slot in slots) or 1
    return [
        HourBar(f"{slot:%H}:00", hours[slot], round(100 * hours[slot] / busiest)) for slot in slots
    ]


def _local_hour(bucket: int) -> datetime:
    return counts.bucket_start(bucket).astimezone().replace(minute=0, second=0, microsecond=0)


def faq_labels() -> list[tuple[str, str]]:
    return [(entry.slug, entry.question) for entry in current_content().faq_entries]


def records_per_kiosk(
    event: Event, kept: list[tuple[str, str | None, int, int, int | None]] | None = None
) -> list[KioskCount]:
    """How many sign-ups, pledges and questions of `event` came from each kiosk: this kiosk
    first, then the others by their number ("Kiosk 2", "Kiosk 3", ...), then records made
    before kiosk ids. From the kept counts (`kept`: counts.records, read once per poll)."""
    mine = db.session.get(Setting, KIOSK_ID_SETTING)
    mine_id = mine.value if mine is not None else None
    found: dict[str | None, KioskCount] = {}
    places = {"signup": 0, "pledge": 1, "question": 2}
    for kind, kiosk_id, number, _cents, first_id in (
        counts.records(event.id) if kept is None else kept
    ):
        row = found.setdefault(kiosk_id, KioskCount(kiosk_id, kiosk_id == mine_id))
        setattr(row, f"{kind}s", number)
        firsts = list(row.first_ids)
        firsts[places[kind]] = first_id if first_id is not None else math.inf
        row.first_ids = tuple(firsts)
    # Ids grow as records arrive (typed here or merged in), never by a tablet's clock: the
    # kiosk merged first keeps the lower number as others join.
    others = sorted(
        (row for row in found.values() if row.kiosk_id and not row.this_kiosk),
        key=lambda row: (row.first_ids, row.kiosk_id),
    )
    for number, row in enumerate(others, start=2):
        row.number = number
    return sorted(
        found.values(),
        key=lambda row: (not row.this_kiosk, row.kiosk_id is None, row.number),
    )


def event_picture(event: Event) -> EventPicture:
    """The dashboard's figures, all from kept counts: a poll costs the same at any size."""
    pack = current_content()
    kept = counts.records(event.id)
    signups = sum(number for kind, _k, number, _c, _f in kept if kind == "signup")
    pledges = sum(number for kind, _k, number, _c, _f in kept if kind == "pledge")
    pledged = sum(cents for kind, _k, _n, cents, _f in kept if kind == "pledge")
    faq_counts = tallies.count_by_key(event, Tally.FAQ_OPEN)
    # Only the questions someone opened: the full guide would bury the chart.
    asked = [(slug, label) for slug, label in faq_labels() if faq_counts.get(slug)]
    return EventPicture(
        event=event,
        signups=signups,
        pledged_cents=pledged,
        pledges=pledges,
        conversations=tallies.total(event, Tally.CONVERSATION),
        questions_left=open_questions(event),
        opener_bars=tallies.bars(
            tallies.count_by_key(event, Tally.OPENER), [(c.key, c.label) for c in pack.choices]
        ),
        faq_bars=sorted(
            tallies.bars(faq_counts, asked),
            key=lambda row: -int(str(row["count"])),
        ),
        hours=signups_per_hour(event),
        kiosks=records_per_kiosk(event, kept),
        press_waiting=waiting_press_requests(event),
    )


def mark_answered(question_id: int) -> Question | None:
    question = db.session.get(Question, question_id)
    if question is not None:
        question.answered = True
        db.session.commit()
    return question
