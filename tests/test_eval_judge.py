"""ragas' LLM-judged metrics against the fake Mistral server (OpenAI-compatible API)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from eval.answers import JUDGED_METRICS, OFFLINE_METRICS, AnswerSample, build_judge, score_answers
from eval.evaluation import evaluate
from eval.index import IndexPart, ensure_index, eval_settings, indexed_doc_ids
from plume.settings import Settings
from tests.fakes.judge import schema_reply
from tests.fakes.mistral import CHAT, EMBEDDINGS, FakeMistral

SAMPLE = AnswerSample(
    question="Qui peut demander la copie intégrale d'un acte de naissance ?",
    response="La personne concernée, ses parents et ses enfants peuvent la demander. [1]",
    contexts=["La copie intégrale peut être demandée par la personne, ses parents, ses enfants."],
    context_ids=["vdd/F1427"],
    reference="La personne, ses ascendants et ses descendants peuvent demander la copie intégrale.",
    gold=["vdd/F1427"],
    reference_contexts=["La copie intégrale peut être demandée par la personne."],
)


def test_no_judge_without_a_judge_model() -> None:
    assert build_judge(Settings()) is None
    [scores] = score_answers([SAMPLE])
    assert set(scores) == set(OFFLINE_METRICS)
    assert scores["context_precision_ids"] == 1.0 and scores["context_recall_ids"] == 1.0
    assert os.environ["RAGAS_DO_NOT_TRACK"] == "true"


def test_the_judged_metrics_run_against_a_mistral_compatible_server() -> None:
    with FakeMistral(dim=16, chat_reply=schema_reply) as fake:
        settings = Settings(
            mistral_server_url=fake.url, mistral_api_key="test", judge_model="mistral-small-latest"
        )
        judge = build_judge(settings)
        assert judge is not None and judge.model == "mistral-small-latest"
        [scores] = score_answers([SAMPLE], judge)
        chats = fake.calls(CHAT)
        assert fake.calls(EMBEDDINGS)  # response relevancy compares question embeddings
    for metric in JUDGED_METRICS:
        value = scores[metric]
        assert value is not None and 0.0 <= value <= 1.0, (metric, value)
    assert chats and all(c.body["model"] == "mistral-small-latest" for c in chats)
    assert all(c.body.get("response_format") == {"type": "json_object"} for c in chats)
    assert chats[0].headers["authorization"] == "Bearer test"


def test_a_failing_judge_leaves_its_metrics_empty_and_the_run_goes_on() -> None:
    with FakeMistral(dim=16, chat_reply="ceci n'est pas du JSON") as fake:
        settings = Settings(mistral_server_url=fake.url, judge_model="mistral-small-latest")
        [scores] = score_answers([SAMPLE], build_judge(settings))
    assert all(scores[m] is None for m in JUDGED_METRICS)
    assert scores["string_similarity"] is not None


def test_a_whole_run_with_a_model_and_a_judge(mini_corpus: Path, tmp_path: Path) -> None:
    """Hybrid retrieval, generated answers and judged metrics, all through the fake server."""

    def reply(body: dict[str, Any]) -> str:
        judged = schema_reply(body)
        return judged if judged != "{}" else "La mairie du lieu de décès délivre l'acte. [1]"

    rows = [
        {
            "id": "deces",
            "question": "comment obtenir une copie de l'acte de décès ?",
            "gold": ["vdd/F1444"],
            "reference": "À la mairie du lieu de décès.",
            "kind": "fiche",
        },
    ]
    dataset = tmp_path / "set.jsonl"
    dataset.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    with FakeMistral(chat_reply=reply) as fake:
        settings = Settings(
            data_dir=tmp_path / "data",
            mistral_server_url=fake.url,
            judge_model="mistral-small-latest",
            local_dense=False,  # e5 is measured elsewhere: its vectors of 680 passages are slow
        )
        runtime, _ = ensure_index(
            eval_settings(settings), [IndexPart("service-public", mini_corpus)]
        )
        try:
            report = evaluate(
                runtime, dataset, known_ids=indexed_doc_ids(runtime), judge=build_judge(settings)
            )
        finally:
            runtime.close()
    record = report.record
    assert record.config == {
        "retrieval": "sparse+mistral-embed",
        "judge": "mistral-small-latest",
        "answers": "generative",
    }
    assert (tmp_path / "data" / "eval-index-hybrid").is_dir()
    [item] = report.items
    assert item["mode"] == "generative" and item["ranked"][0] == "vdd/F1444"
    for metric in JUDGED_METRICS:
        assert metric in record.summary["all"], metric
