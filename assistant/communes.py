"""Commune profiles: what the grant rules need to know about a commune.

An administrator sets a profile from the commune's INSEE code; name, population,
département, region, intercommunality and the overseas flag come from the official
geographic code (`plume.territory`), the flags the rules need (Action Cœur de Ville,
share of population in QPV, rural) are set by the administrator.

(Work in progress: the registry and its persistence are being written.)
"""

from __future__ import annotations

from dataclasses import dataclass


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
