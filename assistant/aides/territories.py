"""The territories an aid may be reserved to, and the territory a funder's name gives away.

aides-territoires' export names no perimeter; the funder often says it: « Conseil
départemental de la Drôme », « Syndicat départemental d'énergies du Calvados », « La Drôme
Laboratoire », « ID77 » (a département's number). A funder whose name holds no territory,
or one that spans several (a water agency's basin, a regional nature park), gives none:
its aids stay « à vérifier ».
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.communes import perimeter_key

# Territories an aid's perimeter may name that are known not to contain a commune unless
# its profile names them: the whole-country perimeters, the regions and the départements.
_REGIONS = (
    "Auvergne-Rhône-Alpes", "Bourgogne-Franche-Comté", "Bretagne", "Centre-Val de Loire",
    "Corse", "Grand Est", "Hauts-de-France", "Île-de-France", "Normandie",
    "Nouvelle-Aquitaine", "Occitanie", "Pays de la Loire", "Provence-Alpes-Côte d'Azur",
    "Guadeloupe", "Martinique", "Guyane", "La Réunion", "Mayotte",
)  # fmt: skip
_DEPARTEMENTS = (
    "Ain", "Aisne", "Allier", "Alpes-de-Haute-Provence", "Hautes-Alpes", "Alpes-Maritimes",
    "Ardèche", "Ardennes", "Ariège", "Aube", "Aude", "Aveyron", "Bouches-du-Rhône",
    "Calvados", "Cantal", "Charente", "Charente-Maritime", "Cher", "Corrèze",
    "Corse-du-Sud", "Haute-Corse", "Côte-d'Or", "Côtes-d'Armor", "Creuse", "Dordogne",
    "Doubs", "Drôme", "Eure", "Eure-et-Loir", "Finistère", "Gard", "Haute-Garonne", "Gers",
    "Gironde", "Hérault", "Ille-et-Vilaine", "Indre", "Indre-et-Loire", "Isère", "Jura",
    "Landes", "Loir-et-Cher", "Loire", "Haute-Loire", "Loire-Atlantique", "Loiret", "Lot",
    "Lot-et-Garonne", "Lozère", "Maine-et-Loire", "Manche", "Marne", "Haute-Marne",
    "Mayenne", "Meurthe-et-Moselle", "Meuse", "Morbihan", "Moselle", "Nièvre", "Nord",
    "Oise", "Orne", "Pas-de-Calais", "Puy-de-Dôme", "Pyrénées-Atlantiques",
    "Hautes-Pyrénées", "Pyrénées-Orientales", "Bas-Rhin", "Haut-Rhin", "Rhône",
    "Haute-Saône", "Saône-et-Loire", "Sarthe", "Savoie", "Haute-Savoie", "Paris",
    "Seine-Maritime", "Seine-et-Marne", "Yvelines", "Deux-Sèvres", "Somme", "Tarn",
    "Tarn-et-Garonne", "Var", "Vaucluse", "Vendée", "Vienne", "Haute-Vienne", "Vosges",
    "Yonne", "Territoire de Belfort", "Essonne", "Hauts-de-Seine", "Seine-Saint-Denis",
    "Val-de-Marne", "Val-d'Oise",
)  # fmt: skip
_COLLECTIVITES = (
    "Saint-Pierre-et-Miquelon", "Saint-Barthélemy", "Saint-Martin", "Wallis-et-Futuna",
    "Polynésie française", "Nouvelle-Calédonie",
)  # fmt: skip
_COUNTRY = ("France", "France métropolitaine", "Outre-mer", "Europe")
KNOWN_TERRITORIES = frozenset(
    perimeter_key(t) for t in (*_COUNTRY, *_REGIONS, *_DEPARTEMENTS, *_COLLECTIVITES)
)

# the départements in the order of their numbers: 01 … 19, 2A, 2B, 21 … 95
_CODES = [f"{n:02d}" for n in range(1, 20)] + ["2A", "2B"] + [f"{n}" for n in range(21, 96)]
DEPARTEMENT_BY_CODE = dict(zip(_CODES, (perimeter_key(d) for d in _DEPARTEMENTS), strict=True))

# a funder that is a local authority of one territory: « Conseil départemental de la Drôme »
_TERRITORIAL_FUNDER = re.compile(
    r"^(?:conseil departemental|departement|conseil regional|region"
    r"|etablissement public foncier(?: local)?)\s+(?:de la|de l|du|des|de|d)\s+(.+?)"
    r"(?:\s*\(.*\))?$"
)
# funders whose name holds a place but whose territory spans others
_SPANNING = re.compile(r"^(?:agence de l eau|parc naturel|parc national|bassin|comite de bassin)")
# a département's body named by its number: « ID77 », « SDE 28 », « Territoire d'énergie 90 »
_NUMBERED = re.compile(r"(?:^|[\s(])[a-z]{2,}[\s-]?(\d{2}|2a|2b)\)?$")
_NAMES = sorted((perimeter_key(t) for t in (*_REGIONS, *_DEPARTEMENTS)), key=len, reverse=True)
# a territory named in the funder's name: « … du Calvados », « La Drôme Laboratoire »
_NAMED = re.compile(
    r"(?:^|\b(?:de la|de l|du|des|de|d|la|le|les|l|region|departement)\s)("
    + "|".join(map(re.escape, _NAMES))
    + r")\b"
)


def funder_territory(funder: str) -> str | None:
    """The département or region (its key) a funder's name ties it to, or None."""
    key = perimeter_key(funder)
    match = _TERRITORIAL_FUNDER.match(key)
    if match and match.group(1) in KNOWN_TERRITORIES:
        return match.group(1)
    if _SPANNING.match(key):
        return None
    if number := _NUMBERED.search(key):
        return DEPARTEMENT_BY_CODE.get(number.group(1).upper())
    named = _NAMED.search(key)
    return named.group(1) if named else None


def funder_territories(funders: Sequence[str]) -> list[str | None]:
    """For each funder, the département or region it belongs to (None when its name does
    not say, e.g. a national agency or a bank)."""
    return [funder_territory(f) for f in funders]
