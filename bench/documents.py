"""Benchmark of the communes' documents: every real municipal file of
../shared/data/municipal_documents ingested for its commune, in a fresh data dir.

    .venv/bin/python -m bench.documents

Measures pages per second for text PDFs (text layer) and for scanned pages (OCR with
tesseract, `PLUME_OCR_WORKERS` at a time), the peak memory of the ingesting process and
of one tesseract, and checks that each document is found by its own words for its
commune and never for another. Writes bench/results/documents.md.
"""

from __future__ import annotations

import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "municipal_documents"
RESULT = ROOT / "bench" / "results" / "documents.md"
COMMUNES = {  # folder → INSEE code
    "flaux_gard": ("30110", "Flaux (Gard)"),
    "couthenans_haute_saone": ("70184", "Couthenans (Haute-Saône)"),
    "montpellier_deliberations_2014": ("34172", "Montpellier"),
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _rate(pages: int, seconds: float) -> str:
    return f"{pages / seconds:.2f}" if seconds else "—"


def _words(text: str) -> list[str]:
    return [w.casefold() for w in re.findall(r"[^\W\d_]{5,}", text)]


def _rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


def _tesseract_peak_mb(pdf: Path, dpi: int, languages: str) -> float | None:
    """Peak memory of one tesseract reading the first page of a scanned PDF."""
    import pypdfium2 as pdfium

    if not Path("/usr/bin/time").exists():
        return None
    page = pdfium.PdfDocument(pdf.read_bytes())[0]
    png = BytesIO()
    page.render(scale=dpi / 72, grayscale=True).to_pil().save(png, format="PNG")
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", "tesseract", "stdin", "stdout", "-l", languages],
        input=png.getvalue(),
        capture_output=True,
        check=False,
    )
    return int(done.stderr.decode().strip().splitlines()[-1]) / 1024


def main() -> int:
    if not DATA.is_dir():
        log(f"{DATA} absent: nothing to measure")
        return 1
    from assistant.rag.retrieval import build_filter
    from assistant.runtime import Runtime
    from ingestion.documents.items import Upload
    from ingestion.documents.library import FileResult, ingest_files, read_document
    from plume.settings import Settings

    with tempfile.TemporaryDirectory(prefix="plume-bench-docs-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data")
        runtime = Runtime.build(settings)
        baseline_mb = _rss_mb()
        results: dict[str, list[FileResult]] = {}
        started = time.perf_counter()
        for folder, (tenant, name) in COMMUNES.items():
            paths = sorted(p for p in (DATA / folder).rglob("*") if p.is_file())
            log(f"{name}: {len(paths)} files")

            batch = (Upload(p.name, p.read_bytes()) for p in paths)  # one in memory at a time
            report = ingest_files(settings, runtime.store, None, batch, tenant, "bench")
            results[tenant] = report.files
        total_s = time.perf_counter() - started
        self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        scan = DATA / "flaux_gard" / "comptes_rendus" / "20210519 - compte rendu 19 Mai 2021.pdf"
        tesseract_mb = _tesseract_peak_mb(scan, settings.ocr_dpi, settings.ocr_languages)

        # findable by its own distinctive words, for its commune only
        found: dict[str, int] = {"texte": 0, "OCR": 0}
        checked: dict[str, int] = {"texte": 0, "OCR": 0}
        leaked = 0
        tenants = [t for t, _ in COMMUNES.values()]
        for tenant, files in results.items():
            texts = {
                f.doc_id: " ".join(
                    p["text"] or ""
                    for p in read_document(runtime.store, f.doc_id, [tenant])["passages"]
                )
                for f in files
                if f.status == "ajoute" and f.doc_id
            }
            df = Counter(w for text in texts.values() for w in set(_words(text)))
            for f in files:
                if f.doc_id not in texts:
                    continue
                kind = "OCR" if f.ocr_pages else "texte"
                rare = [w for w in dict.fromkeys(_words(texts[f.doc_id])) if df[w] <= 2]
                query = " ".join(rare[:10])
                if not query:
                    continue
                checked[kind] += 1
                hits = runtime.assistant.search(query, build_filter(tenants=[tenant]), 5)
                found[kind] += f.doc_id in {h.doc_id for h in hits}
                for other in tenants:
                    if other != tenant:
                        seen = runtime.assistant.search(query, build_filter(tenants=[other]), 20)
                        leaked += any(h.field("tenant") == tenant for h in seen)
        runtime.close()

    every = [f for files in results.values() for f in files]
    pdfs = [f for f in every if f.format == "pdf" and f.status == "ajoute"]
    text_pdfs = [f for f in pdfs if f.ocr_pages == 0]
    scans = [f for f in pdfs if f.ocr_pages == f.pages]
    text_pages, text_s = sum(f.pages or 0 for f in text_pdfs), sum(f.seconds for f in text_pdfs)
    ocr_pages, ocr_s = sum(f.ocr_pages for f in scans), sum(f.seconds for f in scans)
    refused = [f for f in every if f.status != "ajoute"]
    by_format: dict[str, int] = {}
    for f in every:
        by_format[f.format or "refusé"] = by_format.get(f.format or "refusé", 0) + 1

    machine = platform.processor() or platform.machine()
    formats = ", ".join(f"{k}: {v}" for k, v in sorted(by_format.items()))
    all_pages, all_ocr = sum(f.pages or 0 for f in pdfs), sum(f.ocr_pages for f in pdfs)
    lines = [
        "# Documents des communes : ingestion des fichiers municipaux réels",
        "",
        f"{datetime.now(UTC).isoformat(timespec='seconds')} — {machine}, "
        f"{os.cpu_count()} CPU, Python {platform.python_version()}, "
        f"OCR tesseract `{settings.ocr_languages}` à {settings.ocr_dpi} dpi, "
        f"{settings.ocr_workers} pages à la fois ; index BM25 seul (sans modèle).",
        "",
        "| mesure | valeur |",
        "|---|---|",
        f"| fichiers | {len(every)} ({formats}) |",
        f"| ingérés / refusés | {len(every) - len(refused)} / {len(refused)} |",
        f"| pages PDF (dont OCR) | {all_pages} ({all_ocr}) |",
        f"| passages indexés | {sum(f.chunks for f in every)} |",
        f"| PDF texte : pages/s (lecture + découpage + indexation) | {_rate(text_pages, text_s)} "
        f"({text_pages} pages, {text_s:.1f} s) |",
        f"| PDF scannés : pages OCR/s | {_rate(ocr_pages, ocr_s)} "
        f"({ocr_pages} pages, {ocr_s:.1f} s) |",
        f"| durée totale | {total_s:.1f} s |",
        f"| mémoire du processus d'ingestion (RSS) : au départ / au plus haut | "
        f"{baseline_mb:.0f} / {self_mb:.0f} Mo |",
        f"| mémoire max d'un tesseract (une page, RSS) | "
        f"{f'{tesseract_mb:.0f} Mo' if tesseract_mb else '—'} |",
        f"| retrouvés par leurs mots propres, pour leur commune (top 5) : PDF texte et "
        f"autres | {found['texte']}/{checked['texte']} |",
        f"| ... : documents scannés (OCR) | {found['OCR']}/{checked['OCR']} |",
        f"| vus par une autre commune | {leaked} |",
        "",
    ]
    if refused:
        lines += ["Refusés :", ""] + [f"- {f.name} : {f.error}" for f in refused] + [""]
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0 if not refused and not leaked else 1


if __name__ == "__main__":
    sys.exit(main())
