"""What a tablet downloads: the session it starts with, the first page, and htmx fragments."""

import gzip
import re
import statistics
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from email.message import Message
from html.parser import HTMLParser

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    set_cookies: list[str]


@dataclass(frozen=True)
class TabletSession:
    """The session cookie and CSRF token a tablet gets from its first page."""

    base_url: str
    cookie: str
    token: str

    def fetch(self, path: str, form: dict[str, str] | None = None, htmx: bool = False) -> Reply:
        headers = {"Cookie": self.cookie, "X-CSRFToken": self.token}
        if htmx:
            headers["HX-Request"] = "true"
        data = None
        if form is not None:
            data = urllib.parse.urlencode({**form, "csrf_token": self.token}).encode()
        return fetch(self.base_url + path, data, headers)


def fetch(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> Reply:
    """One request; error statuses are replies too, not exceptions."""
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return to_reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return to_reply(error.code, error.headers, error.read())


def to_reply(status: int, headers: Message, body: bytes) -> Reply:
    return Reply(status, dict(headers), body, headers.get_all("Set-Cookie") or [])


def cookie_header(set_cookies: list[str]) -> str:
    """A Cookie header sending back every cookie of these Set-Cookie headers."""
    return "; ".join(set_cookie.split(";", 1)[0].strip() for set_cookie in set_cookies)


def start_session(base_url: str) -> TabletSession:
    """Load the opener once, as a tablet does, and keep its session cookie and CSRF token."""
    reply = fetch(base_url + "/")
    match = CSRF_INPUT.search(reply.body.decode())
    if reply.status != 200 or match is None or not reply.set_cookies:
        raise RuntimeError(f"the opener gave no session and token (status {reply.status})")
    return TabletSession(base_url, cookie_header(reply.set_cookies), match.group(1))


class AssetFinder(HTMLParser):
    """Collects the stylesheets, scripts and images a page makes the browser load."""

    def __init__(self) -> None:
        super().__init__()
        self.assets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "link" and found.get("rel") == "stylesheet" and found.get("href"):
            self.assets.append(found["href"])  # type: ignore[arg-type]
        elif tag in ("script", "img") and found.get("src"):
            self.assets.append(found["src"])  # type: ignore[arg-type]


def referenced_assets(html: str) -> list[str]:
    finder = AssetFinder()
    finder.feed(html)
    return finder.assets


def gzip_size(body: bytes) -> int:
    """Bytes on the wire if served gzip-compressed at the usual level 6."""
    return len(gzip.compress(body, compresslevel=6))


@dataclass(frozen=True)
class Weight:
    raw: int
    gzip: int
    files: int


def first_load_weight(base_url: str) -> Weight:
    """The opener's HTML plus every asset it references, raw and gzip."""
    page = fetch(base_url + "/")
    bodies = [page.body]
    for asset in referenced_assets(page.body.decode()):
        reply = fetch(urllib.parse.urljoin(base_url + "/", asset))
        if reply.status != 200:
            raise RuntimeError(f"asset {asset} answered {reply.status}")
        bodies.append(reply.body)
    return Weight(sum(map(len, bodies)), sum(map(gzip_size, bodies)), len(bodies))


def median_and_largest(sizes: dict[str, int]) -> tuple[float, int]:
    return statistics.median(sizes.values()), max(sizes.values())


def over_limit(sizes: dict[str, int], limit: int) -> str:
    """Which are over `limit` bytes, largest first: "2 over 2 KB: a 4.1 KB, b 3.0 KB"."""
    over = sorted(((size, name) for name, size in sizes.items() if size > limit), reverse=True)
    listed = ", ".join(f"{name} {size / 1000:.1f} KB" for size, name in over)
    return f"{len(over)} over {limit / 1000:g} KB: {listed}" if over else "none over the limit"


@dataclass(frozen=True)
class ContentKeys:
    """What the load may tap: opener choices, FAQ slugs, QR links, sign-up interests."""

    choices: list[str]
    slugs: list[str]
    qr_links: list[str]
    interests: list[str]

    @classmethod
    def from_default_pack(cls) -> "ContentKeys":
        from kiosk.config import DEFAULT_CONTENT
        from kiosk.content import load_pack

        pack = load_pack(DEFAULT_CONTENT)
        return cls(
            choices=[c.key for c in pack.choices],
            slugs=[e.slug for e in pack.faq_entries],
            qr_links=list(pack.links),
            interests=[i.key for i in pack.interests],
        )


def fragment_replies(session: TabletSession, keys: ContentKeys) -> dict[str, Reply]:
    """Every htmx fragment of the visitor screens, by a name saying how it was asked for."""
    replies = {
        f"POST /opener {c}": session.fetch("/opener", {"choice": c}, True) for c in keys.choices
    }
    replies["GET /opener/chart"] = session.fetch("/opener/chart", htmx=True)
    for slug in keys.slugs:
        for depth in ("short", "more"):
            replies[f"POST /faq/{slug} {depth}"] = session.fetch(
                f"/faq/{slug}", {"depth": depth}, True
            )
        replies[f"GET /faq/{slug} closed"] = session.fetch(f"/faq/{slug}?view=closed", htmx=True)
    return replies


def signup_replies(session: TabletSession, keys: ContentKeys) -> dict[str, Reply]:
    """The sign-up form's fragments: the form, a thank-you, and the form with its errors."""
    visitor = {
        "first_name": "Bench",
        "email": "fragment@example.org",
        "consent": "y",
        "idempotency_key": uuid.uuid4().hex,
        "interests": keys.interests[0] if keys.interests else "",
    }
    return {
        "GET /signup": session.fetch("/signup", htmx=True),
        "POST /signup thanks": session.fetch("/signup", visitor, True),
        "POST /signup errors (422)": session.fetch("/signup", {"first_name": "Bench"}, True),
    }


def expected_status(name: str) -> int:
    """200, or the 422 that a fragment named "... (422)" must answer."""
    return 422 if name.endswith("(422)") else 200


def fragment_sizes(session: TabletSession, keys: ContentKeys, signup: bool) -> dict[str, int]:
    replies = fragment_replies(session, keys)
    if signup:
        replies |= signup_replies(session, keys)
    failed = {name: r.status for name, r in replies.items() if r.status != expected_status(name)}
    if failed:
        raise RuntimeError(f"fragments failed: {failed}")
    return {name: len(reply.body) for name, reply in replies.items()}
