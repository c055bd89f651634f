"""Versioned prompt templates from `prompts/<name>.v<N>.md`; the highest version wins."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path

from plume import REPO_ROOT

PROMPTS_DIR = REPO_ROOT / "prompts"
_FILE = re.compile(r"^(?P<name>[a-z_]+)\.v(?P<version>\d+)\.md$")


@dataclass(frozen=True)
class Prompt:
    name: str
    version: int
    template: str

    @property
    def id(self) -> str:
        """What an answer records, e.g. `answer.v1`."""
        return f"{self.name}.v{self.version}"

    def render(self, **values: str) -> str:
        wanted = {f for _, f, _, _ in string.Formatter().parse(self.template) if f}
        missing = wanted - set(values)
        if missing:
            raise KeyError(f"prompt {self.id} needs {sorted(missing)}")
        return self.template.format(**values).strip()


class PromptBook:
    def __init__(self, prompts: dict[str, Prompt]) -> None:
        self._prompts = prompts

    @classmethod
    def load(cls, folder: Path = PROMPTS_DIR) -> PromptBook:
        latest: dict[str, Prompt] = {}
        for path in sorted(folder.glob("*.md")):
            match = _FILE.match(path.name)
            if not match:
                continue
            prompt = Prompt(match["name"], int(match["version"]), path.read_text(encoding="utf-8"))
            if prompt.name not in latest or prompt.version > latest[prompt.name].version:
                latest[prompt.name] = prompt
        return cls(latest)

    def __getitem__(self, name: str) -> Prompt:
        return self._prompts[name]
