"""What the deployment tests (tests/test_deploy*.py) compare the recipes with: Plume's own
settings, routes and commands, read from the code, not restated."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import typer.main
import yaml
from pydantic import SecretStr

from plume.settings import Settings

ROOT = Path(__file__).parents[1]
DEPLOY = ROOT / "deploy"

# Settings the recipes use before the commit that adds them lands (issue 22's other items):
# empty once every name below is in plume/settings.py. A name listed here that exists
# already fails `test_pending_names_are_still_pending`, so the list cannot go stale.
PENDING_SETTINGS: frozenset[str] = frozenset()
PENDING_COMMANDS: frozenset[str] = frozenset()


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@cache
def plume_variables() -> frozenset[str]:
    """Every PLUME_ variable Plume reads: one per field of Settings."""
    return frozenset(f"PLUME_{name.upper()}" for name in Settings.model_fields)


@cache
def secret_variables() -> frozenset[str]:
    """The PLUME_ variables holding secrets (SecretStr fields): never written in a recipe."""
    return frozenset(
        f"PLUME_{name.upper()}"
        for name, field in Settings.model_fields.items()
        if SecretStr in (getattr(field.annotation, "__args__", None) or (field.annotation,))
    )


@cache
def app_paths() -> frozenset[str]:
    """The paths the API serves, as its OpenAPI document lists them."""
    from api.main import create_app

    return frozenset(create_app().openapi()["paths"])


@cache
def plume_commands() -> frozenset[str]:
    """Every `plume …` command line prefix: « serve », « db upgrade », « corpus fetch »…"""
    from cli.main import app

    found: set[str] = set()

    def walk(command: Any, prefix: str) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            found.add(f"{prefix}{name}")
            walk(sub, f"{prefix}{name} ")

    walk(typer.main.get_command(app), "")
    return frozenset(found)


def commands_in(script: str) -> list[str]:
    """The `plume` command of each line of a shell script: its words before any option or
    argument that is not a subcommand (« plume ingest legi --if-empty » → « ingest »)."""
    found = []
    for line in script.splitlines():
        match = re.search(r"(?:^|[;&|]\s*|then\s+)plume\s+([a-z][a-z-]*(?:\s+[a-z][a-z-]*)?)", line)
        if match:
            words = match.group(1).split()
            two = " ".join(words[:2])
            found.append(two if two in plume_commands() or two in PENDING_COMMANDS else words[0])
    return found


def unknown_variables(names: set[str]) -> set[str]:
    return {n for n in names if n.startswith("PLUME_")} - plume_variables() - PENDING_SETTINGS
