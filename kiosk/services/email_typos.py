"""Suggestions for likely typos in an email's domain ("Did you mean ana@gmail.com?").

Only ever a suggestion: the address typed is stored as typed if the person keeps it. A
domain is compared with a short list of common providers by edit distance (a swap of
two neighbouring letters counts as one edit), after fixing top-level domains that are
almost always typos (.con, .cmo, .ogr, ...).
"""

from collections.abc import Mapping
from typing import Any

COMMON_DOMAINS = (
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.co.uk",
    "yahoo.co.kr",
    "hotmail.com",
    "hotmail.co.uk",
    "outlook.com",
    "live.com",
    "msn.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "mail.com",
    "gmx.com",
    "proton.me",
    "protonmail.com",
    "comcast.net",
    "verizon.net",
    "att.net",
    "naver.com",
    "daum.net",
    "hanmail.net",
    "kakao.com",
    "nate.com",
)
_COMMON = frozenset(COMMON_DOMAINS)
# Top-level domains that are typos of .com, .net or .org (none of them exists).
TLD_FIXES = {
    "con": "com",
    "cmo": "com",
    "ocm": "com",
    "vom": "com",
    "xom": "com",
    "cpm": "com",
    "comm": "com",
    "coom": "com",
    "nte": "net",
    "ent": "net",
    "nett": "net",
    "ogr": "org",
    "rog": "org",
    "orgg": "org",
}
DOMAIN_MAX = 253
EMAIL_MAX = 254


def distance(a: str, b: str) -> int:
    """Edits from a to b (insert, delete, replace, swap two neighbours): optimal alignment."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, start=1):
            cost = 0 if char_a == char_b else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def _closest_common(domain: str) -> str | None:
    if domain in _COMMON:
        return None
    allowed = 1 if len(domain) < 8 else 2
    best, best_distance = None, allowed + 1
    for common in COMMON_DOMAINS:
        if abs(len(common) - len(domain)) > allowed:
            continue
        found = distance(domain, common)
        if found < best_distance:
            best, best_distance = common, found
    return best


def suggest_domain(domain: str) -> str | None:
    """A likely intended domain for `domain` (lower case), or None when it looks right."""
    domain = domain.strip().lower()
    if not domain or len(domain) > DOMAIN_MAX or domain in _COMMON:
        return None
    name, dot, tld = domain.rpartition(".")
    fixed = f"{name}.{TLD_FIXES[tld]}" if dot and name and tld in TLD_FIXES else domain
    closest = _closest_common(fixed)
    if closest is not None:
        return closest
    return fixed if fixed != domain else None


def suggest(email: str) -> str | None:
    """The address with its domain fixed, or None; the local part is kept as typed."""
    local, at, domain = (email or "").strip().rpartition("@")
    if not at or not local:
        return None
    better = suggest_domain(domain)
    return f"{local}@{better}" if better else None


def suggestion_for(email: str | None) -> str:
    """The suggestion to show under a field holding `email` ("" when it looks right): also
    on a refused form's re-render, so the hint does not vanish when the form comes back."""
    return suggest((email or "")[:EMAIL_MAX]) or ""


def hint_context(form: Mapping[str, str], hint_url: str) -> tuple[str, dict[str, Any]]:
    """The block of _email_field.html to answer with, and its context.

    `use` set: the field holding the suggestion taken; otherwise the suggestion for what
    was typed (empty when it looks right).
    """
    email = (form.get("email") or "")[:EMAIL_MAX]
    if form.get("use"):
        return "email_field", {"form": {"email": email}, "suggestion": "", "hint_url": hint_url}
    return "email_hint", {"form": {}, "suggestion": suggest(email) or "", "hint_url": hint_url}
