"""The articles and their versions: one `Article` per version, dated from commit to commit."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ingestion.legi import Amendment, Article, Code, CodeText, doc_number, html_text
from ingestion.lexhub.pin import LexhubCode, Pin
from ingestion.lexhub.repository import Repository
from ingestion.lexhub.titles import SectionTitles
from plume.documents import legi_doc_id
from plume.errors import MalformedDocument
from plume.text import fold_accents

# Versions in force "on or before 1970" are dated 1970-01-02 upstream: their start is unknown
_UNKNOWN_START = "1970-01-02"
_SEARCH = "https://www.legifrance.gouv.fr/search/code"
_HEADING = re.compile(r"^#\s*Article\s+(.+?)\s*$")
_NOTA = re.compile(r"<i>\s*NOTA\s*:?", re.IGNORECASE)
_LINK = re.compile(r"<a\s[^>]*?title='([^']*)'[^>]*>", re.IGNORECASE)
_LINK_TITLE = re.compile(r"^(.*?)\s+-\s+art\.\s+(\S+)")
_MESSAGE = re.compile(r"^Modifications par\s+", re.IGNORECASE)


# --- articles --------------------------------------------------------------------------------


def article_url(code_title: str, num: str) -> str:
    """Légifrance's search of this article number (the mirror keeps no LEGIARTI id)."""
    return (
        f"{_SEARCH}?tab_selection=code&searchField=NUM_ARTICLE&query={quote(num)}"
        f"&nomCode={quote(code_title)}"
    )


@dataclass(frozen=True)
class ArticleFile:
    """One article version's file, parsed."""

    num: str
    text: str
    nota: str
    links: tuple[str, ...]  # document ids of the articles it cites


def parse_file(raw: str, codes_by_title: dict[str, str]) -> ArticleFile:
    first, _, body = raw.partition("\n")
    heading = _HEADING.match(first.strip())
    if heading is None:
        raise MalformedDocument("première ligne « # Article … » absente")
    num = heading.group(1).strip()
    nota_at = _NOTA.search(body)
    main, nota = (body[: nota_at.start()], body[nota_at.end() :]) if nota_at else (body, "")
    text = html_text(main)
    if not text:
        raise MalformedDocument(f"article {num} sans texte")
    links = []
    for title in _LINK.findall(body):
        found = _LINK_TITLE.match(html.unescape(title))
        code_id = codes_by_title.get(fold_accents(found.group(1)).lower()) if found else None
        if found and code_id:
            links.append(legi_doc_id(code_id, doc_number(found.group(2))))
    return ArticleFile(num=num, text=text, nota=html_text(nota), links=tuple(dict.fromkeys(links)))


@dataclass
class _Version:
    path: str
    blob: str
    start: str
    message: str
    end: str | None = None


def _amendments(message: str, day: str | None) -> tuple[Amendment, ...]:
    texts = _MESSAGE.sub("", message).strip()
    if not texts or texts.lower().startswith("modifié par un texte"):
        return ()
    return tuple(
        Amendment(t.strip(), "", "MODIFIE", None, None, day) for t in texts.split("&") if t.strip()
    )


def _versions(repo: Repository, folder: str) -> dict[str, list[_Version]]:
    """Each file name's versions, oldest first (a move with the same text is no new one)."""
    found: dict[str, list[_Version]] = {}
    live: dict[str, _Version] = {}  # path → its current version
    for day, message, changes in repo.log(folder):
        gone = [path for status, _, path in changes if status == "D" and path in live]
        gone_names = {Path(p).name: live.pop(p) for p in gone}
        for status, blob, path in changes:
            if status == "D":
                continue
            name = Path(path).name
            moved = gone_names.pop(name, None)
            previous = live.get(path) or moved
            if previous is not None and previous.blob == blob:  # moved, same text
                previous.path = path
                live[path] = previous
                continue
            if previous is not None:
                previous.end = day
            version = _Version(path=path, blob=blob, start=day, message=message)
            live[path] = version
            found.setdefault(name, []).append(version)
        for version in gone_names.values():  # deleted and not moved: abrogated that day
            version.end = day
    return found


@dataclass
class CodeHistory:
    """A code's article versions read from the repository, and those that could not be."""

    code: CodeText
    versions: int = 0


def read_code(
    repo: Repository,
    code: LexhubCode,
    *,
    text_date: str,
    since: str | None = None,
    codes_by_title: dict[str, str] | None = None,
) -> CodeHistory:
    """Every version of `code`'s articles in force on or after `since` (all if None)."""
    header = Code(id=code.id, title=code.title, snapshot=text_date)
    parsed = CodeText(code=header, articles=[], rejected=[])
    history = CodeHistory(code=parsed)
    by_name = _versions(repo, code.folder)
    kept = [
        v for vs in by_name.values() for v in vs if since is None or v.end is None or v.end > since
    ]
    names = codes_by_title or {fold_accents(code.title).lower(): code.id}
    files: dict[str, ArticleFile | str] = {}  # blob → the parsed file, or why it is not one
    for blob, raw in repo.blobs(v.blob for v in kept).items():
        try:
            files[blob] = parse_file(raw, names)
        except MalformedDocument as exc:
            files[blob] = exc.message
    titles = SectionTitles(f.text for f in files.values() if isinstance(f, ArticleFile))
    for name, versions in by_name.items():
        for version in versions:
            article = files.get(version.blob)
            if article is None:
                continue
            if isinstance(article, str):
                parsed.rejected.append((name.removesuffix(".md"), article))
                continue
            start = None if version.start <= _UNKNOWN_START else version.start
            breadcrumb = tuple(titles.title(s) for s in version.path.split("/")[1:-1])
            parsed.articles.append(
                Article(
                    code=header,
                    id=f"{version.blob[:12]}@{version.start}",
                    num=article.num,
                    state="VIGUEUR" if version.end is None else "MODIFIE",
                    text=article.text,
                    breadcrumb=breadcrumb,
                    in_force_from=start,
                    in_force_to=version.end,
                    amended_by=_amendments(version.message, start),
                    nota=article.nota,
                    link=article_url(code.title, article.num),
                    links=article.links,
                )
            )
            history.versions += 1
    return history


def codes_by_title(pin: Pin) -> dict[str, str]:
    return {fold_accents(c.title).lower(): c.id for c in pin.codes}


def read_codes(
    repo_path: Path, pin: Pin, *, since: str | None = None, codes: Iterable[str] | None = None
) -> Iterator[CodeHistory]:
    """The pinned codes present in the repository at `repo_path`, one at a time."""
    repo = Repository(repo_path)
    present = repo.folders()
    wanted = set(codes) if codes is not None else None
    names = codes_by_title(pin)
    chosen = [c for c in pin.codes if wanted is None or c.id in wanted]
    if not chosen:  # no code of this source is configured (corpus/legi.toml)
        return
    if not any(c.folder in present for c in chosen):
        folders = ", ".join(c.folder for c in chosen)
        raise MalformedDocument(f"{repo_path} : aucun des dossiers attendus ({folders}).")
    for code in chosen:
        if code.folder in present:  # a clone of some of the codes reads those
            yield read_code(repo, code, text_date=pin.text_date, since=since, codes_by_title=names)
