"""The release gate: thresholds per group and metric, and no regression beyond tolerance.

`eval/gate.toml`:

    dataset = "datasets/dev.jsonl"   # relative to the gate file
    tolerance = 0.02                 # largest drop allowed against the previous run
    max_skipped = 0                  # dataset lines that may be skipped (bad JSON, unknown id)
    [thresholds.all]
    "recall@10" = 0.80
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from eval.evaluation import evaluate
from eval.history import RunRecord
from eval.index import indexed_doc_ids
from eval.report import Report
from plume.errors import PlumeError
from plume.runtime import Runtime
from plume.settings import REPO_ROOT

GATE_FILE = REPO_ROOT / "eval" / "gate.toml"


class InvalidGate(PlumeError):
    code = "seuils_invalides"


@dataclass(frozen=True)
class Gate:
    dataset: Path
    tolerance: float = 0.02
    max_skipped: int = 0
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = GATE_FILE) -> Gate:
        try:
            with path.open("rb") as fh:
                raw = tomllib.load(fh)
            return cls(
                dataset=(path.parent / str(raw["dataset"])).resolve(),
                tolerance=float(raw.get("tolerance", 0.02)),
                max_skipped=int(raw.get("max_skipped", 0)),
                thresholds={
                    g: {m: float(v) for m, v in row.items()}
                    for g, row in raw.get("thresholds", {}).items()
                },
            )
        except FileNotFoundError:
            raise InvalidGate(f"Fichier de seuils introuvable : {path}") from None
        except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InvalidGate(f"Fichier de seuils invalide : {path} ({exc})") from None


def failures(report: Report, gate: Gate) -> list[str]:
    """Why the release must wait (French, one line each); empty when the gate passes."""
    out = []
    summary = report.record.summary
    for group, row in gate.thresholds.items():
        for metric, minimum in row.items():
            value = summary.get(group, {}).get(metric)
            if value is None:
                out.append(f"{group} / {metric} : non mesuré (seuil {minimum:.3f})")
            elif value < minimum:
                out.append(f"{group} / {metric} : {value:.3f} sous le seuil {minimum:.3f}")
    for d in report.deltas:
        if d.before - d.after > gate.tolerance and d.metric in gate.thresholds.get(d.group, {}):
            out.append(
                f"{d.group} / {d.metric} : régression {d.before:.3f} → {d.after:.3f} "
                f"(tolérance {gate.tolerance:.3f})"
            )
    if report.record.skipped > gate.max_skipped:
        out.append(
            f"{report.record.skipped} ligne(s) du jeu ignorée(s) (au plus {gate.max_skipped})"
        )
    return out


def check_release(
    runtime: Runtime, gate: Gate, past: Sequence[RunRecord] = (), skipped_parts: Sequence[str] = ()
) -> tuple[Report, list[str]]:
    """Evaluate the gate's dataset on `runtime` and judge it: (report, failures)."""
    report = evaluate(
        runtime,
        gate.dataset,
        known_ids=indexed_doc_ids(runtime),
        past=past,
        tolerance=gate.tolerance,
        skipped_parts=skipped_parts,
    )
    return report, failures(report, gate)
