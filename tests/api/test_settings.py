"""ApiSettings from the environment."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from scenescout.api import ApiSettings
from scenescout.config import Settings


@pytest.mark.parametrize("value", ["key-one, key-two", '["key-one", "key-two"]'])
def test_api_keys_are_comma_or_json_separated(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SCENESCOUT_API_KEYS", value)

    assert ApiSettings().api_keys == ["key-one", "key-two"]


def test_plain_settings_gain_the_api_fields_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCENESCOUT_API_KEYS", "k")
    monkeypatch.setenv("SCENESCOUT_API__RATE_LIMIT_BURST", "7")

    settings = ApiSettings.from_settings(Settings(database_url="sqlite:///x.db"))

    assert settings.database_url == "sqlite:///x.db"
    assert settings.api_keys == ["k"]
    assert settings.api.rate_limit_burst == 7


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        ApiSettings(jwt_secret="too-short")
