"""The legi source: Légifrance code trees from the npm package, a file or a folder of them.

Yields one `SourceItem` per article (per document id: articles of one code that share a
number form one document), or the reason it is absent: one bad article never stops the
others, and a file that is not a code tree yields a single error. Files are read one at
a time: a big code is a 50 MB tree, and only one is in memory at once.

An article gives one chunk, or several when it is longer than `MAX_TOKENS`: it is then
cut between paragraphs (alinéas), each piece keeping the article number (title) and the
path of sections (section). Point ids hang on the article *version* id (LEGIARTI), so
that a later version can be stored next to this one.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from functools import lru_cache
from pathlib import Path

from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import TextNode

from ingestion import chunking, lexhub
from ingestion.legi import Article, CodeText, doc_number, listed_codes, load_code_tree, parse_code
from ingestion.pipeline import SourceItem
from plume.documents import ChunkMeta, content_hash, legi_doc_id, point_id
from plume.errors import MalformedDocument

NAME = "legi"
LEAD_CHARS = 300  # of an article's first paragraph, indexed with its later pieces


def default_codes(corpus_dir: Path) -> list[str]:
    """The codes indexed by default (corpus/legi.toml), by LEGITEXT id."""
    return list(listed_codes(corpus_dir))


@lru_cache(maxsize=1)
def _tokenizer() -> Callable[[str], list[int]]:
    from llama_index.core.utils import get_tokenizer

    return get_tokenizer()  # the one the splitter counts with


@lru_cache(maxsize=4)
def _splitter(max_tokens: int) -> SentenceSplitter:
    # one paragraph per line: pieces end between paragraphs unless a paragraph alone is
    # too long (then between sentences); no overlap, each piece names its article
    return SentenceSplitter(chunk_size=max_tokens, chunk_overlap=0, paragraph_separator="\n")


def article_nodes(
    article: Article,
    *,
    version: str,
    source: str = NAME,
    max_tokens: int | None = None,
    text_date: str | None = None,
    history_from: str | None = None,
) -> list[TextNode]:
    doc_id = article.doc_id
    meta = ChunkMeta(
        doc_id=doc_id,
        title=f"Article {article.num} — {article.code.title}",
        url=article.url,
        source=source,
        source_version=version,
        kind="article",
        section=" > ".join(article.breadcrumb),
        in_force_from=article.in_force_from,
        in_force_to=article.in_force_to,
    )
    extra = {
        "article_id": article.id,
        "num": article.num,
        "state": article.state,
        "amended_by": [a.as_payload() for a in article.amended_by],
        "nota": article.nota,
        "code_id": article.code.id,
        "code_title": article.code.title,
    }
    if text_date:  # a mirror's snapshot: « texte à jour au … »
        extra["text_date"] = text_date
    if history_from:  # no text of this article is held for days before this one
        extra["history_from"] = history_from
    if article.links:  # the articles this one cites
        extra["cites"] = list(article.links)
    nodes = []
    limit = max_tokens or chunking.MAX_TOKENS
    # most articles fit in one piece: counted once, not split (the splitter counts again)
    fits = len(article.text) <= limit or len(_tokenizer()(article.text)) <= limit
    pieces = [article.text] if fits else _splitter(limit).split_text(article.text)
    # a piece after the first is indexed with the article's opening paragraph too: « 4° Les
    # marchés… » is found as what « le maire peut, par délégation du conseil municipal… »
    lead = article.text.split("\n", 1)[0][:LEAD_CHARS]
    for index, text in enumerate(pieces):
        payload = {**meta.as_payload(), **extra, "chunk_index": index}
        if index and not text.startswith(lead):
            payload["lead"] = lead
        payload["content_hash"] = content_hash(text, payload)
        node_id = point_id(f"{doc_id}@{article.id}", index)
        nodes.append(TextNode(id_=node_id, text=text, metadata=payload))
    return nodes


def code_files(root: Path, codes: Collection[str] | None = None) -> list[Path]:
    """The code files to read: `root` itself, or the `codes` (every `*.json` if None) in
    `root` or its `data/` folder (the npm package's layout)."""
    if root.is_file():
        return [root]
    base = root / "data" if (root / "data").is_dir() else root
    if codes is None:
        return [p for p in sorted(base.glob("*.json")) if p.name != "index.json"]
    return [base / f"{code}.json" for code in codes]


def _read(path: Path) -> CodeText:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise MalformedDocument("fichier absent") from exc
    except OSError as exc:
        raise MalformedDocument(f"lecture impossible ({exc.strerror})") from exc
    tree = load_code_tree(raw, path.name)
    del raw  # 50 MB less while the tree is walked
    return parse_code(tree)


def _code_items(
    parsed: CodeText, version: str, text_date: str | None = None
) -> Iterator[SourceItem]:
    scope = f"legi/{parsed.code.id}/"  # this code only: the others stay as they are
    documents: dict[str, list[Article]] = {}
    for article in parsed.articles:
        documents.setdefault(article.doc_id, []).append(article)
    for doc_id, articles in documents.items():
        # a history (LexHub): the oldest version held, unless it was in force since always
        starts = [a.in_force_from for a in articles]
        oldest = min(s for s in starts if s) if text_date and all(starts) else None
        nodes = [
            n
            for a in articles
            for n in article_nodes(a, version=version, text_date=text_date, history_from=oldest)
        ]
        yield SourceItem(doc_id, nodes=nodes, scope=scope)
    for where, why in parsed.rejected:
        doc_id = legi_doc_id(parsed.code.id, doc_number(where) or "inconnu")
        yield SourceItem(doc_id, error=f"{parsed.code.id} article {where} : {why}", scope=scope)


def lexhub_items(
    root: Path,
    pin: lexhub.Pin,
    *,
    since: str | None,
    codes: Collection[str] | None = None,
    on_code: Callable[[lexhub.CodeHistory], None] | None = None,
) -> Iterator[SourceItem]:
    """The LexHub history at `root` (a git repository or bundle): each article with its versions
    in force on or after `since`, code by code; `on_code` sees each code once read (the
    change journal is filled from the same reading)."""
    try:
        with lexhub.opened(root) as repository:
            for history in lexhub.read_codes(repository, pin, since=since, codes=codes):
                if on_code is not None:
                    on_code(history)
                yield from _code_items(history.code, pin.version, text_date=pin.text_date)
    except MalformedDocument as exc:
        yield SourceItem(f"legi/{root.name}", error=f"{root.name} : {exc.message}")


def items(
    root: Path,
    *,
    version: str,
    codes: Collection[str] | None = None,
    on_code: Callable[[CodeText], None] | None = None,
) -> Iterator[SourceItem]:
    """Parse each code under `root` (a file, or a folder) and yield its articles' nodes;
    `on_code` sees each code once parsed (the change journal is filled from the same
    reading)."""
    for path in code_files(root, codes):
        try:
            parsed = _read(path)
        except MalformedDocument as exc:
            yield SourceItem(f"legi/{path.stem}", error=f"{path.name} : {exc.message}")
            continue
        if on_code is not None:
            on_code(parsed)
        yield from _code_items(parsed, version)
