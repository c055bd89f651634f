"""A LexHub-shaped git repository, read through git's command line, and fetching one: the
bundle beside the project (its sha256 checked) or a partial clone of the pinned commit."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ingestion.lexhub.pin import NAME, Pin
from plume.errors import CorruptPackage, MalformedDocument

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


def sha256(path: Path) -> str:
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
            if pin.bundle_sha256 and sha256(pin.bundle) != pin.bundle_sha256:
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
