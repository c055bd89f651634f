"""The structure holds: each package imports only those below it (cli, api → eval → assistant →
ingestion → plume), and inside assistant/ the services sit over the chat, the aids and
records over the RAG core, the model and the domain types — function-level imports
included; no package's modules import each other in a circle. The contracts live in pyproject.toml ([tool.importlinter]); ARCHITECTURE.md
draws them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_import_contracts_kept() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "3 kept, 0 broken" in done.stdout


PACKAGES = ("cli", "api", "eval", "assistant", "ingestion", "plume")


def test_every_internal_import_resolves() -> None:
    """Function-level imports run only when their command or route does: a module moved or
    a name renamed would break there, late. Each one must name a module and a name that exist
    (mypy cannot tell: it ignores missing modules)."""
    import ast
    import importlib

    broken = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                    continue
                if node.module.split(".")[0] not in PACKAGES:
                    continue
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                try:
                    module = importlib.import_module(node.module)
                except ImportError as exc:
                    broken.append(f"{where} {node.module}: {exc}")
                    continue
                for alias in node.names:
                    name = alias.name
                    if hasattr(module, name):
                        continue
                    try:
                        importlib.import_module(f"{node.module}.{name}")
                    except ImportError:
                        broken.append(f"{where} {node.module} has no {name}")
    assert not broken, "\n".join(broken)


def test_no_module_over_400_lines() -> None:
    """A module a newcomer can read in one sitting; past 400 lines, split it by what it does."""
    long = {
        str(path.relative_to(ROOT)): n
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert not long, long


# what only services may touch: the index, the retriever, the records database, the
# repositories of the data folder (watch profiles, change journal)
_BEHIND_SERVICES = re.compile(
    r"runtime\.(store|encoder|retriever)\b|\.assistant\.retriever\b|\.records\.db\b"
    r"|\b(ProfileStore|ChangeJournal|open_store)\("
)


def test_edges_call_services_only() -> None:
    """A route or a command calls a service of the runtime and formats its result: it never
    reaches the index or a repository itself (the CLI's `plume cle` keeps the key file,
    which needs no index, so that it works while a server runs)."""
    reaching = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for package in ("api", "cli")
        for path in sorted((ROOT / package).rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if _BEHIND_SERVICES.search(line)
    ]
    assert not reaching, "\n".join(reaching)
