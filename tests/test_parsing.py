"""The one parser of money, whole numbers and ids (kiosk.parsing), and the dollars filter."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.parsing import (
    ID_MAX,
    NotANumber,
    amount_text,
    dollars,
    parse_cents,
    parse_id,
    parse_whole,
)

NOT_NUMBERS = ["", "  ", "²", "٣", "1_000", "0x10", "1e3", "inf", "NaN", "-5", "+5", "5-", "1,00"]
NOT_NUMBERS += ["1.", ".5", "3.14.15", "1.005", "$", "$-1", "30\x00", "9" * 5000, "1 000"]


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("25", 2500),
        ("25.5", 2550),
        ("25.05", 2505),
        ("$1,250.50", 125050),
        ("$ 3000", 300000),
        ("1,000,000", 100000000),
        ("３０００", 300000),
        ("＄３，０００．５０", 300050),
        ("\u30003000\u3000", 300000),
        ("0", 0),
    ],
)
def test_amounts_in_dollars_become_cents(text, cents):
    assert parse_cents(text, 0, 10**9) == cents


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_what_is_not_an_amount_says_so(text):
    with pytest.raises(NotANumber) as refused:
        parse_cents(text, 0, 10**9)
    assert refused.value.problem == NotANumber.FORMAT
    assert "Enter an amount in dollars" in str(refused.value)


def test_an_amount_out_of_range_says_the_range():
    with pytest.raises(NotANumber) as small:
        parse_cents("0.50", 100, 10**9)
    assert (small.value.problem, str(small.value)) == (
        NotANumber.TOO_SMALL,
        "Enter an amount of at least 1 dollars.",
    )
    with pytest.raises(NotANumber) as large:
        parse_cents("10,000,000.01", 0, 10**9)
    assert large.value.problem == NotANumber.TOO_LARGE
    assert "at most 10,000,000 dollars" in str(large.value)


def test_long_input_is_refused_before_it_is_read():
    with pytest.raises(NotANumber):
        parse_cents("1" + "0" * 25, 0, 10**40)
    with pytest.raises(NotANumber):
        parse_whole("1" + "0" * 15, 0, 10**40)


@pytest.mark.parametrize(("text", "number"), [("90", 90), ("９０", 90), (" 20 ", 20), ("0020", 20)])
def test_whole_numbers(text, number):
    assert parse_whole(text, 20, 3600) == number


@pytest.mark.parametrize("text", [*NOT_NUMBERS, "19", "3601", "90.0"])
def test_what_is_not_a_whole_number_in_range_says_the_range(text):
    with pytest.raises(NotANumber) as refused:
        parse_whole(text, 20, 3600)
    assert str(refused.value) == "Enter a whole number from 20 to 3600."


def test_ids_are_whole_numbers_a_database_can_hold():
    assert parse_id("1") == 1 and parse_id(str(ID_MAX)) == ID_MAX
    for no_id in ("", "x", "²", "-1", "1.0"):
        with pytest.raises(NotANumber) as refused:
            parse_id(no_id)
        assert refused.value.problem == NotANumber.FORMAT
    for no_record in ("0", str(ID_MAX + 1), "1" * 23, "9" * 5000):
        with pytest.raises(NotANumber) as refused:
            parse_id(no_record)
        assert refused.value.problem != NotANumber.FORMAT


@given(st.integers(0, 10**9), st.booleans())
def test_an_amount_written_for_a_form_or_a_file_reads_back_the_same(cents, always_cents):
    assert parse_cents(amount_text(cents, always_cents=always_cents), 0, 10**9) == cents


def test_an_amount_for_a_file_always_has_its_cents():
    assert [amount_text(c, always_cents=True) for c in (1500, 299950, 5)] == [
        "15.00",
        "2999.50",
        "0.05",
    ]


@given(st.text(max_size=30))
def test_any_text_is_an_amount_or_a_refusal_never_a_crash(text):
    try:
        cents = parse_cents(text, 0, 10**9)
    except NotANumber:
        return
    assert isinstance(cents, int) and 0 <= cents <= 10**9


def test_dollars_show_whole_amounts_plainly_and_cents_when_there_are_some():
    assert [dollars(c) for c in (0, 1500, 300000, 125050, 5)] == [
        "$0",
        "$15",
        "$3,000",
        "$1,250.50",
        "$0.05",
    ]


@pytest.mark.parametrize("url", ["/lead/events/1/edit", "/lead/events/2147483647/edit"])
def test_the_id_converter_matches_ids_it_can_look_up(app, url):
    adapter = app.url_map.bind("localhost")
    endpoint, values = adapter.match(url)
    assert endpoint == "lead.edit_event" and isinstance(values["event_id"], int)


@pytest.mark.parametrize("huge", ["2147483648", "1" * 23, "9" * 5000, "٣"])
def test_the_id_converter_finds_nothing_for_ids_no_record_can_have(app, huge):
    from werkzeug.exceptions import NotFound

    with pytest.raises(NotFound):
        app.url_map.bind("localhost").match(f"/lead/events/{huge}/edit")
