"""The newcomer's shell for the README walk: a data folder shaped like `make run`'s, the
server it serves, and commands run as typed (bash, in a working folder of their own).

- Packages: the fiches package holds the tests' mini corpus (tests/conftest.py); the other
  packages (legi-data, its previous snapshot, the LexHub history, the geographic code, the
  DSFR) are symlinks to those `make test` fetched into the repository's `.plume/packages`,
  read only.
- The shell has the virtual environment activated (`source .venv/bin/activate`, as the
  README offers), its own working folder, and no `PLUME_*` variable but the data folder and
  the few the walk states (`Shell.env`).
- The server is `plume serve` on a free loopback port; `localhost:8000` in a command is
  rewritten to it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from plume import REPO_ROOT, packages

VENV_BIN = REPO_ROOT / ".venv" / "bin"
FETCHED = REPO_ROOT / ".plume" / "packages"
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@dataclass
class Done:
    command: str  # as run, after the walk's rewrites and substitutions
    code: int
    out: str
    err: str
    seconds: float

    @property
    def said(self) -> str:
        """stdout then stderr, their runs of blanks made one space (rich wraps lines)."""
        return " ".join(f"{self.out}\n{self.err}".split())

    def json(self) -> Any:
        return json.loads(self.out)

    def __str__(self) -> str:
        return f"$ {self.command}\n→ {self.code}\n{self.out[-3000:]}\n{self.err[-3000:]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def missing_inputs() -> str | None:
    """Why the walk cannot run here, or None: it needs the fetched packages and ../shared/data."""
    corpus = REPO_ROOT / "corpus"
    wanted = [FETCHED / p.folder_name for p in packages.load_manifest(corpus).values()]
    wanted += [SHARED_DATA / "aides_territoires", SHARED_DATA / "municipal_documents"]
    absent = [str(p) for p in wanted if not p.exists()]
    if not list(FETCHED.glob("lexhub-*.git")):
        absent.append(str(FETCHED / "lexhub-*.git"))
    if absent:
        return "absent (make test fetches the packages; ../shared/data): " + ", ".join(absent)
    return None


@dataclass
class Shell:
    root: Path
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(init=False)
    memo: dict[str, Any] = field(default_factory=dict)  # what a step leaves to a later one
    server: subprocess.Popen[bytes] | None = None
    served_env: dict[str, str] = field(default_factory=dict)  # the env it was started with

    def __post_init__(self) -> None:
        self.data = self.root / "data"
        self.cwd = self.root / "shell"
        self.cwd.mkdir(parents=True)
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("PLUME_")}
        self.env = inherited | {
            "PATH": f"{VENV_BIN}:{inherited.get('PATH', '')}",  # the venv activated
            "VIRTUAL_ENV": str(VENV_BIN.parent),
            "PLUME_DATA_DIR": str(self.data),
            "COLUMNS": "200",  # rich wraps at 80 columns when not on a terminal
            "PYTHONIOENCODING": "utf-8",
            "DO_NOT_TRACK": "true",
        }

    # --- the data folder ------------------------------------------------------------------

    def lay_packages(self, fiches: Callable[[Path], object]) -> None:
        """`<data>/packages` as `plume corpus fetch` leaves it: the fiches package written by
        `fiches(folder)` (with the fetched package's completion marker), the other pinned
        packages and the LexHub history links to the fetched ones."""
        target = self.data / "packages"
        target.mkdir(parents=True)
        for name, pkg in packages.load_manifest(REPO_ROOT / "corpus").items():
            fetched = FETCHED / pkg.folder_name
            if name == "service-public":
                fiches(target / pkg.folder_name / "package")
                marker = fetched / packages.COMPLETE
                shutil.copyfile(marker, target / pkg.folder_name / packages.COMPLETE)
            else:
                (target / pkg.folder_name).symlink_to(fetched)
        for history in FETCHED.glob("lexhub-*.git"):
            (target / history.name).symlink_to(history)

    def make(self, target: str, timeout: float = 600) -> Done:
        """A target of the project's Makefile, run from the shell's folder (away from a
        developer's `.env`): its paths are given absolute."""
        command = [
            "make",
            "--no-print-directory",
            "-f",
            str(REPO_ROOT / "Makefile"),
            f"PLUME={VENV_BIN / 'plume'}",
            f"SHARED_AIDES={SHARED_DATA / 'aides_territoires'}",
            target,
        ]
        return self._run(command, " ".join(command), self.env, timeout)

    # --- commands --------------------------------------------------------------------------

    def rewrite(self, text: str) -> str:
        """The README's address of the server is the walk's."""
        return re.sub(r"\blocalhost:8000\b", f"127.0.0.1:{self.port}", text)

    def sh(self, text: str, timeout: float = 300, **env: str) -> Done:
        """`text` run by bash, as typed in the shell (quotes, globs, `$VARIABLES`)."""
        return self._run(["bash", "-c", text], text, self.env | env, timeout)

    def _run(self, argv: list[str], shown: str, env: dict[str, str], timeout: float) -> Done:
        started = time.monotonic()
        proc = subprocess.run(
            argv,
            cwd=self.cwd,
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
            check=False,
        )
        seconds = time.monotonic() - started
        return Done(shown, proc.returncode, proc.stdout, proc.stderr, seconds)

    # --- the server ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def serving(self) -> bool:
        return self.server is not None and self.server.poll() is None

    def start(self) -> None:
        """`plume serve` with the shell's environment; back once /healthz answers."""
        self.stop()
        log = (self.root / "serve.log").open("ab")
        self.served_env = dict(self.env)
        self.server = subprocess.Popen(
            [str(VENV_BIN / "plume"), "serve", "--port", str(self.port)],
            cwd=self.cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 120
        while True:
            if self.server.poll() is not None:
                log_text = (self.root / "serve.log").read_text(errors="replace")
                raise AssertionError(f"plume serve exited early:\n{log_text[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("plume serve did not answer /healthz within 120 s")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.server is None:
            return
        self.server.terminate()
        try:
            self.server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()
        self.server = None
