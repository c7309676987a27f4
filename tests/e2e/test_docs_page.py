"""The API docs page works with no internet: Swagger UI from our static files, a schema it can parse.

The browser check (Chromium rendering the operations, offline) is in
tests/integration/test_make_run.py; these are the two causes it found, checked cheaply.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client, override_settings

from tests.integration.test_static_files import MANIFEST_STORAGES

pytestmark = [pytest.mark.e2e]


def _keys_seen_twice(text: str) -> list[str]:
    twice: list[str] = []

    def check(pairs: list[tuple[str, object]]) -> dict[str, object]:
        keys = [key for key, _ in pairs]
        twice.extend(key for key in set(keys) if keys.count(key) > 1)
        return dict(pairs)

    json.loads(text, object_pairs_hook=check)
    return twice


def test_the_schema_names_no_key_twice() -> None:
    """Swagger UI refuses a document with a repeated key ("duplicated mapping key") and shows nothing."""
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert _keys_seen_twice(response.content.decode()) == []


def test_the_docs_load_only_our_own_assets_and_the_deployment_serves_them(tmp_path: Path) -> None:
    """As deployed (DEBUG off, collectstatic's hashed names, WhiteNoise): every asset the page names
    is ours and answers."""
    with override_settings(STATIC_ROOT=tmp_path, STORAGES=MANIFEST_STORAGES, DEBUG=False):
        call_command("collectstatic", "--no-input", stdout=io.StringIO())
        client = Client()
        page = client.get("/api/v1/docs")
        assert page.status_code == 200
        html = page.content.decode()
        assets = re.findall(r'<script src="([^"]+)"', html) + re.findall(r'<link[^>]* href="([^"]+)"', html)
        names = {Path(asset).name.split(".")[0] for asset in assets}
        assert {"swagger-ui-bundle", "swagger-ui-init", "swagger-ui"} <= names, assets
        for asset in assets:
            assert asset.startswith("/static/ninja/"), asset  # no CDN
            response = client.get(asset)
            assert response.status_code == 200, asset
            assert b"".join(response.streaming_content), asset
