"""Commune profiles: what the grant rules need to know about a commune.

An administrator sets a profile from the commune's INSEE code; name, population,
département, region, intercommunality and the overseas flag come from the official
geographic code (`plume.territory`), the flags the rules need (Action Cœur de Ville,
share of population in QPV, rural) are set by the administrator.

`CommuneRegistry` keeps them in `<data_dir>/communes/profils.json`, rewritten whole to a
temporary file then renamed over the old one.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from plume.documents import perimeter_key
from plume.errors import (
    InvalidCommuneProfile,
    MalformedDocument,
    UnknownCommune,
    UnknownCommuneProfile,
)
from plume.files import read_table, write_table
from plume.territory import INSEE_CODE, Territory

__all__ = ["CommuneProfile", "CommuneRegistry", "parse_share", "perimeter_key"]

_LOCK = threading.Lock()  # one writer at a time within a process (the API's threads)
# Overseas collectivities outside the EU (overseas countries and territories): all of them
# but Saint-Martin, an outermost region like the five overseas départements.
_OUTSIDE_EU = ("975", "977", "984", "986", "987", "988", "989")


def parse_share(text: str) -> float:
    """A share as an administrator types it: « 0.45 », « 0,45 » or « 45 % » → 0.45."""
    raw = "".join(text.split()).replace(",", ".")
    percent = raw.endswith("%")
    try:
        value = float(raw.removesuffix("%"))
    except ValueError:
        value = math.nan
    share = value / 100 if percent else value
    if not (math.isfinite(share) and 0 <= share <= 1):
        raise InvalidCommuneProfile(
            f"Part de la population en QPV invalide « {text} » : attendu une fraction entre "
            "0 et 1 (0,45) ou un pourcentage (45 %)."
        )
    return share


def _check_insee(insee: str) -> str:
    code = insee.strip()
    if not INSEE_CODE.fullmatch(code):
        raise InvalidCommuneProfile(
            f"Code INSEE invalide « {insee} » : il a 5 caractères, par exemple 78003, "
            "2A004 (Corse) ou 97101 (outre-mer)."
        )
    return code


@dataclass(frozen=True)
class CommuneProfile:
    insee: str  # code officiel géographique, e.g. "78003", "2A004", "97101"
    name: str
    population: int
    departement: str  # code, e.g. "78", "2A", "971"
    departement_name: str
    region: str  # code, e.g. "11"
    region_name: str
    epci_siren: str | None = None
    epci_name: str | None = None
    outre_mer: bool = False
    action_coeur_de_ville: bool = False
    qpv_share: float | None = None  # share of the population living in a QPV, 0..1; None: unknown
    rural: bool | None = None  # None: unknown

    def __post_init__(self) -> None:
        _check_insee(self.insee)
        share = self.qpv_share
        if share is not None and not (math.isfinite(share) and 0 <= share <= 1):
            raise InvalidCommuneProfile(
                f"Part de la population en QPV invalide ({share}) : attendu une fraction "
                "entre 0 et 1 (0,45 pour 45 %)."
            )

    def perimeters(self) -> list[str]:
        """Names of the territories containing the commune, smallest first, as an aid's
        perimeter may name them (compare through `perimeter_key`)."""
        names = [
            self.name,
            self.epci_name,
            self.departement_name,
            self.region_name,
            "France",
            "Outre-mer" if self.outre_mer else "France métropolitaine",
            None if self.departement in _OUTSIDE_EU else "Europe",
        ]
        return list(dict.fromkeys(n for n in names if n))

    def perimeter_keys(self) -> list[str]:
        return list(dict.fromkeys(perimeter_key(n) for n in self.perimeters()))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> CommuneProfile:
        """The inverse of `as_dict`; `MalformedDocument` if a field has the wrong type."""
        kinds: dict[str, tuple[type, ...]] = {
            "insee": (str,),
            "name": (str,),
            "population": (int,),
            "departement": (str,),
            "departement_name": (str,),
            "region": (str,),
            "region_name": (str,),
            "epci_siren": (str, type(None)),
            "epci_name": (str, type(None)),
            "outre_mer": (bool,),
            "action_coeur_de_ville": (bool,),
            "qpv_share": (float, int, type(None)),
            "rural": (bool, type(None)),
        }
        values = {k: raw.get(k, _DEFAULTS.get(k)) for k in kinds}
        bad = [k for k, v in values.items() if not isinstance(v, kinds[k])]
        if bad:
            raise MalformedDocument(
                f"Profil de commune « {raw.get('insee')} » : champ(s) invalide(s) {', '.join(bad)}."
            )
        if values["qpv_share"] is not None:
            values["qpv_share"] = float(values["qpv_share"])
        return cls(**values)


_DEFAULTS: dict[str, Any] = {
    "epci_siren": None,
    "epci_name": None,
    "outre_mer": False,
    "action_coeur_de_ville": False,
    "qpv_share": None,
    "rural": None,
}


@dataclass
class CommuneRegistry:
    """The communes' profiles, one JSON file: `<data_dir>/communes/profils.json`."""

    data_dir: Path
    territory: Territory
    path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.path = self.data_dir / "communes" / "profils.json"

    def _load(self) -> dict[str, CommuneProfile]:
        table = read_table(self.path, "communes", "des profils")
        return {
            code: CommuneProfile.from_dict({**body, "insee": code}) for code, body in table.items()
        }

    def _write(self, profiles: dict[str, CommuneProfile]) -> None:
        table = {
            code: {k: v for k, v in p.as_dict().items() if k != "insee"}
            for code, p in profiles.items()
        }
        write_table(self.path, "communes", table)

    def _from_territory(self, insee: str, previous: CommuneProfile | None) -> CommuneProfile:
        try:
            commune = self.territory.commune(insee)
        except UnknownCommune as exc:
            if not INSEE_CODE.fullmatch(insee.strip()):
                raise InvalidCommuneProfile(exc.message) from exc
            raise
        departement = self.territory.departement(commune.departement)
        epci = self.territory.epci_of(commune.insee)
        return CommuneProfile(
            insee=commune.insee,
            name=commune.name,
            population=commune.population or 0,
            departement=departement.code,
            departement_name=departement.name,
            region=commune.region,
            region_name=self.territory.region(commune.region).name,
            epci_siren=epci.siren if epci else None,
            epci_name=epci.name if epci else None,
            outre_mer=commune.outre_mer,
            action_coeur_de_ville=previous.action_coeur_de_ville if previous else False,
            qpv_share=previous.qpv_share if previous else None,
            rural=previous.rural if previous else None,
        )

    def put(
        self,
        insee: str,
        *,
        action_coeur_de_ville: bool | None = None,
        qpv_share: float | None = None,
        rural: bool | None = None,
    ) -> tuple[CommuneProfile, bool]:
        """Create or update the commune's profile (flags not given are kept); whether new.

        Name, population, département, region, EPCI and the overseas flag are read again
        from the geographic code each time."""
        with _LOCK:
            profiles = self._load()
            previous = profiles.get(insee.strip())
            profile = self._from_territory(insee, previous)
            changes: dict[str, Any] = {
                "action_coeur_de_ville": action_coeur_de_ville,
                "qpv_share": qpv_share,
                "rural": rural,
            }
            profile = replace(profile, **{k: v for k, v in changes.items() if v is not None})
            profiles[profile.insee] = profile
            self._write(profiles)
        return profile, previous is None

    def get(self, insee: str) -> CommuneProfile:
        code = _check_insee(insee)
        profiles = self._load()
        if code not in profiles:
            raise UnknownCommuneProfile(
                f"Aucun profil pour la commune « {code} » : l'administrateur le crée avec "
                f"`plume commune ajouter {code}`."
            )
        return profiles[code]

    def list(self) -> list[CommuneProfile]:
        return [p for _, p in sorted(self._load().items())]

    def delete(self, insee: str) -> CommuneProfile:
        """Remove the profile; the one removed."""
        code = _check_insee(insee)
        with _LOCK:
            profiles = self._load()
            if code not in profiles:
                raise UnknownCommuneProfile(f"Aucun profil pour la commune « {code} ».")
            removed = profiles.pop(code)
            self._write(profiles)
        return removed
