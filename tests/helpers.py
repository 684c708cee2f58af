"""Small helpers shared by the test modules."""

HX = {"HX-Request": "true"}


def assert_fragment(response) -> str:
    """An htmx answer: no page shell, and caches told that HX-Request changes it."""
    html = response.get_data(as_text=True)
    assert "<html" not in html
    assert "HX-Request" in response.headers.get("Vary", "")
    return html


def assert_full_page(response) -> str:
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith("<!doctype html>")
    assert "<html" in html
    assert "HX-Request" in response.headers.get("Vary", "")
    return html
