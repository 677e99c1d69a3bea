"""Settings from the environment: every value is read strictly, and one that cannot be read stops
the command with an error naming it (docs/configuration.md)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

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
    # float() reads these; a check period of inf would never see a revocation again.
    ("CREDENTIAL_CHECK_SECONDS", "inf", "PATRON_CREDENTIAL_CHECK_SECONDS must be a number"),
    ("CREDENTIAL_CACHE_SECONDS", "nan", "PATRON_CREDENTIAL_CACHE_SECONDS must be a number"),
    ("ACCESS_LOG", "maybe", "PATRON_ACCESS_LOG must be true or false, not 'maybe'"),
    ("SQLITE_SYNCHRONOUS", "4", "PATRON_SQLITE_SYNCHRONOUS must be one of OFF, NORMAL, FULL, "
                                "EXTRA (or 0 to 3), not '4'"),
    ("DATABASE_URL", "mysql://patron:hunter2@db/patron",
     "PATRON_DATABASE_URL must start with postgresql://, postgres:// or sqlite:///, not 'mysql:'"),
    ("LOG_LEVEL", "bogus", "PATRON_LOG_LEVEL must be one of CRITICAL, ERROR, WARNING, INFO, "
                           "DEBUG, TRACE, not 'BOGUS'"),
    # redis-py would refuse it only in each worker, with a traceback; the URL is not repeated.
    ("REDIS_URL", "redis://:hunter2@127.0.0.1:99999/0",
     "PATRON_REDIS_URL must have a port from 0 to 65535 after its host$"),
    ("REDIS_URL", "redis://:hunter2@127.0.0.1:six/0",
     "PATRON_REDIS_URL must have a port from 0 to 65535 after its host$"),
    ("PG_POOL_MAX", "0", "PATRON_PG_POOL_MAX must be at least 1, not '0'"),
    # Without its scheme it would begin every link Patron returns as a relative one.
    ("PUBLIC_URL", "cdp.example.com/patron",
     "PATRON_PUBLIC_URL must start with http:// or https://, not 'cdp.example.com/patron:'"),
    ("PORT", "99999", "PATRON_PORT must be from 1 to 65535, not '99999'"),
    ("PORT", "0", "PATRON_PORT must be from 1 to 65535, not '0'"),
    ("WORKERS", "0", "PATRON_WORKERS must be at least 1, not '0'"),
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


def test_a_refused_database_url_is_not_repeated_past_its_scheme(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATRON_DATABASE_URL", "mysql://patron:hunter2@db/patron")
    with pytest.raises(SettingError) as refused:
        Settings.from_env()
    assert "hunter2" not in str(refused.value)


def test_log_levels_are_uvicorns_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    for given, read in (("Debug", "debug"), ("TRACE", "trace"), ("warning", "warning")):
        monkeypatch.setenv("PATRON_LOG_LEVEL", given)
        assert Settings.from_env().log_level == read


def test_the_pool_sizes_must_be_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATRON_PG_POOL_MAX", "1")
    settings = Settings.from_env()  # the smallest size, unset, gives way
    assert (settings.pg_pool_min, settings.pg_pool_max) == (1, 1)
    monkeypatch.setenv("PATRON_PG_POOL_MIN", "3")
    with pytest.raises(SettingError, match=r"PATRON_PG_POOL_MIN must be at most "
                                           r"PATRON_PG_POOL_MAX \(1\), not 3"):
        Settings.from_env()


def test_the_data_directory_must_be_one_when_it_is_used(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    for under in ("file", "file/patron-data"):
        monkeypatch.setenv("PATRON_DATA_DIR", str(tmp_path / under))
        with pytest.raises(SettingError, match=re.escape(
                f"PATRON_DATA_DIR must be a directory; '{tmp_path / 'file'}' is not one")):
            Settings.from_env()
    monkeypatch.setenv("PATRON_DATA_DIR", str(tmp_path / "new" / "patron-data"))
    assert Settings.from_env().data_dir == tmp_path / "new" / "patron-data"
    # Ignored with a database URL, as documented.
    monkeypatch.setenv("PATRON_DATA_DIR", str(tmp_path / "file"))
    monkeypatch.setenv("PATRON_DATABASE_URL", f"sqlite:///{tmp_path / 'patron.db'}")
    assert Settings.from_env().database_url == f"sqlite:///{tmp_path / 'patron.db'}"


@pytest.mark.parametrize(("name", "value", "says"), [
    ("DATABASE_URL", "mysql://db/patron", "PATRON_DATABASE_URL must start with"),
    ("LOG_LEVEL", "bogus", "PATRON_LOG_LEVEL must be one of"),
    ("PG_POOL_MAX", "0", "PATRON_PG_POOL_MAX must be at least 1"),
    ("PG_POOL_MIN", "5", "PATRON_PG_POOL_MIN must be at most PATRON_PG_POOL_MAX (4)"),
    ("PORT", "99999", "PATRON_PORT must be from 1 to 65535"),
    ("WORKERS", "0", "PATRON_WORKERS must be at least 1"),
    ("DATA_DIR", "file", "PATRON_DATA_DIR must be a directory"),
])
def test_a_setting_out_of_bounds_stops_the_command_before_it_starts(
        tmp_path: Path, name: str, value: str, says: str) -> None:
    (tmp_path / "file").write_text("")
    env = {**os.environ, "PATRON_DATA_DIR": str(tmp_path / "data"),
           f"PATRON_{name}": str(tmp_path / value) if name == "DATA_DIR" else value}
    if name != "DATABASE_URL":
        env.pop("PATRON_DATABASE_URL", None)
    ran = subprocess.run([PATRON, "serve"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert ran.returncode == 2
    assert f"error: {says}" in ran.stderr
    assert "Traceback" not in ran.stderr and not (tmp_path / "data").exists()


@pytest.mark.parametrize(("url", "says"), [
    # No server there (a port nothing listens on).
    ("postgresql://patron:hunter2@127.0.0.1:1/patron", "Connect call failed"),
    # A directory that cannot be made: under a file.
    ("sqlite:///{tmp}/file/data/patron.db", "cannot create the directory"),
    # A file that is no database.
    ("sqlite:///{tmp}/file", "file is not a database"),
])
def test_a_database_that_cannot_be_opened_stops_the_command_with_why(
        tmp_path: Path, url: str, says: str) -> None:
    (tmp_path / "file").write_text("not a database" * 100)
    env = {**os.environ, "PATRON_DATABASE_URL": url.format(tmp=tmp_path)}
    for command in ("migrate", "serve"):
        ran = subprocess.run([PATRON, command], env=env, capture_output=True, text=True,
                             timeout=60)
        assert ran.returncode == 2, ran.stderr
        assert ran.stderr.startswith("error: cannot open the database: ") and says in ran.stderr
        assert "Traceback" not in ran.stderr and "hunter2" not in ran.stderr


@pytest.mark.parametrize(("flag", "value"), [("--port", "99999"), ("--port", "0"),
                                             ("--workers", "0")])
def test_the_server_flags_keep_the_rules_of_their_settings(tmp_path: Path, flag: str,
                                                           value: str) -> None:
    env = {**os.environ, "PATRON_DATA_DIR": str(tmp_path / "data")}
    env.pop("PATRON_DATABASE_URL", None)
    ran = subprocess.run([PATRON, "serve", flag, value], env=env, capture_output=True,
                         text=True, timeout=60)
    assert ran.returncode == 2
    assert f"Invalid value for '{flag}'" in ran.stderr and "Traceback" not in ran.stderr
    assert not (tmp_path / "data").exists()
