"""The pinned packages of the corpus (`corpus/sources.toml`) and where a fetched one lies.

Reading only: `ingestion.npm` fetches and checks them. A package counts as installed once
its folder carries the completion marker written last by the fetch, for the pin of today.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from plume.errors import CorpusNotFetched, UnknownSource, shown

COMPLETE = ".plume-complete"


@dataclass(frozen=True)
class PinnedPackage:
    source: str
    package: str
    version: str
    integrity: str
    description: str = ""

    @property
    def folder_name(self) -> str:
        return f"{self.package.replace('/', '__')}@{self.version}"

    def tarball_url(self, registry: str) -> str:
        basename = self.package.split("/")[-1]
        return f"{registry.rstrip('/')}/{self.package}/-/{basename}-{self.version}.tgz"


def load_manifest(corpus_dir: Path) -> dict[str, PinnedPackage]:
    with open(corpus_dir / "sources.toml", "rb") as fh:
        raw = tomllib.load(fh)
    # entries of another type (`type = "git"`: the LexHub history) are not npm packages
    return {
        name: PinnedPackage(source=name, **entry)
        for name, entry in raw.items()
        if entry.get("type", "npm") == "npm"
    }


def pinned(corpus_dir: Path, source: str) -> PinnedPackage:
    manifest = load_manifest(corpus_dir)
    if source not in manifest:
        known = ", ".join(sorted(manifest))
        raise UnknownSource(
            f"Source inconnue : « {shown(source)} ». Sources disponibles : {known}."
        )
    return manifest[source]


def marker(pkg: PinnedPackage) -> str:
    return f"{pkg.package}@{pkg.version} {pkg.integrity}\n"


def is_complete(folder: Path, pkg: PinnedPackage) -> bool:
    """Installed, and from the tarball pinned now (a changed pin means a new fetch)."""
    try:
        return (folder / COMPLETE).read_text() == marker(pkg)
    except OSError:
        return False


def package_dir(packages_dir: Path, pkg: PinnedPackage) -> Path:
    """The unpacked package, or `CorpusNotFetched` if `plume corpus fetch` has not run."""
    folder = packages_dir / pkg.folder_name
    if not is_complete(folder, pkg):
        raise CorpusNotFetched(
            f"Le corpus « {pkg.source} » ({pkg.package} {pkg.version}) n'est pas installé : "
            "lancez `plume corpus fetch`."
        )
    return folder / "package"
