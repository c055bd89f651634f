"""Evaluation: datasets, metrics, the dev set's gold ids, reports, the release gate."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from assistant.models import Passage
from assistant.rag.regimes import Place
from assistant.rag.retrieval import Retriever
from assistant.runtime import Runtime
from cli.main import app
from eval import history, metrics, piaf
from eval.corpus_ids import missing_gold_ids
from eval.dataset import KINDS, InvalidDataset, load_dataset
from eval.gate import Gate, check_release
from eval.index import (
    MUNICIPAL,
    IndexPart,
    default_parts,
    ensure_index,
    eval_settings,
    indexed_doc_ids,
)
from eval.report import write
from ingestion import lexhub
from ingestion.fiches import load_fiche_tree, parse_fiche
from ingestion.local_vectors import coverage
from plume import REPO_ROOT
from plume.documents import tenant_doc_id
from plume.settings import Settings
from plume.store import SearchFilter
from tests.conftest import SHARED_DATA

DEV_SET = REPO_ROOT / "eval" / "datasets" / "dev.jsonl"


def _jsonl(path: Path, rows: Sequence[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _row(id_: str, gold: list[str], kind: str = "fiche", **extra: object) -> dict[str, object]:
    row = {"id": id_, "question": f"question {id_} ?", "gold": gold, "reference": "", "kind": kind}
    return row | extra


# --- datasets --------------------------------------------------------------------------------


def test_bad_lines_are_reported_with_their_number_and_the_rest_is_kept(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "set.jsonl",
        [
            _row("ok", ["vdd/F1"]),
            '{"id": "broken", "question": ',
            _row("unknown", ["vdd/F404"]),
            _row("nokind", ["vdd/F1"], kind="poème"),
            {"id": "noquestion", "gold": [], "kind": "refusal"},
            _row("ok", ["vdd/F1"]),
            _row("dated", [], kind="refusal", as_of="2015-13-01"),
            _row("refus", [], kind="refusal", as_of="2015-06-01", tenant="flaux"),
        ],
    )
    dataset = load_dataset(path, {"vdd/F1"}.__contains__)
    assert [i.id for i in dataset.items] == ["ok", "refus"]
    assert dataset.items[1].as_of == date(2015, 6, 1) and dataset.items[1].expects_refusal
    problems = {p.line: p.message for p in dataset.problems}
    assert sorted(problems) == [2, 3, 4, 5, 6, 7]
    assert problems[2].startswith("JSON invalide")
    assert problems[3] == "identifiant inconnu : vdd/F404"
    assert "poème" in problems[4] and "question" in problems[5]
    assert "répété" in problems[6] and "AAAA-MM-JJ" in problems[7]
    assert str(dataset.problems[0]).startswith("ligne 2 : ")


def test_a_missing_dataset_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidDataset, match="introuvable"):
        load_dataset(tmp_path / "absent.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(InvalidDataset, match="vide"):
        load_dataset(tmp_path / "empty.jsonl")


# --- metrics ---------------------------------------------------------------------------------


def test_retrieval_scores_by_hand() -> None:
    ranked = ["a", "g1", "b", "c", "d", "e", "g2"]
    s = metrics.retrieval_scores(ranked, ["g1", "g2"])
    assert s["recall@1"] == 0 and s["recall@5"] == 0.5 and s["recall@10"] == 1.0
    assert s["mrr@10"] == 0.5
    ideal = 1 + 1 / 1.584962500721156
    assert s["ndcg@10"] == pytest.approx((1 / 1.584962500721156 + 1 / 3) / ideal)
    assert metrics.retrieval_scores(["x"], ["g"])["mrr@10"] == 0.0


def test_plume_metrics() -> None:
    assert metrics.citation_precision(["a", "b", "b"], ["a"]) == 0.5
    assert metrics.citation_precision([], ["a"]) is None
    assert metrics.refusal_correct("refusal", []) == 1.0
    assert metrics.refusal_correct("extractive", []) == 0.0
    assert metrics.refusal_correct("refusal", ["a"]) == 0.0
    day = date(2015, 6, 1)
    cited: list[dict[str, Any]] = [
        {"kind": "article", "in_force_from": "2010-01-01", "in_force_to": None},
        {"kind": "article", "in_force_from": "2016-01-01", "in_force_to": None},
        {"kind": "article", "in_force_from": "2000-01-01", "in_force_to": "2015-06-01"},
        {"kind": "fiche"},
    ]
    assert metrics.date_correctness(cited, day) == pytest.approx(1 / 3)
    assert metrics.date_correctness([{"kind": "fiche"}], day) is None
    assert metrics.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert metrics.percentile([], 95) == 0.0


# --- the dev set -----------------------------------------------------------------------------


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if c.isalnum())


def test_the_dev_set_is_large_valid_and_covers_every_kind() -> None:
    dataset = load_dataset(DEV_SET)
    assert not dataset.problems
    kinds = {k: sum(i.kind == k for i in dataset.items) for k in KINDS}
    assert len(dataset.items) >= 150
    assert kinds["legal"] >= 30 and kinds["fiche"] >= 30 and kinds["aide"] >= 20
    assert kinds["refusal"] >= 15 and kinds["document"] >= 12
    assert all(i.reference for i in dataset.items)
    assert all(i.expects_refusal == (i.kind == "refusal") for i in dataset.items)
    # a commune's documents are asked from that commune; the same questions asked from
    # another commune (or none) must find nothing: isolation
    documents = [i for i in dataset.items if i.kind == "document"]
    assert all(i.tenant and g.startswith(f"doc/{i.tenant}/") for i in documents for g in i.gold)
    isolation = [i for i in dataset.items if "isolation" in i.tags]
    assert len(isolation) >= 2 and all(i.kind == "refusal" for i in isolation)
    asked = {i.question: i.tenant for i in documents}
    assert any(i.question in asked for i in isolation)
    assert all(asked.get(i.question, "-") != i.tenant for i in isolation)


def _with_current_codes() -> Settings:
    """The project's settings, when the codes of today (LexHub) are fetched; else skip."""
    settings = Settings()
    pin = lexhub.load_pin(settings.corpus_dir)
    if not settings.packages_dir.is_dir():
        pytest.skip("packages not fetched: run `plume corpus fetch` (make test does)")
    if pin is None or lexhub.fetched(settings.packages_dir, pin) is None:
        pytest.skip(f"LexHub history not fetched ({pin.bundle if pin else '?'} absent)")
    return settings


def test_every_gold_id_of_the_dev_set_is_in_the_real_corpora() -> None:
    settings = _with_current_codes()
    gold = {g for item in load_dataset(DEV_SET).items for g in item.gold}
    documents = {g for g in gold if g.startswith("doc/")}
    assert missing_gold_ids(gold - documents, settings) == set()
    if (SHARED_DATA / MUNICIPAL).is_dir():  # doc ids are content hashes of the shared files
        files = [(p.tenant, f) for p in default_parts() if p.tenant for f in p.files()]
        assert documents <= {tenant_doc_id(str(t), f.read_bytes()) for t, f in files}
    assert missing_gold_ids({"vdd/F0", "legi/LEGITEXT000031366350/L0", "aide/x"}, settings) == {
        "vdd/F0",
        "legi/LEGITEXT000031366350/L0",
        "aide/x",
    }


@pytest.mark.parametrize("name,tag", [("heldout", "heldout"), ("heldout2", "heldout-2")])
def test_heldout_sets_are_legal_and_their_gold_articles_exist(name: str, tag: str) -> None:
    """The held-out sets (written blind to the retrieval levers) measure what the dev set
    cannot: a gold id that names no article would silently count as a miss."""
    dataset = load_dataset(REPO_ROOT / "eval" / "datasets" / f"{name}.jsonl")
    assert not dataset.problems and len(dataset.items) >= 40
    assert all(i.kind == "legal" and i.reference and tag in i.tags for i in dataset.items)
    # an article answers each; a fiche that states the same answer may have been added on
    # reading the results (pooling, tag gold-pooled: eval/README)
    assert all(i.gold[0].startswith("legi/") for i in dataset.items)
    assert all(
        g.startswith("legi/") or "gold-pooled" in i.tags for i in dataset.items for g in i.gold
    )
    # every code is asked as it stands today (the CGCT and Code électoral from LexHub)
    assert all(item.as_of is None for item in dataset.items)
    settings = _with_current_codes()
    gold = {g for item in dataset.items for g in item.gold}
    assert missing_gold_ids(gold, settings) == set()


@pytest.mark.parametrize(
    "name,least",
    [
        ("heldout3", {"legal": 30, "fiche": 30, "aide": 15, "refusal": 15}),
        ("dev2", {"legal": 30, "fiche": 30, "aide": 15, "refusal": 15}),
    ],
)
def test_the_situational_sets_are_valid_balanced_and_their_gold_exists(
    name: str, least: dict[str, int]
) -> None:
    """heldout3 (blind) and dev2 (tuning): a secretary's situations, every kind, gold
    documents that exist in today's texts."""
    dataset = load_dataset(REPO_ROOT / "eval" / "datasets" / f"{name}.jsonl")
    assert not dataset.problems
    kinds = {k: sum(i.kind == k for i in dataset.items) for k in KINDS}
    assert all(kinds[k] >= n for k, n in least.items()), kinds
    assert all(i.reference and (i.kind == "refusal") == (not i.gold) for i in dataset.items)
    assert all(item.as_of is None for item in dataset.items)  # today's law
    settings = _with_current_codes()
    gold = {g for item in dataset.items for g in item.gold}
    assert missing_gold_ids(gold, settings) == set()


def test_no_dev_question_is_the_title_of_its_fiche(vdd_root: Path) -> None:
    for item in load_dataset(DEV_SET).items:
        for gold in (g for g in item.gold if g.startswith("vdd/")):
            path = next((vdd_root / "data").glob(f"*/{gold.removeprefix('vdd/')}.json"))
            fiche = parse_fiche(load_fiche_tree(path.read_bytes(), path.name))
            assert fiche.title and _fold(item.question) != _fold(fiche.title), item.id


# --- PIAF ------------------------------------------------------------------------------------


def test_piaf_questions_convert_with_the_title_subset_tagged(tmp_path: Path) -> None:
    if not piaf.PIAF_QUESTIONS.is_file():
        pytest.skip(f"{piaf.PIAF_QUESTIONS} absent (../shared/data)")
    assert piaf.write(tmp_path / "piaf.jsonl") == 535
    dataset = load_dataset(tmp_path / "piaf.jsonl")
    tags = [i.tags[1] for i in dataset.items]
    assert tags.count("titre") == 501 and tags.count("non-titre") == 34
    assert all(g.startswith("vdd/F") for i in dataset.items for g in i.gold)


# --- reports and history ---------------------------------------------------------------------


def _record(recall: float, commit: str = "abc") -> history.RunRecord:
    return history.RunRecord(
        dataset="dev",
        dataset_sha="x",
        commit=commit,
        corpora={"service-public": ["1.0"]},
        config={"retrieval": "sparse", "judge": None, "answers": "extractive"},
        questions=2,
        skipped=0,
        summary={"all": {"n": 2.0, "recall@5": recall, "latency_p95_s": 0.1}},
    )


def test_history_compares_like_with_like_and_flags_regressions(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    history.append(_record(0.9, "one"), path)
    other = _record(0.1, "hybrid")
    other.config = {**other.config, "retrieval": "hybrid"}
    history.append(other, path)
    runs = history.load(path)
    now = _record(0.85, "two")
    before = history.previous(now, runs)
    assert before is not None and before.commit == "one"
    [delta] = [d for d in history.compare(now, before, 0.02) if d.metric == "recall@5"]
    assert delta.regression and delta.change == pytest.approx(-0.05)
    assert not any(d.regression for d in history.compare(now, before, 0.1))
    # other questions, or another corpus (today's codes instead of 2015's): a new baseline
    edited = _record(0.85, "three")
    edited.dataset_sha = "y"
    recorpused = _record(0.85, "four")
    recorpused.corpora = {"service-public": ["1.0"], "legi": ["lexhub@2023-12-06"]}
    assert history.previous(edited, runs) is None and history.previous(recorpused, runs) is None
    with path.open("a") as fh:
        fh.write('{"dataset": "dev"}\n')
    with pytest.raises(history.InvalidHistory, match="ligne 3"):
        history.load(path)


# --- the gate, on a small real index ---------------------------------------------------------

MINI_SET = [
    ("deces", "comment obtenir une copie de l'acte de décès de ma grand-mère ?", ["vdd/F1444"]),
    ("naissance", "un papier qui prouve la naissance de mon père avec ses parents", ["vdd/F1427"]),
    ("concession", "combien de temps dure une concession au cimetière ?", ["vdd/F31001"]),
    (
        "recensement",
        "mon fils a 16 ans, il doit passer en mairie pour le recensement ?",
        ["vdd/F870"],
    ),
    ("chien", "mon chien est classé en catégorie 1, quel permis demander ?", ["vdd/F1839"]),
    ("pacs", "on voudrait se pacser, ça se fait à la mairie ?", ["vdd/F1618"]),
    ("association", "nous créons une association, comment la déclarer ?", ["vdd/F1119"]),
    (
        "terrain",
        "avant d'acheter un terrain, comment savoir si on pourra construire ?",
        ["vdd/F1633"],
    ),
    ("meteo", "quel temps fera-t-il samedi pour la brocante ?", []),
]


class ReversedRetriever(Retriever):
    """Deliberately degraded retrieval: the best passages come last."""

    def search(
        self,
        question: str,
        where: SearchFilter,
        limit: int = 8,
        *,
        place: Place | None = None,
        context: str = "",
    ) -> list[Passage]:
        found = super().search(question, where, limit, place=place, context=context)
        return [Passage(n, p.score, p.hit) for n, p in enumerate(reversed(found), start=1)]


@pytest.fixture
def mini_runtime(settings: Settings, mini_corpus: Path) -> Iterator[Runtime]:
    said: list[str] = []
    sparse = settings.model_copy(update={"local_dense": False})  # e5 of 680 passages: too slow
    runtime, skipped = ensure_index(
        eval_settings(sparse), [IndexPart("service-public", mini_corpus)], said.append
    )
    assert skipped == [] and said == ["Indexation de l'évaluation : service-public (mini)…"]
    yield runtime
    runtime.close()


def test_a_communes_documents_are_indexed_for_it_alone_and_once(
    settings: Settings, tmp_path: Path
) -> None:
    folder = SHARED_DATA / MUNICIPAL / "couthenans_haute_saone"
    if not folder.is_dir():
        pytest.skip(f"{folder} absent (../shared/data)")
    part = IndexPart("documents", folder, tenant="70184", glob="CR_reunion_202111*.pdf")
    assert [f.name for f in part.files()] == ["CR_reunion_20211105.pdf", "CR_reunion_20211126.pdf"]
    said: list[str] = []
    runtime, skipped = ensure_index(eval_settings(settings), [part], said.append)
    try:
        ids = {tenant_doc_id("70184", f.read_bytes()) for f in part.files()}
        assert skipped == [] and indexed_doc_ids(runtime) == ids
        assert indexed_doc_ids(runtime, tenants=["34172"]) == set()
        question = "qui remplace la société Schori pour le déneigement ?"
        ask = runtime.assistant.search
        found = ask(question, SearchFilter(tenants=["70184"]), 5)
        assert found and found[0].doc_id in ids and found[0].hit.payload.get("page") == 1
        passages = runtime.store.count(
            SearchFilter(tenants=["70184"], fields={"tenant": ["70184"]})
        )
        assert passages > 0 and coverage(runtime.store).done == passages
        assert ask(question, SearchFilter(tenants=["34172"]), 5) == []
    finally:
        runtime.close()
    runtime, _ = ensure_index(eval_settings(settings), [part], said.append)
    runtime.close()  # unchanged files: not ingested again, their e5 vectors not computed again
    assert said == [
        "Indexation de l'évaluation : documents (couthenans_haute_saone) 70184…",
        f"Vecteurs e5 de l'évaluation : {passages} passages…",
    ]
    absent = IndexPart("documents", tmp_path / "none", tenant="30110", glob="*.pdf")
    runtime, skipped = ensure_index(eval_settings(settings), [absent])
    runtime.close()
    assert skipped == ["documents (none) 30110"]


def _gate(tmp_path: Path) -> Gate:
    rows = [
        {"id": i, "question": q, "gold": g, "reference": "…", "kind": "fiche" if g else "refusal"}
        for i, q, g in MINI_SET
    ]
    _jsonl(tmp_path / "mini.jsonl", rows)
    (tmp_path / "gate.toml").write_text(
        'dataset = "mini.jsonl"\ntolerance = 0.02\n'
        '[thresholds.all]\n"recall@5" = 0.7\n"mrr@10" = 0.6\n"refusal_accuracy" = 0.5\n'
    )
    return Gate.load(tmp_path / "gate.toml")


def test_the_gate_passes_then_fails_when_retrieval_is_degraded(
    mini_runtime: Runtime, tmp_path: Path
) -> None:
    gate = _gate(tmp_path)
    (report,), failures = check_release(mini_runtime, gate)
    summary = report.record.summary
    assert failures == [], summary["all"]
    assert summary["fiche"]["n"] == 8 and summary["refusal"]["n"] == 1
    assert summary["all"]["recall@5"] >= 0.7
    paths = write(report, tmp_path / "report")
    assert "| fiche | 8 |" in paths["markdown"].read_text()
    assert "<svg" in paths["html"].read_text() and (tmp_path / "report" / "bars.png").is_file()

    assistant = mini_runtime.assistant
    degraded = ReversedRetriever(assistant.retriever.store, assistant.retriever.encoder)
    assistant.retriever = assistant.chat.retriever = degraded
    (worse,), failures = check_release(mini_runtime, gate, past=[report.record])
    assert worse.record.summary["all"]["mrr@10"] < summary["all"]["mrr@10"]
    assert any(f.startswith("mini / all / mrr@10 : ") and "sous le seuil" in f for f in failures)
    assert any("régression" in f for f in failures)
    assert worse.regressions


def test_the_gate_fails_on_skipped_lines(mini_runtime: Runtime, tmp_path: Path) -> None:
    gate = _gate(tmp_path)
    with (tmp_path / "mini.jsonl").open("a") as fh:
        fh.write(
            '{"id": "x", "question": "q ?", "gold": ["vdd/F404"], "kind": "fiche"}\nnot json\n'
        )
    (report,), failures = check_release(mini_runtime, gate)
    assert [p.line for p in report.problems] == [10, 11]
    assert "mini / 2 ligne(s) du jeu ignorée(s) (au plus 0)" in failures


def test_a_bad_gate_file_is_a_clear_error_in_french(tmp_path: Path) -> None:
    (tmp_path / "gate.toml").write_text("tolerance = [")
    result = CliRunner().invoke(app, ["eval", "gate", "--gate", str(tmp_path / "gate.toml")])
    assert result.exit_code == 1
    assert "Fichier de seuils invalide" in result.output
    result = CliRunner().invoke(app, ["eval", "gate", "--gate", str(tmp_path / "none.toml")])
    assert result.exit_code == 1 and "introuvable" in result.output


def test_what_the_secretary_gets_is_counted_from_the_answer_the_pistes_and_the_texts_beside() -> (
    None
):
    gold = ["vdd/F1427"]
    right = metrics.answer_outcome("extractive", ["vdd/F1427"], gold, "elevee")
    assert (right["answered_gold"], right["shown_gold"], right["also_gold"]) == (1.0, 1.0, 0.0)
    assert right["right@elevee"] == 1.0 and right["level_elevee"] == 1.0
    beside = metrics.answer_outcome("extractive", ["vdd/F1"], gold, "moyenne", also=gold)
    assert (beside["answered_gold"], beside["answered_wrong"]) == (0.0, 1.0)
    assert (beside["shown_gold"], beside["also_gold"]) == (1.0, 1.0)
    assert beside["right@moyenne"] == 0.0  # the level judges the answer, not what is beside
    pistes = metrics.answer_outcome("pistes", ["vdd/F1427"], gold, "faible")
    assert (pistes["answered_gold"], pistes["pistes_gold"], pistes["shown_gold"]) == (0.0, 1.0, 1.0)
    assert pistes["also_gold"] is None
    refused = metrics.answer_outcome("refusal", [], [], None)
    assert refused["shown_gold"] is None and refused["level_faible"] is None
