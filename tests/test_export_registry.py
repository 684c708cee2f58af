"""One registry of export formats: the files, the lead's buttons and the command all read it."""

import csv
import io
import json

import pytest

from kiosk.cli import export_command
from kiosk.services import events, exports, signups
from tests.lead_helpers import log_in, set_passphrase


@pytest.mark.parametrize("name", list(exports.FORMATS))
def test_each_format_writes_the_columns_and_extension_it_declares(app, name):
    chosen = exports.FORMATS[name]
    with app.app_context():
        signups.record_signup(first_name="Ana", email="ana@example.org", consent=True)
        event = events.active_event()
        text = "".join(exports.export_chunks(event, name))
        assert exports.export_file_name(event, name).endswith("." + chosen.extension)
    if chosen.media_type == "text/csv":
        header = next(csv.reader(io.StringIO(text.removeprefix(exports.BOM))))
        assert header == list(chosen.columns)
    else:
        assert list(json.loads(text)) == list(chosen.columns)


def test_the_data_page_and_the_command_offer_exactly_the_registry(app, client):
    set_passphrase(app)
    log_in(client)
    html = client.get("/lead/data").get_data(as_text=True)
    for chosen in exports.FORMATS.values():
        assert f'name="format" value="{chosen.name}">{chosen.label}</button>' in html
    assert html.count('name="format" value=') == len(exports.FORMATS)
    [format_option] = [p for p in export_command.params if p.name == "format_name"]
    assert list(format_option.type.choices) == list(exports.FORMATS)


def test_a_download_is_named_and_typed_from_the_registry(app, client):
    set_passphrase(app)
    log_in(client)
    with app.app_context():
        event_id = events.active_event().id
    for chosen in exports.FORMATS.values():
        response = client.post("/lead/export", data={"event": event_id, "format": chosen.name})
        assert response.mimetype == chosen.media_type
        assert f".{chosen.extension}" in response.headers["Content-Disposition"]
        assert response.get_data()
