"""The docs hold what the code does: every setting Patron reads is in docs/configuration.md (and
everything that page names is read), and every dependency is in docs/dependencies.md."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_ONLY = {"PATRON_TEST_DATABASE_URL"}  # read by the test suite (tests/conftest.py)


def _named(text: str) -> set[str]:
    return set(re.findall(r"PATRON_[A-Z0-9_]*[A-Z0-9]", text))


def test_configuration_page_lists_every_setting_read() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "src").rglob("*.py"))
    read = _named(source) | {f"PATRON_{n}" for n in re.findall(r'_env\("(\w+)"', source)}
    documented = _named((ROOT / "docs" / "configuration.md").read_text(encoding="utf-8"))
    assert read - documented == set()
    assert documented - read - TEST_ONLY == set()


def test_dependencies_page_says_why_each_dependency_is_there() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = project["dependencies"] + sum(project["optional-dependencies"].values(), [])
    names = {re.split(r"[\[<>=!~ ;]", spec, maxsplit=1)[0].lower() for spec in wanted}
    page = (ROOT / "docs" / "dependencies.md").read_text(encoding="utf-8").lower()
    assert {n for n in names if n not in page} == set()
