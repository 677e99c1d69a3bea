"""Settings from the environment: every value is read strictly, and one that cannot be read stops
the command with an error naming it (docs/configuration.md)."""

from __future__ import annotations

import os
import subprocess

import pytest

from patron.config import SettingError, Settings
from tests.processes import PATRON


def test_values_are_read_as_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("PORT", " 9001 "), ("ACCESS_LOG", "Off"), ("TELEMETRY", "YES"),
                        ("SQLITE_SYNCHRONOUS", "1"), ("CREDENTIAL_CACHE_SECONDS", "2.5")):
        monkeypatch.setenv(f"PATRON_{name}", value)
    settings = Settings.from_env()
    assert (settings.port, settings.access_log, settings.telemetry) == (9001, False, True)
    assert settings.sqlite_synchronous == "NORMAL" and settings.credential_cache_seconds == 2.5


@pytest.mark.parametrize(("name", "value", "says"), [
    ("PORT", "abc", "PATRON_PORT must be a whole number, not 'abc'"),
    ("WORKERS", "2.5", "PATRON_WORKERS must be a whole number, not '2.5'"),
    ("RATE_LIMIT_PER_MINUTE", "-1", "PATRON_RATE_LIMIT_PER_MINUTE must not be negative"),
    ("CREDENTIAL_CACHE_SECONDS", "soon", "PATRON_CREDENTIAL_CACHE_SECONDS must be a number"),
    ("ACCESS_LOG", "maybe", "PATRON_ACCESS_LOG must be true or false, not 'maybe'"),
    ("SQLITE_SYNCHRONOUS", "4", "PATRON_SQLITE_SYNCHRONOUS must be one of OFF, NORMAL, FULL, "
                                "EXTRA (or 0 to 3), not '4'"),
])
def test_a_value_that_cannot_be_read_is_named(monkeypatch: pytest.MonkeyPatch, name: str,
                                              value: str, says: str) -> None:
    monkeypatch.setenv(f"PATRON_{name}", value)
    with pytest.raises(SettingError, match=says.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env()


def test_a_command_stops_with_the_error_not_a_traceback(tmp_path: os.PathLike) -> None:
    env = {**os.environ, "PATRON_DATA_DIR": str(tmp_path), "PATRON_PORT": "abc"}
    ran = subprocess.run([PATRON, "migrate"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert ran.returncode == 2
    assert "PATRON_PORT must be a whole number, not 'abc'" in ran.stderr
    assert "Traceback" not in ran.stderr and "ValueError" not in ran.stderr
