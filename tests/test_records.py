"""Properties of the input cleaning and CSV neutralising that every record relies on."""

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from kiosk.services.exports import FORMULA_STARTS, neutralise
from kiosk.services.records import clean_idempotency_key, clean_text


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
    assert cell.endswith(value)


def test_only_idempotency_keys_of_the_shape_handed_out_are_kept():
    assert clean_idempotency_key("A" * 32) == "a" * 32
    assert clean_idempotency_key("0123456789abcdef0123456789abcdef") is not None
    for bad in (None, "", "short", "g" * 32, "a" * 33, "' OR 1=1 --"):
        assert clean_idempotency_key(bad) is None


def test_removing_a_control_character_between_a_letter_and_its_accent_still_gives_nfc():
    assert clean_text("e\u0000\u0301") == "\u00e9"
