"""Fetch a pinned npm package, check its integrity, unpack it outside git.

The package lands in `<data_dir>/packages/<name>@<version>/` only once complete:
it is downloaded to a temporary file, checked against the pinned SRI hash, unpacked
into a temporary folder and renamed into place. A run killed midway leaves nothing
half-written behind.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

import httpx

from plume.errors import CorruptPackage, SourceUnreachable
from plume.packages import COMPLETE, PinnedPackage, is_complete, marker


def check_integrity(path: Path, integrity: str) -> None:
    algo, _, expected = integrity.partition("-")
    if algo not in ("sha512", "sha384", "sha256"):
        raise CorruptPackage(f"Empreinte d'intégrité non prise en charge : {algo}")
    digest = hashlib.new(algo)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    if base64.b64encode(digest.digest()).decode() != expected:
        raise CorruptPackage(
            "Le paquet téléchargé ne correspond pas à l'empreinte attendue "
            "(fichier corrompu, tronqué ou modifié)."
        )


def _safe_extract(archive: Path, target: Path) -> None:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(target, filter="data")  # refuses absolute paths, links out, devices
    except tarfile.FilterError as exc:
        raise CorruptPackage(
            f"Archive refusée : le fichier « {exc.tarinfo.name} » sortirait du dossier du paquet."
        ) from exc
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise CorruptPackage(f"Archive illisible ou tronquée : {exc}") from exc


def fetch_package(
    pkg: PinnedPackage,
    packages_dir: Path,
    registry: str,
    *,
    archive: Path | None = None,
    client: httpx.Client | None = None,
) -> Path:
    """Install `pkg` (from `archive` if given, else from the registry); idempotent."""
    final = packages_dir / pkg.folder_name
    if is_complete(final, pkg):
        return final / "package"
    packages_dir.mkdir(parents=True, exist_ok=True)
    for stale in packages_dir.glob(".fetch-*"):  # left by a run that was killed
        shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(dir=packages_dir, prefix=".fetch-") as tmp:
        tgz = Path(tmp) / "package.tgz"
        if archive is not None:
            try:
                shutil.copyfile(archive, tgz)
            except OSError as exc:
                raise CorruptPackage(
                    f"Archive introuvable ou illisible : {archive} ({exc.strerror or exc})"
                ) from exc
        else:
            _download(pkg.tarball_url(registry), tgz, client)
        check_integrity(tgz, pkg.integrity)
        unpacked = Path(tmp) / "unpacked"
        _safe_extract(tgz, unpacked)
        if not (unpacked / "package").is_dir():
            raise CorruptPackage("L'archive ne contient pas de dossier « package/ ».")
        (unpacked / COMPLETE).write_text(marker(pkg))
        if final.exists():
            shutil.rmtree(final)  # a stale, incomplete earlier attempt
        os.replace(unpacked, final)
    return final / "package"


def _download(url: str, dest: Path, client: httpx.Client | None) -> None:
    own = client is None
    http = client or httpx.Client(timeout=httpx.Timeout(60.0, connect=15.0), follow_redirects=True)
    try:
        with http.stream("GET", url) as resp:
            if resp.status_code != 200:
                raise SourceUnreachable(f"Le registre npm a répondu {resp.status_code} pour {url}")
            with open(dest, "wb") as fh:
                for block in resp.iter_bytes():
                    fh.write(block)
    except httpx.HTTPError as exc:
        raise SourceUnreachable(f"Téléchargement impossible depuis {url} : {exc}") from exc
    finally:
        if own:
            http.close()
