"""QR codes as SVG, for links the content pack names and nothing else."""

from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import qrcode
import qrcode.image.svg

from kiosk.content import Link


def link_url(link: Link, tracking_source: str) -> str:
    """The link's address, carrying the event's tracking source when the link is tracked."""
    if not link.tracked or not tracking_source:
        return link.url
    parts = urlsplit(link.url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "trackingSource"]
    query.append(("trackingSource", tracking_source))
    return urlunsplit(parts._replace(query=urlencode(query)))


@lru_cache(maxsize=128)
def qr_svg(url: str) -> bytes:
    """An SVG QR code of `url`; cached, since the same few links are asked for all day."""
    return make_svg(url)


def make_svg(text: str) -> bytes:
    """An SVG QR code of `text`, not cached (a hub's join code holds a table's token)."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        border=2,
        image_factory=qrcode.image.svg.SvgPathFillImage,
    )
    code.add_data(text)
    code.make(fit=True)
    return code.make_image().to_string(encoding="unicode").encode()
