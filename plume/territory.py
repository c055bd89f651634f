"""The official geographic code: communes, départements, regions, intercommunalities.

Read from Etalab's `@etalab/decoupage-administratif` package (`plume corpus fetch
communes`): `data/communes.json`, `departements.json`, `regions.json`, `epci.json`.
The files (~12 MB) are parsed on first use, once per process and package folder.

Codes are taken as INSEE writes them, strictly: five characters for a commune
("78003", "2A004", "97101"), two or three for a département ("78", "2A", "971").
A code that is close to a valid one (no leading zero, an old or a delegated commune)
gets an error that says which code to use.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plume.errors import (
    CorpusNotFetched,
    MalformedDocument,
    UnknownCommune,
    UnknownDepartement,
    UnknownTerritory,
)
from plume.text import fold_accents

SOURCE = "communes"  # its entry in corpus/sources.toml
INSEE_CODE = re.compile(r"(?:\d{2}|2[AB])\d{3}")
_MAX_FOUND = 20


@dataclass(frozen=True)
class Region:
    code: str  # "11"; overseas collectivities have their own ("977")
    name: str


@dataclass(frozen=True)
class Departement:
    code: str  # "78", "2A", "971"
    name: str
    region: str  # region code


@dataclass(frozen=True)
class Epci:
    siren: str
    name: str
    kind: str  # CC, CA, CU, METRO, MET69


@dataclass(frozen=True)
class Commune:
    insee: str
    name: str
    population: int | None  # None: no population (the uninhabited TAAF districts)
    departement: str
    region: str
    zone: str  # "metro", "drom" (overseas départements) or "com" (overseas collectivities)
    siren: str | None = None
    postal_codes: tuple[str, ...] = ()

    @property
    def outre_mer(self) -> bool:
        return self.zone != "metro"


def search_key(text: str) -> str:
    """A name as searched: case, accents, hyphens and apostrophes aside."""
    return " ".join(re.sub(r"[\W_]+", " ", fold_accents(text).casefold()).split())


@dataclass(frozen=True)
class _Reference:
    communes: dict[str, Commune]
    others: dict[str, dict[str, Any]]  # delegated/associated communes, municipal arrondissements
    former: dict[str, str]  # former code → current code
    departements: dict[str, Departement]
    regions: dict[str, Region]
    epcis: dict[str, Epci]  # by member commune code
    names: tuple[tuple[str, Commune], ...]  # (search key, commune), for `find`


def _read(folder: Path, name: str) -> list[dict[str, Any]]:
    path = folder / "data" / name
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MalformedDocument(f"{path} : fichier du code géographique illisible.") from exc
    if not isinstance(rows, list):
        raise MalformedDocument(f"{path} : liste attendue.")
    return rows


_LOAD_LOCK = threading.Lock()


@functools.cache
def _load_cached(folder: Path) -> _Reference:
    communes: dict[str, Commune] = {}
    others: dict[str, dict[str, Any]] = {}
    former: dict[str, str] = {}
    for row in _read(folder, "communes.json"):
        if row.get("type") != "commune-actuelle":
            others.setdefault(row["code"], row)
            continue
        communes[row["code"]] = Commune(
            insee=row["code"],
            name=row["nom"],
            population=row.get("population"),
            departement=row["departement"],
            region=row["region"],
            zone=row["zone"],
            siren=row.get("siren"),
            postal_codes=tuple(row.get("codesPostaux", ())),
        )
        for old in row.get("anciensCodes", ()):
            former[old] = row["code"]
    departements = {
        d["code"]: Departement(d["code"], d["nom"], d["region"])
        for d in _read(folder, "departements.json")
    }
    regions = {r["code"]: Region(r["code"], r["nom"]) for r in _read(folder, "regions.json")}
    epcis: dict[str, Epci] = {}
    for row in _read(folder, "epci.json"):
        epci = Epci(row["code"], row["nom"], row["type"])
        for member in row["membres"]:
            epcis[member["code"]] = epci
    names = tuple((search_key(c.name), c) for c in communes.values())
    return _Reference(communes, others, former, departements, regions, epcis, names)


def _load(folder: Path) -> _Reference:
    with _LOAD_LOCK:  # two API threads asking at start-up parse the files once
        try:
            return _load_cached(folder.resolve())
        except (KeyError, TypeError) as exc:
            raise MalformedDocument(
                f"{folder} : code géographique au format inattendu ({exc})."
            ) from exc


class Territory:
    """The geographic code of one fetched package; loads it on first use."""

    def __init__(self, packages_dir: Path, corpus_dir: Path) -> None:
        self.packages_dir = packages_dir
        self.corpus_dir = corpus_dir
        self._folder: Path | None = None  # found once; a later fetch needs a restart

    def folder(self) -> Path:
        """The fetched package, or `CorpusNotFetched` saying how to fetch it."""
        from plume import packages

        if self._folder is not None:
            return self._folder
        pkg = packages.pinned(self.corpus_dir, SOURCE)
        try:
            self._folder = packages.package_dir(self.packages_dir, pkg)
            return self._folder
        except CorpusNotFetched as exc:
            raise CorpusNotFetched(
                f"Le code officiel géographique ({pkg.package} {pkg.version}) n'est pas "
                "installé : lancez `plume corpus fetch communes`."
            ) from exc

    @property
    def _ref(self) -> _Reference:
        return _load(self.folder())

    def commune(self, insee: str) -> Commune:
        """A current commune by its INSEE code, or `UnknownCommune` saying why."""
        code = insee.strip()
        ref = self._ref
        if code in ref.communes:
            return ref.communes[code]
        raise UnknownCommune(self._why_unknown(code, ref))

    def _why_unknown(self, code: str, ref: _Reference) -> str:
        if not code:
            return "Code INSEE manquant : 5 caractères, par exemple 78003, 2A004 ou 97101."
        if not INSEE_CODE.fullmatch(code.upper()):
            hint = ""
            if code.isdigit() and len(code) == 4 and "0" + code in ref.communes:
                hint = f" Vouliez-vous dire « 0{code} » ({ref.communes['0' + code].name}) ?"
            return (
                f"Code INSEE invalide « {code} » : il a 5 caractères, par exemple 78003, "
                f"2A004 (Corse) ou 97101 (outre-mer).{hint}"
            )
        if code.upper() in ref.communes:
            return f"Code INSEE « {code} » inconnu : écrivez « {code.upper()} »."
        if code in ref.former:
            current = ref.communes[ref.former[code]]
            return (
                f"« {code} » est un ancien code INSEE : la commune est aujourd'hui "
                f"{current.name} ({current.insee})."
            )
        row = ref.others.get(code)
        if row is not None:
            parent = ref.communes.get(row.get("commune") or row.get("chefLieu") or "")
            kind = {
                "arrondissement-municipal": "un arrondissement municipal",
                "commune-deleguee": "une commune déléguée",
                "commune-associee": "une commune associée",
            }.get(row.get("type", ""), "une ancienne commune")
            within = f" de {parent.name} ({parent.insee})" if parent else ""
            return (
                f"« {code} » ({row.get('nom', '?')}) est {kind}{within}, pas une commune "
                f"actuelle{' : utilisez ' + parent.insee if parent else ''}."
            )
        return f"Code INSEE inconnu « {code} » : aucune commune actuelle ne porte ce code."

    def departement(self, code: str) -> Departement:
        code = code.strip()
        departements = self._ref.departements
        if code in departements:
            return departements[code]
        hint = ""
        if code.isdigit() and len(code) == 1 and "0" + code in departements:
            hint = f" Vouliez-vous dire « 0{code} » ({departements['0' + code].name}) ?"
        elif code in ("20", "2a", "2b"):
            hint = " La Corse a deux départements : 2A et 2B."
        raise UnknownDepartement(
            f"Département inconnu « {code} » : attendu un code comme 78, 2A ou 971.{hint}"
        )

    def region(self, code: str) -> Region:
        regions = self._ref.regions
        if code not in regions:
            raise UnknownTerritory(f"Région inconnue « {code} ».")
        return regions[code]

    def epci_of(self, insee: str) -> Epci | None:
        """The commune's intercommunality; None for the few communes outside any."""
        return self._ref.epcis.get(self.commune(insee).insee)

    def find(self, name: str, departement: str | None = None) -> list[Commune]:
        """Current communes by name (case, accents and hyphens aside): exact names first,
        then names starting with it, then names containing it; at most 20."""
        wanted = search_key(name)
        if not wanted:
            return []
        dep = self.departement(departement).code if departement is not None else None
        ranked: list[tuple[int, str, Commune]] = []
        for key, commune in self._ref.names:
            if wanted not in key or (dep is not None and commune.departement != dep):
                continue
            rank = 0 if key == wanted else 1 if key.startswith(wanted) else 2
            ranked.append((rank, commune.insee, commune))
        return [c for _, _, c in sorted(ranked, key=lambda r: r[:2])[:_MAX_FOUND]]
