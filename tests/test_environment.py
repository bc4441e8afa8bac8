"""Setup files agree with each other, and the code is lint-clean."""

import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def pyproject_pins() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = set(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        pins |= set(extra)
    return pins


def test_environment_yml_lists_the_same_pins_as_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert {p for p in pip if not p.startswith("-e")} == pyproject_pins()
    assert "python=3.11" in env["dependencies"]


def test_torch_is_pinned_everywhere():
    assert "torch==2.13.0" in pyproject_pins()
    assert '"torch==2.13.0"' in (ROOT / "Makefile").read_text()


def test_ruff_lint_and_format_are_clean():
    for args in (["check", "lmcore", "tests"], ["format", "--check", "lmcore", "tests"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
