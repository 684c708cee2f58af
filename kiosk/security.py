"""Response headers that lock the browser down: a strict CSP, no sniffing, no referrer,
no powerful features, and no copies of dynamic pages kept by the browser."""

import secrets

from flask import Flask, request
from flask.wrappers import Response

from kiosk import hooks
from kiosk.config import secure_cookies

# Nothing inline, nothing eval'd, nothing from anywhere else: htmx is configured for it
# (templates/base.html) and every style lives in static/css/kiosk.css.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)

# Only features Chromium knows: an unknown name is a console error on every page.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    )
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": PERMISSIONS_POLICY,
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
for _name in SECURITY_HEADERS:
    hooks.header(_name, hooks.FOR_EVERYONE, "the same lock-down on every answer")
hooks.header("Cache-Control", hooks.FOR_EVERYONE, "per view: no-store, no-cache, a static file's")

# Changed after every stored sign-up, pledge or question, and whenever a kiosk page with
# fields is left (kiosk.js posts to /visit/end). Chromium keeps a no-store page in its
# back-forward cache only while no HttpOnly cookie changed, so the next visitor's Back
# cannot bring the previous visitor's page back. (kiosk.js also empties the fields as the
# page is left: the cookie is the second lock, for a page left before its answer.)
VISIT_COOKIE = "kiosk_visit"
# The forms that store a visitor's personal data: once one is stored, that visit is over.
PERSONAL_FORMS = {
    "visitor.signup",
    "visitor.pledge",
    "visitor.ask",
    "visitor.press_request",
    "volunteer.signup",
}


@hooks.for_everyone("constant headers; Cache-Control by endpoint")
def add_security_headers(response: Response) -> Response:
    """Every response: the headers above; every dynamic one: never stored by the browser."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    # Static files keep their own caching; a view that chose a policy (the QR codes) keeps it.
    if request.endpoint != "static" and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    return response


def rotate_visit_cookie(response: Response) -> Response:
    """Give the browser a fresh HttpOnly cookie: the end of one visitor's visit."""
    response.set_cookie(
        VISIT_COOKIE,
        secrets.token_urlsafe(16),
        httponly=True,
        samesite="Lax",
        secure=secure_cookies(),
    )
    return response


def end_visit() -> Response:
    """A kiosk page with fields was left (kiosk.js says so as it goes): a fresh cookie."""
    return rotate_visit_cookie(Response(status=204))


@hooks.for_everyone("acts on a stored form's POST only; a kept screen is a GET")
def end_visit_after_personal_data(response: Response) -> Response:
    """A stored sign-up (303, or 200 for htmx; 422 is a form to fix) rotates the cookie."""
    stored = response.status_code in (200, 303)
    if request.method == "POST" and request.endpoint in PERSONAL_FORMS and stored:
        rotate_visit_cookie(response)
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)
    app.after_request(end_visit_after_personal_data)
    app.add_url_rule("/visit/end", "end_visit", end_visit, methods=["POST"])
