"""Properties of the input cleaning and CSV neutralising that every record relies on."""

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from kiosk.emails import canonical_email, canonical_email_in_full
from kiosk.parsing import clean_text
from kiosk.services.exports import FORMULA_STARTS, SEPARATORS, neutralise
from kiosk.services.records import clean_idempotency_key


@given(st.text())
def test_clean_text_is_nfc_without_control_characters_and_stable(value):
    cleaned = clean_text(value)
    assert unicodedata.is_normalized("NFC", cleaned)
    assert not any(unicodedata.category(c) == "Cc" for c in cleaned)
    assert cleaned == cleaned.strip()
    assert clean_text(cleaned) == cleaned


@given(st.text())
def test_multiline_clean_text_keeps_only_newlines_as_control_characters(value):
    cleaned = clean_text(value, multiline=True)
    assert all(c == "\n" or unicodedata.category(c) != "Cc" for c in cleaned)
    assert "\n\n\n" not in cleaned
    assert clean_text(cleaned, multiline=True) == cleaned


@given(st.text())
def test_a_neutralised_cell_never_starts_a_formula(value):
    cell = neutralise(value)
    assert not cell.startswith(FORMULA_STARTS)
    assert cell.replace("'", "") == value.replace("'", ""), "only apostrophes are added"


FORMULA_PIECES = st.lists(st.text(alphabet="ab =+-@;,\t'\uff1d"), min_size=1, max_size=6).map(
    "".join
)


@given(st.text() | FORMULA_PIECES)
def test_no_piece_of_a_neutralised_cell_split_on_a_separator_starts_a_formula(value):
    cell = neutralise(value)
    for separator in SEPARATORS:
        for piece in cell.split(separator)[1:]:
            assert not piece.lstrip(" \t").startswith(FORMULA_STARTS), (separator, cell)


def test_a_formula_after_a_semicolon_is_neutralised_and_ordinary_cells_are_unchanged():
    assert neutralise("Ana;=1+1;") == "Ana;'=1+1;"
    assert neutralise("Kim, @home") == "Kim, '@home"
    for ordinary in ("Kim, Minji", "Seoul; Busan", "a-b", "ana@example.org", "김민지", "12,5"):
        assert neutralise(ordinary) == ordinary


def test_only_idempotency_keys_of_the_shape_handed_out_are_kept():
    assert clean_idempotency_key("A" * 32) == "a" * 32
    assert clean_idempotency_key("0123456789abcdef0123456789abcdef") is not None
    for bad in (None, "", "short", "g" * 32, "a" * 33, "' OR 1=1 --"):
        assert clean_idempotency_key(bad) is None


def test_removing_a_control_character_between_a_letter_and_its_accent_still_gives_nfc():
    assert clean_text("e\u0000\u0301") == "\u00e9"


@given(st.emails() | st.text())
def test_canonical_email_is_stable_nfc_and_lower_case(value):
    canonical = canonical_email(value)
    assert canonical_email(canonical) == canonical
    assert unicodedata.is_normalized("NFC", canonical)
    assert unicodedata.is_normalized("NFKC", canonical)
    assert canonical == canonical.strip()


def test_a_full_width_address_is_the_same_person_as_the_ascii_one():
    assert canonical_email("\uff41\uff4e\uff41@bücher.de") == "ana@bücher.de"
    assert canonical_email("\uff21\uff4e\uff41\uff20example.org") == "ana@example.org"


# ASCII pieces, the IDNA prefix and dots, where canonical_email's shortcut decides.
ADDRESS_LIKE = st.lists(
    st.sampled_from([*map(chr, range(0x20, 0x7F)), "\t", "\n", "xn--", "..", "é", "@"])
).map("".join)


@given(st.emails() | ADDRESS_LIKE | st.text())
def test_the_shortcut_for_an_address_already_canonical_changes_nothing(value):
    assert canonical_email(value) == canonical_email_in_full(value)


def test_the_shortcut_leaves_what_it_must_change_to_the_full_form():
    for value in ("Ab@example.org", "a@xn--bcher-kva.de", "a@example.org.", " a@b.c", "a\tb@c.d"):
        assert canonical_email(value) == canonical_email_in_full(value) != value


def test_one_address_written_many_ways_has_one_canonical_form():
    ways = [
        "jürgen@bücher.de",
        "Jürgen@BÜCHER.DE",
        "  jürgen@xn--bcher-kva.de ",
        "JU\u0308RGEN@bu\u0308cher.de",  # decomposed accents
        "jürgen@bücher.de.",
    ]
    assert {canonical_email(way) for way in ways} == {"jürgen@bücher.de"}
    assert canonical_email("Minji.Kim@Example.ORG") == "minji.kim@example.org"


def test_a_stored_email_is_canonical_however_the_record_was_made(app):
    from kiosk.extensions import db
    from kiosk.models import Pledge, PressRequest, Question, Signup
    from kiosk.services.events import active_event

    with app.app_context():
        event_id = active_event().id
        records = [
            Signup(event_id=event_id, first_name="J", email="JU\u0308RGEN@xn--bcher-kva.de"),
            Pledge(event_id=event_id, amount_cents=100, email="Jürgen@Bücher.de"),
            Question(event_id=event_id, text="?", email=" jürgen@BÜCHER.de"),
            PressRequest(event_id=event_id, name="J", email="JÜRGEN@bücher.de"),
        ]
        db.session.add_all(records)
        db.session.commit()
        assert {record.email for record in records} == {"jürgen@bücher.de"}
