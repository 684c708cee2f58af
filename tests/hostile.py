"""Hostile text for property-based tests: what a prankster, a bot or a paste can send."""

from hypothesis import strategies as st

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "javascript:alert(1)",
    "{{ 7*7 }}",
    '=HYPERLINK("http://evil.example","x")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\tTAB",
    "\rCR",
    "＝1+1",
    "＋1",
    "－1",
    "＠SUM(A1)",
    "\u202eevil\u202c",
    "\u200fשלום",
    "\x00\x01\x1b[31m",
    "%00%2e%2e%2f",
    "../../etc/passwd",
    "Robert'); DROP TABLE signup;--",
    "北한 사람들",
]

# Markers that must never reach a page unescaped.
UNESCAPED = ["<script>alert(1)", "<img src=x", "<svg onload"]


def hostile_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=200),
        st.sampled_from(PAYLOADS),
        st.tuples(st.sampled_from(PAYLOADS), st.text(max_size=50)).map("".join),
        st.sampled_from(PAYLOADS).map(lambda p: p * (100_000 // len(p) + 1)),
    )


def storable(text: str, dialect: str) -> str:
    """Hostile text a test writes straight into a model: PostgreSQL's text columns cannot
    hold NUL (the forms clean or refuse it first), so it is left out there; SQLite keeps it."""
    return text.replace("\x00", "") if dialect == "postgresql" else text


def assert_nothing_unescaped(html: str) -> None:
    for marker in UNESCAPED:
        assert marker not in html, f"{marker!r} rendered unescaped"
