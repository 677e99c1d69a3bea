"""The docs hold what the code does: docs/configuration.md describes every setting Patron reads
(and reads every setting it names) and every command and flag of `patron`; docs/dependencies.md
says why each dependency is there."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEST_ONLY = {"PATRON_TEST_DATABASE_URL", "PATRON_TEST_REDIS_URL"}  # read by the test suite only


def _named(text: str) -> set[str]:
    return set(re.findall(r"PATRON_[A-Z0-9_]*[A-Z0-9]", text))


def test_configuration_page_lists_every_setting_read() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "src").rglob("*.py"))
    config = (ROOT / "src" / "patron" / "config.py").read_text(encoding="utf-8")
    read = _named(source) | {f"PATRON_{n}" for n in re.findall(  # Settings.from_env's readers
        r"_(?:env|number|flag|choice|url)\(\"(\w+)\"", config)}
    documented = _named((ROOT / "docs" / "configuration.md").read_text(encoding="utf-8"))
    assert read - documented == set()
    assert documented - read - TEST_ONLY == set()


def test_dependencies_page_says_why_each_dependency_is_there() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = project["dependencies"] + sum(project["optional-dependencies"].values(), [])
    names = {re.split(r"[\[<>=!~ ;]", spec, maxsplit=1)[0].lower() for spec in wanted}
    page = (ROOT / "docs" / "dependencies.md").read_text(encoding="utf-8").lower()
    assert {n for n in names if n not in page} == set()


def test_configuration_page_describes_every_command_and_flag() -> None:
    import typer

    from patron.cli import app

    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing: list[str] = []

    def walk(command: Any, words: list[str]) -> None:
        if hasattr(command, "commands"):  # a group: its commands
            for name, sub in command.commands.items():
                walk(sub, [*words, name])
            return
        name = "patron " + " ".join(words)
        flags = [o for p in command.params for o in p.opts if o.startswith("--")]
        missing.extend([name] if f"### `{name}" not in page else [])
        missing.extend(f"{name} {f}" for f in flags if f not in page and f != "--help")

    walk(typer.main.get_command(app), [])
    assert missing == []
