"""External set: PIAF's service-public questions (Etalab) converted to the dataset format.

`../shared/data/qa/spf_questions_gold_fiche.jsonl` maps 535 questions to their gold fiche.
501 of them are the fiche's own title: those get the tag `titre`, the others `non-titre`,
so the report shows the whole set and the non-title subset separately (`tag:non-titre`).
The converted file is written outside the repository (a derivative of the shared data).
Questions have no reference answer: the answer metrics that need one are left out.
"""

from __future__ import annotations

import json
from pathlib import Path

from eval.index import SHARED_DATA

PIAF_QUESTIONS = SHARED_DATA / "qa" / "spf_questions_gold_fiche.jsonl"


def convert(source: Path = PIAF_QUESTIONS) -> list[dict[str, object]]:
    """PIAF rows → dataset rows (kind `fiche`, gold `vdd/<fiche id>`)."""
    rows = []
    for line in source.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        raw = json.loads(line)
        title = bool(raw.get("question_equals_fiche_title"))
        rows.append(
            {
                "id": f"piaf-{raw['qid']}",
                "question": raw["question"],
                "gold": [f"vdd/{g}" for g in raw["gold_fiche_ids"]],
                "reference": "",
                "kind": "fiche",
                "tags": ["piaf", "titre" if title else "non-titre"],
            }
        )
    return rows


def write(target: Path, source: Path = PIAF_QUESTIONS) -> int:
    rows = convert(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return len(rows)
