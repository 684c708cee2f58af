"""Phone numbers: read however they are typed, stored and exported in E.164 (+442079460958).

E.164 is what Mailchimp's phone field takes. A number without a country code is read in
the region of the language the person reads (each language's pack names one,
`org.phone_region`: a Korean visitor types 010-1234-5678), then in the instance's.
The library is Google's libphonenumber (the `phonenumbers` package): it knows each
country's lengths and ranges, so "12" or "555 0100" are refused at the table, not at
Mailchimp.
"""

import re

import phonenumbers

# What normalise_phone stores: + and 7 to 15 digits, the first not 0.
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
TYPED_MAX = 40


class NotAPhone(ValueError):
    """Text that is not a phone number anyone could call."""


def is_region(code: str) -> bool:
    """True for a region libphonenumber knows (ISO 3166 alpha-2, e.g. "US", "KR", "GB")."""
    return code in phonenumbers.SUPPORTED_REGIONS


def normalise_phone(typed: str, region: str, *more_regions: str) -> str:
    """The number in E.164; NotAPhone when it is not a valid number. A local number is read
    in `region`, else in each of `more_regions` in turn: the first valid reading wins."""
    if len(typed) > TYPED_MAX:
        raise NotAPhone(typed)
    for each in dict.fromkeys((region, *more_regions)):
        try:
            number = phonenumbers.parse(typed, each)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise NotAPhone(typed)


def example_phone(region: str) -> str:
    """A mobile number of `region` as people there type it ("010-2000-0000" in KR), for the
    message that asks for a phone again; "" if the library has none."""
    number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if number is None:
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def exported_phone(stored: str, region: str) -> str | None:
    """The stored number in E.164 when it is a valid phone, else None (write it as text).

    Numbers stored since phones are checked (forms and imports) are E.164 already and pass
    as they are: + and digits only, which no spreadsheet runs as a formula. An older one
    typed as "+44 20 ..." is converted on the way out; parsing costs about 0.1 ms, too much
    for each row of a 100,000-row export, so only such rows pay it.
    """
    if not stored:
        return None
    if E164.fullmatch(stored):
        return stored
    try:
        return normalise_phone(stored, region)
    except NotAPhone:
        return None
