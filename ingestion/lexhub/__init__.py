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

from ingestion.lexhub.history import (
    ArticleFile,
    CodeHistory,
    article_url,
    codes_by_title,
    parse_file,
    read_code,
    read_codes,
)
from ingestion.lexhub.pin import NAME, LexhubCode, Pin, load_pin
from ingestion.lexhub.repository import Repository, fetch, fetched, is_repository, opened, sha256
from ingestion.lexhub.titles import SectionTitles

__all__ = [
    "NAME",
    "ArticleFile",
    "CodeHistory",
    "LexhubCode",
    "Pin",
    "Repository",
    "SectionTitles",
    "article_url",
    "codes_by_title",
    "fetch",
    "fetched",
    "is_repository",
    "load_pin",
    "opened",
    "parse_file",
    "read_code",
    "read_codes",
    "sha256",
]
