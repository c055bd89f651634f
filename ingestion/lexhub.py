"""LexHub-shaped git repositories → the codes' articles, every version with its dates.

LexHub-project/legifrance mirrors Légifrance's codes in git (Licence Ouverte): one Markdown
file per article (`# Article L2121-17`, then Légifrance's HTML), folders = the path of
sections as slugs, and **the history is the version history**: each commit's date is the
day its article versions came into force, its message names the amending texts
(« Modifications par Loi n°… & Décret n°… »). A file added is a new article, deleted an
abrogated one, renamed a moved one.

`read_codes` turns one repository (a bare clone, a checkout or a bundle cloned by `fetch`)
into `CodeText`s — the same `Article`s legi-data gives — with one `Article` per version:
its text, NOTA apart, its in-force dates (from its commit to the next one), its amending
texts, its section titles with their accents restored (`SectionTitles`), and its links to
the articles it cites. Version ids are made from the version's blob and start day: the
same on every clone of the same history.

Git is driven through its command line (`git log --raw`, `git cat-file --batch`): the whole
history of the four codes a town hall uses (6,216 commits, 36,000 file versions) is read
in a few seconds.
"""

from __future__ import annotations

import hashlib
import html
import re
import shutil
import subprocess
import tempfile
import tomllib
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from ingestion.legi import Amendment, Article, Code, CodeText, doc_number, html_text
from plume.documents import legi_doc_id
from plume.errors import CorruptPackage, MalformedDocument
from plume.text import fold_accents

NAME = "lexhub"
# Versions in force "on or before 1970" are dated 1970-01-02 upstream: their start is unknown
_UNKNOWN_START = "1970-01-02"
_SEARCH = "https://www.legifrance.gouv.fr/search/code"
_HEADING = re.compile(r"^#\s*Article\s+(.+?)\s*$")
_NOTA = re.compile(r"<i>\s*NOTA\s*:?", re.IGNORECASE)
_LINK = re.compile(r"<a\s[^>]*?title='([^']*)'[^>]*>", re.IGNORECASE)
_LINK_TITLE = re.compile(r"^(.*?)\s+-\s+art\.\s+(\S+)")
_MESSAGE = re.compile(r"^Modifications par\s+", re.IGNORECASE)


# --- the pin ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LexhubCode:
    id: str  # LEGITEXT…
    folder: str  # the repository's top-level folder
    title: str


@dataclass(frozen=True)
class Pin:
    """The LexHub source as `corpus/sources.toml` pins it, and the codes `corpus/legi.toml`
    takes from it."""

    repository: str
    commit: str  # upstream's commit
    bundle: Path | None  # a bundle of the same history beside the project, if any
    bundle_head: str
    bundle_sha256: str
    text_date: str  # ISO date of the snapshot: « texte à jour au … »
    codes: tuple[LexhubCode, ...]

    @property
    def heads(self) -> set[str]:
        """The commits a fetched copy may stand at (upstream's, or the bundle's)."""
        return {self.commit, self.bundle_head}

    @property
    def version(self) -> str:
        return f"lexhub@{self.text_date}"

    def code(self, code_id: str) -> LexhubCode | None:
        return next((c for c in self.codes if c.id == code_id), None)


def load_pin(corpus_dir: Path, project_root: Path | None = None) -> Pin | None:
    """The pinned LexHub source, or None when the manifest has none."""
    with open(corpus_dir / "sources.toml", "rb") as fh:
        entry = tomllib.load(fh).get(NAME)
    if not entry:
        return None
    with open(corpus_dir / "legi.toml", "rb") as fh:
        codes = tomllib.load(fh).get(NAME, {}).get("codes", {})
    root = project_root or corpus_dir.parent
    bundle = entry.get("bundle")
    return Pin(
        repository=entry["repository"],
        commit=entry["commit"],
        bundle=(root / bundle).resolve() if bundle else None,
        bundle_head=entry.get("bundle_head", ""),
        bundle_sha256=entry.get("bundle_sha256", ""),
        text_date=entry["text_date"],
        codes=tuple(
            LexhubCode(id=code_id, folder=c["folder"], title=c["title"])
            for code_id, c in codes.items()
        ),
    )


# --- git ------------------------------------------------------------------------------------


def _git(*args: str, cwd: Path | None = None, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, input=stdin, capture_output=True, check=False
        )
    except FileNotFoundError as exc:
        raise CorruptPackage("git est introuvable : installez-le (apt-get install git).") from exc
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise CorruptPackage(f"git {args[0]} : {why[-1] if why else 'échec'}")
    return done.stdout


@dataclass
class Repository:
    """A git repository of LexHub's shape, read-only (bare or not)."""

    path: Path
    head_commit: str = field(init=False, default="")

    def __post_init__(self) -> None:
        if not self.path.exists():
            raise MalformedDocument(f"{self.path} : dépôt absent.")
        try:
            head = _git("-C", str(self.path), "rev-parse", "--verify", "HEAD^{commit}")
        except CorruptPackage as exc:
            raise MalformedDocument(f"{self.path} : ce n'est pas un dépôt git lisible.") from exc
        self.head_commit = head.decode().strip()

    def folders(self) -> set[str]:
        out = _git("-C", str(self.path), "ls-tree", "--name-only", "HEAD")
        return set(out.decode("utf-8").split())

    def log(self, folder: str) -> Iterator[tuple[str, str, list[tuple[str, str, str]]]]:
        """Oldest first: (day, message, [(status, blob, path)]) of each commit in `folder`."""
        out = _git(
            "-C",
            str(self.path),
            "log",
            "--reverse",
            "--no-renames",
            "--raw",
            "--no-abbrev",
            "--date=short",
            "--format=%x00%ad%x09%s",
            "HEAD",
            "--",
            folder,
        ).decode("utf-8", "replace")
        for record in out.split("\x00")[1:]:
            head, _, body = record.partition("\n")
            day, _, message = head.partition("\t")
            changes = []
            for line in body.splitlines():
                if not line.startswith(":"):
                    continue
                meta, _, path = line.partition("\t")
                parts = meta.split()
                changes.append((parts[4][0], parts[3], path))
            yield day, message, changes

    def blobs(self, shas: Iterable[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(shas))
        if not wanted:
            return {}
        out = _git(
            "-C", str(self.path), "cat-file", "--batch", stdin="\n".join(wanted).encode() + b"\n"
        )
        found: dict[str, str] = {}
        at = 0
        for sha in wanted:
            end = out.index(b"\n", at)
            header = out[at:end].split()
            if len(header) < 3 or header[1] != b"blob":
                at = end + 1
                continue
            size = int(header[2])
            found[sha] = out[end + 1 : end + 1 + size].decode("utf-8", "replace")
            at = end + 1 + size + 1
        return found


def is_repository(path: Path) -> bool:
    """A git repository (bare or checkout) or a git bundle, rather than code JSON."""
    if path.is_file():
        return path.suffix == ".bundle"
    return path.is_dir() and ((path / ".git").exists() or (path / "HEAD").is_file())


@contextmanager
def opened(path: Path) -> Iterator[Path]:
    """A repository to read: `path` itself, or a bundle cloned to a temporary folder for
    the time of the reading."""
    if not path.is_file():
        yield path
        return
    with tempfile.TemporaryDirectory(prefix=f"plume-{NAME}-") as tmp:
        try:
            _git("clone", "--quiet", "--bare", str(path), f"{tmp}/repo.git")
        except CorruptPackage as exc:
            raise MalformedDocument(f"{path.name} : bundle git illisible ({exc.message}).") from exc
        yield Path(tmp) / "repo.git"


# --- fetching ------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetched(packages_dir: Path, pin: Pin) -> Path | None:
    """The fetched copy, if there is one at a pinned commit."""
    for candidate in sorted(packages_dir.glob(f"{NAME}-*.git")):
        try:
            if Repository(candidate).head_commit in pin.heads:
                return candidate
        except MalformedDocument:
            continue
    return None


def fetch(pin: Pin, packages_dir: Path, *, url: str | None = None) -> Path:
    """A bare copy of the pinned history in `packages_dir`: cloned from the bundle beside the
    project (its sha256 checked), else a partial clone of the repository (the four codes'
    files only). Idempotent; a killed run leaves nothing half-made."""
    ready = fetched(packages_dir, pin)
    if ready is not None:
        return ready
    packages_dir.mkdir(parents=True, exist_ok=True)
    for stale in packages_dir.glob(f".{NAME}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(dir=packages_dir, prefix=f".{NAME}-") as tmp:
        work = Path(tmp) / "repo.git"
        if url is None and pin.bundle is not None and pin.bundle.is_file():
            if pin.bundle_sha256 and _sha256(pin.bundle) != pin.bundle_sha256:
                raise CorruptPackage(
                    f"{pin.bundle} : empreinte sha256 inattendue, le paquet est refusé."
                )
            _git("clone", "--quiet", "--bare", str(pin.bundle), str(work))
            expected = pin.bundle_head
        else:
            _partial_clone(url or pin.repository, pin, work)
            expected = pin.commit
        head = Repository(work).head_commit
        if head != expected:
            raise CorruptPackage(f"LexHub : le dépôt est à {head[:12]}, {expected[:12]} attendu.")
        final = packages_dir / f"{NAME}-{head[:12]}.git"
        work.rename(final)
    return final


def _partial_clone(url: str, pin: Pin, work: Path) -> None:
    """History without blobs, moved to the pinned commit, then the blobs of the codes'
    folders in one request (the other 72 codes are never downloaded)."""
    _git("clone", "--quiet", "--bare", "--filter=blob:none", "--no-tags", url, str(work))
    _git("-C", str(work), "update-ref", "HEAD", pin.commit)
    folders = [c.folder for c in pin.codes]
    listed = _git(
        "-C", str(work), "rev-list", "--objects", "--missing=print", "HEAD", "--", *folders
    ).decode()
    missing = [line[1:].split()[0] for line in listed.splitlines() if line.startswith("?")]
    for start in range(0, len(missing), 5000):
        batch = missing[start : start + 5000]
        _git("-C", str(work), "fetch", "--quiet", "--no-tags", "origin", *batch)


# --- section titles ---------------------------------------------------------------------------

_WORD = re.compile(r"[a-zà-öø-ÿœæ]+", re.IGNORECASE)
_KIND = ("sous-paragraphe", "paragraphe", "sous-section", "section", "chapitre", "titre", "livre")
_ROMAN = re.compile(r"^(?:[ivxlc]+|ier|ire|ere|er|[0-9]+|[a-z])$")
_QUALIFIERS = {"bis", "ter", "quater", "quinquies", "sexies", "septies", "octies", "preliminaire"}
_ELIDED = ("l", "d", "qu", "lorsqu", "jusqu", "n", "s")
_SMALL = {"ier": "Ier", "ire": "Ire", "er": "er"}
# Words of the codes' structure, always spelt so (the articles' words give the others)
_STRUCTURE = (
    "législative réglementaire première deuxième troisième quatrième cinquième sixième "
    "septième huitième neuvième dixième préliminaire générales générale généraux général "
    "État collectivités intérêt matière électorale élection élections élus"
)


class SectionTitles:
    """Slugs → readable titles: `titre-ii-organes-de-la-commune` → « Titre II : Organes de la
    commune ». Accents and apostrophes come back from the codes' own words (the most
    frequent spelling of each folded word); a word never seen stays as it is."""

    def __init__(self, texts: Iterable[str]):
        seen: Counter[str] = Counter()
        for text in texts:
            seen.update(_WORD.findall(text.lower()))
        counts: dict[str, Counter[str]] = {}
        for word, n in seen.items():  # each spelling folded once
            counts.setdefault(fold_accents(word), Counter())[word] += n
        self.words = {k: c.most_common(1)[0][0] for k, c in counts.items()}
        self.words |= {fold_accents(w).lower(): w.lower() for w in _STRUCTURE.split()}
        self._cache: dict[str, str] = {}

    def word(self, slug_word: str) -> str:
        if slug_word in self.words:
            return self.words[slug_word]
        for elided in _ELIDED:  # « lurbanisme » → « l'urbanisme »
            rest = slug_word[len(elided) :]
            if slug_word.startswith(elided) and len(rest) > 2 and rest in self.words:
                return f"{elided}'{self.words[rest]}"
        return slug_word

    def title(self, slug: str) -> str:
        if slug not in self._cache:
            self._cache[slug] = self._title(slug)
        return self._cache[slug]

    def _title(self, slug: str) -> str:
        words = slug.split("-")
        head: list[str] = []
        kind = next((k for k in _KIND if slug.startswith(f"{k}-")), None)
        if kind is not None:
            words = words[len(kind.split("-")) :]
            head = [kind.capitalize()]
            while words and (_ROMAN.match(words[0]) or words[0] in _QUALIFIERS):
                token = words.pop(0)
                if token in _QUALIFIERS:
                    head.append(self.word(token))
                else:
                    head.append(_SMALL.get(token, token.upper()))
        elif (words and words[-1] == "partie") or (len(words) > 1 and words[1] == "partie"):
            cut = words.index("partie") + 1
            head = [" ".join(self.word(w) for w in words[:cut]).capitalize()]
            words = words[cut:]
        rest = " ".join(self.word(w) for w in words)
        if not head:
            return rest[:1].upper() + rest[1:]
        if not rest:
            return " ".join(head)
        return f"{' '.join(head)} : {rest[:1].upper()}{rest[1:]}"


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
