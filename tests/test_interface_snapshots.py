"""The public interface is frozen by snapshots: the API's OpenAPI document and the CLI's
commands with their options. A refactoring keeps both identical; a deliberate change
regenerates them (`UPDATE_SNAPSHOTS=1 pytest tests/test_interface_snapshots.py`) and the
diff shows up in review."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer.main

from api.main import create_app
from cli.main import app as cli_app

SNAPSHOTS = Path(__file__).parent / "snapshots"
ROOT = str(Path(__file__).parents[1])  # a clone's own path is not part of the interface


def _compare(name: str, current: Any) -> None:
    path = SNAPSHOTS / name
    text = json.dumps(current, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{name} absent: UPDATE_SNAPSHOTS=1 pytest {__file__}"
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(text), (
        f"{name} a changé : si c'est voulu, UPDATE_SNAPSHOTS=1 pytest {__file__}"
    )


def _command_tree(command: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "help": (command.help or "").strip().split("\n")[0],
        "params": sorted(
            [
                {
                    "name": p.name,
                    "opts": sorted(p.opts + p.secondary_opts),
                    "required": p.required,
                    "kind": type(p).__name__,
                    "default": None
                    if callable(p.default)
                    else repr(p.default).replace(ROOT, "<racine>"),
                }
                for p in command.params
            ],
            key=lambda p: str(p["name"]),
        ),
    }
    if hasattr(command, "commands"):  # a group (typer's own core, not click's classes)
        node["commands"] = {n: _command_tree(c) for n, c in sorted(command.commands.items())}
    return node


def test_openapi_document_unchanged() -> None:
    _compare("openapi.json", create_app().openapi())


def test_cli_commands_unchanged() -> None:
    _compare("cli.json", _command_tree(typer.main.get_command(cli_app)))
