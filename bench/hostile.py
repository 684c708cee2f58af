"""Hostile requests: what a script on a table's Wi-Fi can send a kiosk (issue 20.1).

Up to 256 KB each: long and made-up query strings, odd values of the parameters a screen
reads, junk session cookies, made-up paths, thousands of Accept-Language tags, junk htmx
headers; half of them small enough for the kiosk to read (they share the screens it keeps),
half refused unread. Used by `make bench` (the memory they leave) and by
tests/test_serve_memory.py.
"""

import http.client
import random
import re
import threading
from collections.abc import Callable

HOST = "127.0.0.1"
# waitress refuses a request whose head passes 256 KB (max_request_header_size): each
# hostile request is at most this long, head and all.
LARGEST = 250_000
CLIENTS = 4


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, str, list]:
    """(status, body, Set-Cookie headers) of one GET on a connection of its own."""
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        body = response.read().decode("utf-8", "replace")
        return response.status, body, response.headers.get_all("Set-Cookie") or []
    finally:
        connection.close()


def session_cookie(port: int) -> str:
    """A Cookie header with a session the kiosk gave (the fast path's way in)."""
    _, _, cookies = get(port, "/")
    return "; ".join(cookie.split(";", 1)[0] for cookie in cookies)


def screens_of(port: int) -> list[str]:
    """Every visitor screen a tablet asks for, found the way a browser finds them."""
    faq, opener, involved = (get(port, path)[1] for path in ("/faq", "/", "/involved"))
    slugs = sorted(set(re.findall(r'id="faq_entry-([\w-]+)"', faq)))
    choices = sorted(set(re.findall(r'name="choice" value="([\w-]+)"', opener)))
    codes = sorted(set(re.findall(r'src="/qr/([\w-]+)\.svg"', involved)))
    if not (slugs and choices and codes):
        raise RuntimeError("the kiosk's screens do not link to each other as they should")
    return [
        "/",
        "/faq",
        "/involved",
        "/learn",
        "/press",
        "/signup",
        "/pledge",
        "/ask",
        *(f"/faq/{slug}?view={view}" for slug in slugs for view in ("closed", "short", "more")),
        *(f"/opener/{choice}" for choice in choices),
        *(f"/qr/{code}.svg" for code in codes),
    ]


def hostile_requests(screens: list[str], session: str) -> list[Callable[[random.Random], tuple]]:
    """Ways to send a kiosk up to 256 KB it never asked for: each gives (path, headers)."""
    shared = ["/", "/faq", "/involved", *(s for s in screens if s.startswith("/faq/"))]

    def junk(rng: random.Random, length: int) -> str:
        return rng.choice("ABCDEFGH") * length

    def size(rng: random.Random, read: int = 7_000) -> int:
        """Half what the kiosk reads (shared, never kept), half what it refuses unread."""
        if rng.random() < 0.5:
            return rng.randrange(read // 4, read)
        return rng.randrange(LARGEST // 2, LARGEST)

    def long_query(rng: random.Random) -> tuple:
        screen = rng.choice(shared)
        joiner = "&" if "?" in screen else "?"
        name = f"q{rng.randrange(10**6):06}"
        headers = {"Cookie": session} if rng.random() < 0.5 else {}
        if rng.random() < 0.3:
            headers["HX-Request"] = "true"
        return f"{screen}{joiner}{name}={junk(rng, size(rng))}", headers

    def odd_values(rng: random.Random) -> tuple:
        screen = rng.choice([s for s in shared if "?view=" in s]).split("?")[0]
        value = junk(rng, size(rng))
        return f"{screen}?view={value}", {"Cookie": session, "HX-Request": "true"}

    def junk_cookie(rng: random.Random) -> tuple:
        cookie = f"session={rng.randrange(10**9)}.{junk(rng, size(rng, 4_000))}; kiosk_lang=ko"
        return rng.choice(shared), {"Cookie": cookie}

    def made_up_path(rng: random.Random) -> tuple:
        return f"/{rng.randrange(10**9)}/{junk(rng, size(rng))}?next=/{junk(rng, 100)}", {}

    # Up to 15,000 language tags (about 200 KB); made once, a few tags cost little to vary.
    tags = [f"x-{n:05};q=0.{n % 9 + 1}" for n in range(15_000)]

    def many_languages(rng: random.Random) -> tuple:
        start = rng.randrange(7_000)
        accepted = ",".join(tags[start : start + rng.randrange(1_000, 8_000)])
        return rng.choice(shared), {"Accept-Language": accepted, "Cookie": session}

    def junk_htmx(rng: random.Random) -> tuple:
        return rng.choice(shared), {"Cookie": session, "HX-Request": junk(rng, size(rng))}

    return [
        long_query,
        long_query,
        odd_values,
        junk_cookie,
        made_up_path,
        many_languages,
        junk_htmx,
    ]


def hostile_load(port: int, screens: list[str], session: str, count: int) -> list[str]:
    """`count` hostile requests from CLIENTS clients at once; the 5xx answers, if any."""
    ways = hostile_requests(screens, session)
    failures: list[str] = []
    lock = threading.Lock()

    def client(seed: int, share: int) -> None:
        rng = random.Random(seed)
        for _ in range(share):
            path, headers = rng.choice(ways)(rng)
            status, _, _ = get(port, path, headers)
            if status >= 500:
                with lock:
                    failures.append(f"{status} {path[:80]} {list(headers)}")

    threads = [
        threading.Thread(target=client, args=(seed, count // CLIENTS)) for seed in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures
