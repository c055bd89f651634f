"""The release gate: thresholds per dataset, group and metric, and no regression beyond
tolerance.

`eval/gate.toml` names one or more evaluation sets, each with its thresholds:

    tolerance = 0.02                 # largest drop allowed against the previous run
    max_skipped = 0                  # dataset lines that may be skipped (bad JSON, unknown id)

    [sets.dev]
    dataset = "datasets/dev.jsonl"   # relative to the gate file
    [sets.dev.thresholds.all]
    "recall@10" = 0.80

A file with a top-level `dataset` and `[thresholds.<group>]` is one set, named after its
file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.runtime import Runtime
from eval.evaluation import evaluate
from eval.history import RunRecord
from eval.index import indexed_doc_ids
from eval.report import Report
from plume import REPO_ROOT
from plume.errors import PlumeError

GATE_FILE = REPO_ROOT / "eval" / "gate.toml"


class InvalidGate(PlumeError):
    code = "seuils_invalides"


def _thresholds(raw: Any) -> dict[str, dict[str, float]]:
    return {g: {m: float(v) for m, v in row.items()} for g, row in (raw or {}).items()}


@dataclass(frozen=True)
class GateSet:
    name: str
    dataset: Path
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Gate:
    sets: tuple[GateSet, ...]
    tolerance: float = 0.02
    max_skipped: int = 0

    @property
    def dataset(self) -> Path:
        """The first set's dataset (a gate of one set)."""
        return self.sets[0].dataset

    @classmethod
    def load(cls, path: Path = GATE_FILE) -> Gate:
        try:
            with path.open("rb") as fh:
                raw = tomllib.load(fh)
            if "sets" in raw:
                sets = tuple(
                    GateSet(
                        name,
                        (path.parent / str(row["dataset"])).resolve(),
                        _thresholds(row.get("thresholds")),
                    )
                    for name, row in raw["sets"].items()
                )
            else:
                dataset = (path.parent / str(raw["dataset"])).resolve()
                sets = (GateSet(dataset.stem, dataset, _thresholds(raw.get("thresholds"))),)
            if not sets:
                raise ValueError("aucun jeu d'évaluation")
            return cls(
                sets=sets,
                tolerance=float(raw.get("tolerance", 0.02)),
                max_skipped=int(raw.get("max_skipped", 0)),
            )
        except FileNotFoundError:
            raise InvalidGate(f"Fichier de seuils introuvable : {path}") from None
        except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidGate(f"Fichier de seuils invalide : {path} ({exc})") from None


def failures(report: Report, gate: Gate, gate_set: GateSet | None = None) -> list[str]:
    """Why the release must wait (French, one line each, prefixed by the set's name);
    empty when the gate passes."""
    gate_set = gate_set or gate.sets[0]
    out = []
    summary = report.record.summary
    for group, row in gate_set.thresholds.items():
        for metric, minimum in row.items():
            value = summary.get(group, {}).get(metric)
            if value is None:
                out.append(f"{group} / {metric} : non mesuré (seuil {minimum:.3f})")
            elif value < minimum:
                out.append(f"{group} / {metric} : {value:.3f} sous le seuil {minimum:.3f}")
    for d in report.deltas:
        if d.before - d.after > gate.tolerance and d.metric in gate_set.thresholds.get(d.group, {}):
            out.append(
                f"{d.group} / {d.metric} : régression {d.before:.3f} → {d.after:.3f} "
                f"(tolérance {gate.tolerance:.3f})"
            )
    if report.record.skipped > gate.max_skipped:
        out.append(
            f"{report.record.skipped} ligne(s) du jeu ignorée(s) (au plus {gate.max_skipped})"
        )
    return [f"{gate_set.name} / {line}" for line in out]


def check_release(
    runtime: Runtime, gate: Gate, past: Sequence[RunRecord] = (), skipped_parts: Sequence[str] = ()
) -> tuple[list[Report], list[str]]:
    """Evaluate each of the gate's sets on `runtime` and judge them: (reports, failures)."""
    known = indexed_doc_ids(runtime)
    reports, reasons = [], []
    for gate_set in gate.sets:
        report = evaluate(
            runtime,
            gate_set.dataset,
            known_ids=known,
            past=past,
            tolerance=gate.tolerance,
            skipped_parts=skipped_parts,
        )
        reports.append(report)
        reasons += failures(report, gate, gate_set)
    return reports, reasons
