"""The admin's static files: collected with hashed names, served compressed and cacheable forever."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client, override_settings

pytestmark = [pytest.mark.integration]

MANIFEST_STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}


def test_hashed_compressed_and_cacheable(tmp_path: Path) -> None:
    with override_settings(STATIC_ROOT=tmp_path, STORAGES=MANIFEST_STORAGES, DEBUG=False):
        call_command("collectstatic", "--no-input", stdout=io.StringIO())
        manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
        hashed = manifest["admin/css/base.css"]
        assert hashed != "admin/css/base.css"  # cache-busting name
        assert (tmp_path / f"{hashed}.gz").exists()
        response = Client().get(f"/static/{hashed}", HTTP_ACCEPT_ENCODING="gzip")
        assert response.status_code == 200
        assert response["Content-Encoding"] == "gzip"
        assert "max-age=315360000" in response["Cache-Control"] and "immutable" in response["Cache-Control"]
