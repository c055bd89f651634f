"""Administrators' documents: type detection from content, parsing (unstructured,
pypdfium2, tesseract, antiword), bad files, offline guarantees, and a small sample of
the real municipal files of ../shared/data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingestion.documents import partition
from ingestion.documents.detect import detect_format
from ingestion.documents.items import Upload
from ingestion.documents.library import (
    ADDED,
    REJECTED,
    REPLACED,
    UNCHANGED,
    FilesReport,
    delete_visible_document,
    ingest_files,
    list_documents,
    read_document,
)
from ingestion.documents.parse import ParseOptions, parse_document, title_from_name
from plume import REPO_ROOT
from plume.errors import DocumentNotFound, InvalidTenant, RejectedFile
from plume.settings import Settings
from plume.store import SearchFilter, Store
from plume.store.edge import EdgeStore
from tests.conftest import SHARED_DATA
from tests.fakes import documents as fake

MUNICIPAL = SHARED_DATA / "municipal_documents"
FLAUX, COUTHENANS, MONTPELLIER = "30110", "70184", "34172"
MB = 1_000_000
LIMITS = {"max_bytes": 5 * MB, "max_unzipped": 20 * MB}

EML = (
    "From: mairie@flaux.fr\r\nTo: secretariat@flaux.fr\r\nSubject: Fermeture de la mairie\r\n"
    "Date: Mon, 3 Mar 2025 10:00:00 +0100\r\nMIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    "La mairie sera fermée le lundi de Pâques.\r\n"
).encode()


def real(*parts: str) -> Path:
    path = MUNICIPAL.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} absent (../shared/data): real municipal documents not available")
    return path


# --- type from content ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (fake.text_pdf([["Bonjour"]]), "pdf"),
        (fake.docx("Titre", ["Un paragraphe."]), "docx"),
        (fake.odt("Titre", ["Un paragraphe."], "point"), "odt"),
        (b"<!DOCTYPE html><html><body><p>Bonjour</p></body></html>", "html"),
        (b"# Conseil\n\n- point un\n- point deux\n", "md"),
        ("Compte rendu du conseil.\nRien à signaler.".encode(), "txt"),
        (EML, "eml"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504, "doc"),
    ],
)
def test_the_type_comes_from_the_content(data: bytes, expected: str) -> None:
    assert detect_format(data, **LIMITS) == expected


def test_a_misleading_name_changes_nothing(tmp_path: Path, settings: Settings) -> None:
    store = EdgeStore(settings.store_dir, dense_dim=4)
    try:
        report = ingest_files(
            settings,
            store,
            None,
            [Upload("deliberation.pdf", "Le conseil adopte le plan de désherbage.".encode())],
            FLAUX,
            "test",
        )
    finally:
        store.close()
    assert report.files[0].status == ADDED and report.files[0].format == "txt"


# --- parsing ----------------------------------------------------------------------------------


def kinds(data: bytes) -> list[tuple[str, str]]:
    return [(e.kind, e.text) for e in parse_document(data).elements]


def test_formats_give_typed_elements() -> None:
    docx = fake.docx("Délibération n° 12", ["Le conseil approuve le budget primitif."], ["Vote"])
    assert kinds(docx) == [
        ("title", "Délibération n° 12"),
        ("text", "Le conseil approuve le budget primitif."),
        ("list", "Vote"),
    ]
    odt = fake.odt("Arrêté du maire", ["Stationnement interdit place de la mairie."], "Article 1")
    assert kinds(odt) == [
        ("title", "Arrêté du maire"),
        ("text", "Stationnement interdit place de la mairie."),
        ("list", "Article 1"),
    ]
    html = "<h1>Ordre du jour</h1><p>Le conseil approuve le budget.</p><ul><li>Voirie</li></ul>"
    assert kinds(html.encode()) == [
        ("title", "Ordre du jour"),
        ("text", "Le conseil approuve le budget."),
        ("list", "Voirie"),
    ]
    markdown = "# Conseil du 24/02/2023\n\n- Taxe d'aménagement\n- Voirie communale\n"
    assert kinds(markdown.encode()) == [
        ("title", "Conseil du 24/02/2023"),
        ("list", "Taxe d'aménagement"),
        ("list", "Voirie communale"),
    ]
    mail = parse_document(EML)
    assert mail.format == "eml" and mail.subject == "Fermeture de la mairie"
    assert "lundi de Pâques" in mail.elements[0].text


def test_pdf_pages_are_kept() -> None:
    pdf = fake.text_pdf(
        [["Séance du 3 mars 2025", "Le conseil crée un jardin partagé."], ["Élection du maire."]]
    )
    parsed = parse_document(pdf)
    assert parsed.pages == 2 and parsed.ocr_pages == 0
    assert [(e.page, e.text) for e in parsed.elements] == [
        (1, "Séance du 3 mars 2025"),
        (1, "Le conseil crée un jardin partagé."),
        (2, "Élection du maire."),
    ]


def test_a_scanned_page_goes_through_ocr() -> None:
    pdf = fake.scanned_pdf(["COMPTE RENDU DU CONSEIL MUNICIPAL", "Reparation du lavoir communal"])
    parsed = parse_document(pdf)
    assert parsed.pages == 1 and parsed.ocr_pages == 1
    text = " ".join(e.text for e in parsed.elements)
    assert "CONSEIL MUNICIPAL" in text and "lavoir" in text


def test_titles_from_file_names() -> None:
    assert title_from_name("CR_reunion_20210129.pdf") == "CR reunion 20210129"
    assert title_from_name(".pdf") == ".pdf" or title_from_name(".pdf")


# --- bad files: a clear reason each ---------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "Fichier vide"),
        (b"   \n\n  ", "Fichier vide"),
        (b"%PDF-1.4\n" + b"x" * 6 * MB, "trop volumineux"),
        (fake.encrypted_pdf(), "mot de passe"),
        (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF", "PDF corrompu"),
        (fake.text_pdf([["Bonjour"]])[:300], "PDF corrompu"),
        (fake.zip_bomb_docx(), "bombe de décompression"),
        (b"PK\x03\x04" + b"\0" * 100, "Archive corrompue"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "non pris en charge"),
        (b"\x7fELF\x02\x01\x01" + b"\0" * 100, "non pris en charge"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504, "illisible"),
        (fake.text_pdf([[]]), "Aucun texte"),
    ],
)
def test_bad_files_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(RejectedFile) as caught:
        parse_document(data, ParseOptions(max_bytes=5 * MB, max_unzipped=20 * MB))
    assert reason in caught.value.message


def test_a_bad_file_does_not_stop_the_batch(settings: Settings) -> None:
    store = EdgeStore(settings.store_dir, dense_dim=4)
    try:
        batch = [
            Upload("vide.txt", b""),
            Upload("bombe.docx", fake.zip_bomb_docx()),
            Upload("protege.pdf", fake.encrypted_pdf()),
            Upload(
                "cr.pdf", fake.text_pdf([["Le conseil adopte le plan communal de sauvegarde."]])
            ),
        ]
        report = ingest_files(settings, store, None, batch, FLAUX, "test")
        assert [f.status for f in report.files] == [REJECTED, REJECTED, REJECTED, ADDED]
        assert len(report.errors) == 3 and all(f.error for f in report.files[:3])
        assert [d.file_name for d in list_documents(store, [FLAUX])] == ["cr.pdf"]
    finally:
        store.close()


def test_a_tenant_must_be_an_insee_code_or_a_slug(settings: Settings) -> None:
    store = EdgeStore(settings.store_dir, dense_dim=4)
    try:
        with pytest.raises(InvalidTenant):
            ingest_files(settings, store, None, [Upload("a.txt", b"texte")], "../etc", "test")
    finally:
        store.close()


# --- offline: no spaCy model download, no telemetry -----------------------------------------


def test_partitioning_never_downloads_a_model() -> None:
    """pytest-socket fails any connection: these partitions would fail if unstructured
    fetched its spaCy model; and the model is really absent, its install refused."""
    from unstructured.nlp import tokenize

    assert partition.html_elements("<p>Le conseil municipal approuve le budget.</p>")
    assert partition.docx_elements(fake.docx("Titre", ["Le conseil approuve le budget."]))
    assert partition.text_elements("Le conseil approuve.\n\nIl vote le budget primitif.")
    assert tokenize._get_nlp().meta["name"] == partition.OFFLINE_PIPELINE
    assert "en_core_web_sm" not in sys.modules
    with pytest.raises(RuntimeError, match="never downloads"):
        tokenize._load_spacy_model()  # what unstructured would do without Plume's pipeline


def test_importing_sends_no_telemetry() -> None:
    """In a fresh interpreter without DO_NOT_TRACK, importing and partitioning opens no
    connection and resolves no host (any attempt is recorded and refused)."""
    probe = (
        "import socket\n"
        "attempts = []\n"
        "def refuse(*args, **kwargs):\n"
        "    attempts.append(args[:2])\n"
        "    raise OSError('blocked')\n"
        "socket.getaddrinfo = refuse\n"
        "socket.socket.connect = lambda self, address: refuse(address)\n"
        "from ingestion.documents import partition\n"
        "from unstructured.utils import _telemetry_opt_out\n"
        "assert _telemetry_opt_out()\n"
        "assert partition.html_elements('<h1>Conseil</h1><p>Le conseil vote le budget.</p>')\n"
        "print('attempts', attempts)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DO_NOT_TRACK", "SCARF_NO_ANALYTICS")}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "attempts []" in done.stdout


# --- lifecycle --------------------------------------------------------------------------------


@pytest.fixture
def library(settings: Settings, store: Store) -> tuple[Settings, Store]:
    """Both store backends (conftest's `store`)."""
    return settings, store


def ingest(lib: tuple[Settings, Store], *uploads: Upload, tenant: str = FLAUX) -> FilesReport:
    return ingest_files(lib[0], lib[1], None, list(uploads), tenant, "secretaire@flaux")


def test_same_file_twice_adds_nothing_and_a_new_version_replaces(
    library: tuple[Settings, Store],
) -> None:
    _, store = library
    v1 = Upload("cr_mars.pdf", fake.text_pdf([["Le conseil vote la réfection du lavoir."]]))
    first = ingest(library, v1)
    assert first.files[0].status == ADDED
    count = store.count(SearchFilter(tenants=[FLAUX]))

    again = ingest(library, v1)
    assert again.files[0].status == UNCHANGED and again.added == 0
    assert store.count(SearchFilter(tenants=[FLAUX])) == count

    v2 = Upload("cr_mars.pdf", fake.text_pdf([["Le conseil vote la réfection du pont."]]))
    second = ingest(library, v2)
    assert second.files[0].status == REPLACED
    assert second.files[0].replaced == [first.files[0].doc_id]
    docs = list_documents(store, [FLAUX])
    assert [d.doc_id for d in docs] == [second.files[0].doc_id]
    assert docs[0].uploaded_by == "secretaire@flaux" and docs[0].pages == 1 and docs[0].chunks

    doc = read_document(store, docs[0].doc_id, [FLAUX])
    assert doc["passages"][0]["page"] == 1 and "pont" in doc["passages"][0]["text"]
    assert delete_visible_document(store, docs[0].doc_id, [FLAUX]) > 0
    assert list_documents(store, [FLAUX]) == []
    with pytest.raises(DocumentNotFound):
        read_document(store, docs[0].doc_id, [FLAUX])


def test_the_same_file_in_two_communes_is_two_documents(
    library: tuple[Settings, Store],
) -> None:
    _, store = library
    upload = Upload("arrete.txt", "Arrêté : la fête du village est autorisée.".encode())
    a = ingest(library, upload, tenant=FLAUX).files[0]
    b = ingest(library, upload, tenant=COUTHENANS).files[0]
    assert a.status == b.status == ADDED and a.doc_id != b.doc_id
    with pytest.raises(DocumentNotFound):
        read_document(store, str(a.doc_id), [COUTHENANS])
    with pytest.raises(DocumentNotFound):
        delete_visible_document(store, str(a.doc_id), [COUTHENANS])
    assert [d.doc_id for d in list_documents(store, [FLAUX])] == [a.doc_id]


# --- real municipal files (a small representative sample) -----------------------------------


@pytest.fixture(scope="module")
def real_library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, object]]:
    from assistant.runtime import Runtime

    sample = {
        FLAUX: [
            real("flaux_gard", "comptes_rendus", "20210519 - compte rendu 19 Mai 2021.pdf"),
            real("flaux_gard", "comptes_rendus", "20200710-5 - compte rendu du 10 juillet.doc"),
        ],
        COUTHENANS: [real("couthenans_haute_saone", "CR_reunion_20210129.pdf")],
        MONTPELLIER: [real("montpellier_deliberations_2014", "pdf", "2014-05-22-0000072116.pdf")],
    }
    settings = Settings(data_dir=tmp_path_factory.mktemp("real") / "data")
    runtime = Runtime.build(settings)
    reports = {
        tenant: ingest_files(
            settings,
            runtime.store,
            None,
            [Upload(p.name, p.read_bytes()) for p in paths],
            tenant,
            "test",
        )
        for tenant, paths in sample.items()
    }
    runtime.reports = reports  # type: ignore[attr-defined]
    yield settings, runtime
    runtime.close()


def test_real_files_ingest_scans_through_ocr(real_library: tuple[Settings, object]) -> None:
    _, runtime = real_library
    reports: dict[str, FilesReport] = runtime.reports  # type: ignore[attr-defined]
    flaux = {f.format: f for f in reports[FLAUX].files}
    assert all(f.status == ADDED for r in reports.values() for f in r.files), [
        f.error for r in reports.values() for f in r.files
    ]
    assert flaux["pdf"].pages == 3 and flaux["pdf"].ocr_pages == 3
    assert flaux["doc"].chunks > 1
    assert reports[COUTHENANS].files[0].ocr_pages == 0


@pytest.mark.parametrize(
    ("tenant", "question", "file_name", "words"),
    [
        (FLAUX, "Qui a été élu délégué pour les élections sénatoriales ?", ".doc", "délégué"),
        (FLAUX, "conseil municipal du 19 mai 2021 présents", "19 Mai 2021.pdf", "19 mai 2021"),
        (COUTHENANS, "convention de mise à disposition de personnel", "20210129", "Convention"),
        (MONTPELLIER, "représentant ANACEJ conseils d'enfants", "0000072116", "ANACEJ"),
    ],
)
def test_real_files_are_found_by_their_content_for_their_tenant_only(
    real_library: tuple[Settings, object], tenant: str, question: str, file_name: str, words: str
) -> None:
    from assistant.rag.retrieval import build_filter

    _, runtime = real_library
    assistant = runtime.assistant  # type: ignore[attr-defined]
    hits = assistant.search(question, build_filter(tenants=[tenant]), 5)
    top = hits[0]
    assert file_name in top.field("file_name") and words.lower() in top.text.lower()
    assert top.field("tenant") == tenant and top.field("page") in (None, 1, 2, 3)
    others = [t for t in (FLAUX, COUTHENANS, MONTPELLIER) if t != tenant]
    for other in others:
        seen = assistant.search(question, build_filter(tenants=[other]), 20)
        assert all(p.field("tenant") != tenant for p in seen)
    assert not [
        p for p in assistant.search(question, build_filter(), 20) if p.field("tenant") == tenant
    ]


# --- answers from a commune's minutes (issue 20, item 3) ------------------------------------------

MINUTES_QUESTION = "Qu'a décidé le conseil municipal du 19 mai 2021 ?"
QUORUM = "legi/LEGITEXT000006070633/L2121-17"


def quoted(text: str) -> list[str]:
    """The sentences an extractive answer quotes, without their « - » and [n]."""
    return [line[2:].rsplit(" [", 1)[0] for line in text.splitlines() if line.startswith("- ")]


def test_real_minutes_answer_with_their_decisions_not_their_headings(
    real_library: tuple[Settings, object],
) -> None:
    from assistant.rag.retrieval import build_filter

    _, runtime = real_library
    reports: dict[str, FilesReport] = runtime.reports  # type: ignore[attr-defined]
    minutes_of_may = next(f.doc_id for f in reports[FLAUX].files if f.format == "pdf")
    answer = runtime.assistant.ask(MINUTES_QUESTION, build_filter(tenants=[FLAUX]))  # type: ignore[attr-defined]
    assert answer.mode == "extractive" and "sources officielles" not in answer.text
    assert answer.text.startswith(
        "D'après les documents de votre commune (compte rendu du conseil municipal du 19 mai "
        "2021, chargé le "
    )
    from assistant.rag import minutes  # what carries a decision

    lines = quoted(answer.text)
    assert lines and all(minutes.decision(line) for line in lines), lines
    assert not [line for line in lines if len(line.split()) < 6 or line.endswith("19 mai 2021")]
    assert [c.doc_id for c in answer.citations] == [minutes_of_may]


@pytest.fixture(scope="module")
def flaux_and_the_code(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The minutes of Flaux of 19 May 2021 beside the whole CGCT (2015, ../shared/data/legi)."""
    from assistant.runtime import Runtime
    from ingestion.service import ingest_source

    cgct = SHARED_DATA / "legi" / "LEGITEXT000006070633.json"
    if not cgct.is_file():
        pytest.skip(f"{cgct} absent (../shared/data): the CGCT is needed")
    pdf = real("flaux_gard", "comptes_rendus", "20210519 - compte rendu 19 Mai 2021.pdf")
    settings = Settings(data_dir=tmp_path_factory.mktemp("code") / "data")
    runtime = Runtime.build(settings)
    ingest_files(settings, runtime.store, None, [Upload(pdf.name, pdf.read_bytes())], FLAUX, "t")
    ingest_source(settings, runtime.store, None, "legi", path=cgct)
    runtime.refresh_stats()
    yield runtime
    runtime.close()


@pytest.mark.slow
def test_without_a_key_minutes_need_the_communes_documents_and_the_law_comes_from_the_code(
    flaux_and_the_code: object,
) -> None:
    from assistant.rag import extractive
    from assistant.rag.retrieval import build_filter
    from assistant.rag.scope import NEEDS_DOCUMENTS

    ask = flaux_and_the_code.assistant.ask  # type: ignore[attr-defined]
    alone = ask(MINUTES_QUESTION, build_filter())  # no commune key: no articles of the codes
    assert alone.mode == "refusal" and alone.flags == ["documents_commune_requis"]
    assert alone.text == NEEDS_DOCUMENTS and alone.citations == []
    for where in (build_filter(), build_filter(tenants=[FLAUX])):  # the law of councils
        quorum = ask("quorum du conseil municipal", where)
        assert quorum.mode == "extractive" and quorum.text.startswith(extractive.INTRO)
        assert quorum.citations[0].doc_id == QUORUM


# --- the command line -------------------------------------------------------------------------


def test_the_cli_ingests_reports_and_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    monkeypatch.setenv("PLUME_DATA_DIR", str(tmp_path / "data"))
    folder = tmp_path / "depot"
    folder.mkdir()
    (folder / "cr.pdf").write_bytes(
        fake.text_pdf([["Le conseil décide la plantation de tilleuls sur le mail."]])
    )
    (folder / "note.txt").write_text("Horaires d'été de la mairie : fermée le samedi.")
    (folder / "vide.txt").write_bytes(b"")
    runner = CliRunner()
    result = runner.invoke(
        app, ["ingest", "files", str(folder), "--tenant", FLAUX, "--par", "secretaire"]
    )
    assert result.exit_code == 3, result.output  # one file refused, the others indexed
    assert "Fichier vide" in result.output and "refusé" in result.output

    listed = runner.invoke(app, ["sources", "--tenant", FLAUX, "--json"])
    docs = json.loads(listed.stdout)
    assert sorted(d["file_name"] for d in docs) == ["cr.pdf", "note.txt"]
    assert {d["uploaded_by"] for d in docs} == {"secretaire"}

    found = runner.invoke(app, ["search", "plantation de tilleuls", "--tenant", FLAUX, "--json"])
    assert json.loads(found.stdout)[0]["file_name"] == "cr.pdf"
    hidden = runner.invoke(app, ["search", "plantation de tilleuls", "--json"])
    assert all(r.get("tenant") != FLAUX for r in json.loads(hidden.stdout))

    again = runner.invoke(app, ["ingest", "files", str(folder / "cr.pdf"), "--tenant", FLAUX])
    assert again.exit_code == 0 and "inchangé" in again.output
    assert runner.invoke(app, ["ingest", "files", str(folder)]).exit_code == 1  # no --tenant
