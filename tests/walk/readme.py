"""The README's fenced blocks, and the commands of its ```bash blocks, in order.

Fences follow CommonMark: a block opens on three or more backticks (or tildes) and an
optional language, and closes on a fence of the same character, at least as long, with
nothing after it — so a stray fence shows up as a block that swallows the text after it.
A command is a line of a bash block, with its `\\` continuations joined; blank and
comment-only lines are not commands, and a trailing `# …` is kept apart as its comment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*?)\s*$")


@dataclass(frozen=True)
class Block:
    lang: str  # the fence's info string ("bash", "json", "" …)
    body: str
    line: int  # 1-based line of the opening fence


@dataclass(frozen=True)
class Command:
    text: str  # what the shell runs: continuation lines joined, trailing comment removed
    comment: str  # the README's comment on that line (what it says the command does)
    line: int  # 1-based line where it starts in the README

    @property
    def words(self) -> str:
        """The command with its runs of blanks made one space (what the walk matches)."""
        return " ".join(self.text.split())


def blocks(markdown: str) -> list[Block]:
    found: list[Block] = []
    lines = markdown.splitlines()
    at = 0
    while at < len(lines):
        opening = _FENCE.match(lines[at])
        if opening is None:
            at += 1
            continue
        fence, body = opening["fence"], []
        end = at + 1
        while end < len(lines):
            closing = _FENCE.match(lines[end])
            if (
                closing is not None
                and not closing["info"]
                and closing["fence"][0] == fence[0]
                and len(closing["fence"]) >= len(fence)
            ):
                break
            body.append(lines[end])
            end += 1
        found.append(Block(opening["info"].split(" ")[0], "\n".join(body), at + 1))
        at = end + 1
    return found


def split_comment(line: str) -> tuple[str, str]:
    """(command, comment): a `#` outside quotes, at the start or after a blank, opens it."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1 :].strip()
    return line.rstrip(), ""


def commands(markdown: str) -> list[Command]:
    """Every command of the README's bash blocks, in the README's order."""
    found: list[Command] = []
    for block in blocks(markdown):
        if block.lang != "bash":
            continue
        pending: list[str] = []
        start = 0
        for offset, raw in enumerate(block.body.splitlines()):
            if not pending:
                start = block.line + 1 + offset
            if raw.rstrip().endswith("\\"):
                pending.append(raw.rstrip()[:-1].strip())
                continue
            text, comment = split_comment(" ".join([*pending, raw.strip()]).strip())
            pending = []
            if text:
                found.append(Command(text, comment, start))
    return found
