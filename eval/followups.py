"""Follow-up questions: does the second turn of a conversation answer what was asked?

A pair is a first question, an elliptical follow-up (« et pour un mariage ? ») and the
follow-up written as a question that stands alone (what the secretary means). The first
question and the follow-up are asked in one conversation; the stand-alone question is asked
in a new one. The follow-up is right when the text it cites first is among the first three
the stand-alone question cites (`follows`). It repeats when it cites the same first text as
the first question although the stand-alone question does not (`repeats`: the failure this
measures). No reference ids are needed, so the set can be written by someone who never saw
the corpus.

    plume eval suivis --dataset eval/datasets/followups_blind.jsonl
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from assistant.models import Answer
from plume.errors import MalformedDocument

Kind = Literal["new_subject", "same_subject"]
TOP = 3


@dataclass(frozen=True)
class Pair:
    id: str
    first: str
    followup: str
    standalone: str
    kind: Kind


@dataclass(frozen=True)
class PairResult:
    id: str
    kind: Kind
    followup: str
    searched: str  # the follow-up as Plume rewrote it
    first: list[str]
    answer: list[str]
    reference: list[str]

    @property
    def follows(self) -> bool:
        return bool(self.answer) and self.answer[0] in self.reference[:TOP]

    @property
    def repeats(self) -> bool:
        return (
            bool(self.answer and self.first and self.reference)
            and self.answer[0] == self.first[0]
            and self.reference[0] != self.first[0]
        )


def load_pairs(path: Path) -> list[Pair]:
    pairs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            pairs.append(Pair(**{k: raw[k] for k in Pair.__dataclass_fields__}))
        except (ValueError, KeyError, TypeError) as exc:
            raise MalformedDocument(f"{path.name}, ligne {n} : paire invalide ({exc}).") from exc
    return pairs


def cited(answer: Answer) -> list[str]:
    """The texts an answer rests on, in order: its citations, else the closest texts."""
    shown = answer.citations or answer.see_also
    return list(dict.fromkeys(c.doc_id for c in shown))


Ask = Callable[[str, str | None], Answer]  # (question, conversation id) → answer


def run(pairs: list[Pair], ask: Ask) -> list[PairResult]:
    results = []
    for pair in pairs:
        first = ask(pair.first, None)
        followup = ask(pair.followup, first.conversation_id)
        reference = ask(pair.standalone, None)
        results.append(
            PairResult(
                id=pair.id,
                kind=pair.kind,
                followup=pair.followup,
                searched=followup.question or pair.followup,
                first=cited(first),
                answer=cited(followup),
                reference=cited(reference),
            )
        )
    return results


def summary(results: list[PairResult]) -> dict[str, dict[str, float]]:
    """Share of follow-ups that follow and that repeat, by kind and overall."""
    out: dict[str, dict[str, float]] = {}
    for kind in ("new_subject", "same_subject", "all"):
        chosen = [r for r in results if kind in ("all", r.kind)]
        if chosen:
            out[kind] = {
                "paires": len(chosen),
                "suit": round(sum(r.follows for r in chosen) / len(chosen), 3),
                "répète": round(sum(r.repeats for r in chosen) / len(chosen), 3),
            }
    return out


def as_rows(results: list[PairResult]) -> list[dict[str, object]]:
    return [{**asdict(r), "follows": r.follows, "repeats": r.repeats} for r in results]
