"""What a question asks for, and whether a sentence gives it.

A secretary's question names a situation and asks for one thing about it: who may act, by
when, which papers, where to go, how much it costs, how many, whether it is allowed, how
to proceed. These are its *facets*. A sentence that shares the question's words but not
its facet (« what the copy contains » for « who may ask for the copy ») is not the answer;
one that gives the facet (« … peut être demandée par toute personne majeure ») is.

Both sides are read with patterns on the folded text (lowercase, no accents). They are
deliberately broad: a facet is a preference among sentences that already match the
question's subject, never a reason to answer on its own.
"""

from __future__ import annotations

import re
from typing import Literal

from plume.text import fold_accents

Facet = Literal["qui", "delai", "pieces", "lieu", "cout", "nombre", "droit", "procedure"]
FACETS: tuple[Facet, ...] = (
    "qui",
    "delai",
    "pieces",
    "lieu",
    "cout",
    "nombre",
    "droit",
    "procedure",
)
# What the user reads in a reliability reason: « la source dit qui … »
LABELS: dict[Facet, str] = {
    "qui": "qui est compétent ou concerné",
    "delai": "le délai ou la date",
    "pieces": "les pièces à fournir",
    "lieu": "à qui s'adresser",
    "cout": "le coût",
    "nombre": "le nombre ou le seuil",
    "droit": "ce qui est permis ou obligatoire",
    "procedure": "la démarche",
}

_NUMBER_WORDS = (
    r"(?:\d+|un|une|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|quinze|vingt"
    r"|trente|quarante|cinquante|soixante|cent)"
)
_UNITS = r"(?:jours?|mois|ans?|annees?|semaines?|heures?|minutes?|trimestres?)"
_MONTHS = (
    r"(?:janvier|fevrier|mars|avril|mai|juin|juillet|aout|septembre|octobre|novembre"
    r"|decembre)"
)

# --- the question side -----------------------------------------------------------------------
_ASKS: dict[Facet, re.Pattern[str]] = {
    # « qui » as a question word: at the start of a clause, after « c'est », « par », « à »…
    # not the relative pronoun of « le voisin qui fait du bruit »
    "qui": re.compile(
        r"(?:^|[,;:?!.(]\s*|\b(?:c ?est|et|mais|alors|donc|par|a|aupres de|de|pour|sur)\s+)qui\b"
        r"|\bquel(?:le)?s? (?:personnes?|autorites?|services?|organismes?|elus?|juridictions?)\b"
    ),
    "delai": re.compile(
        rf"\bcombien de (?:temps|{_UNITS})\b|\b(?:quel|dans quel|le) delais?\b|\bdelais?\b"
        r"|\bquand\b|\ba partir de quand\b|\bjusqu ?a quand\b|\bdate limite\b|\bau plus tard\b"
        r"|\bcombien (?:de temps )?(?:avant|apres)\b|\bduree\b|\bvalable\b|\bexpir\w*"
        r"|\bperime\w*|\b(?:avant|apres) (?:quelle|quel)\b|\btoujours valable\b|\bdepuis combien\b"
    ),
    "pieces": re.compile(
        r"\b(?:papiers?|pieces?|documents?|justificatifs?|dossiers?|formulaires?|cerfa"
        r"|fournir|apporter|amener|joindre)\b|\bdeposer quoi\b|\bfaut quoi\b"
    ),
    "lieu": re.compile(
        r"\bou (?:s ?adresser|aller|faire|deposer|envoyer|demander|se renseigner|trouver)\b"
        r"|\ba qui\b|\baupres de qui\b|\bquel(?:le)? (?:service|organisme|guichet|mairie|adresse)\b"
        r"|\bqui (?:contacter|appeler|saisir)\b|\bou (?:est|se fait|se passe)\b|^ou\b"
    ),
    "cout": re.compile(
        r"\bcombien (?:ca|cela|ça) (?:coute|coûte)\b|\bcoute\b|\bcout\b|\bprix\b|\bpayant\w*"
        r"|\bgratuit\w*|\btarifs?\b|\bfrais\b|\bpayer\b|\ba payer\b|\bmontant\b|\bfactur\w*"
    ),
    "nombre": re.compile(
        rf"\bcombien\b(?! de (?:temps|{_UNITS})\b)|\bquel(?:le)? (?:nombre|pourcentage|taux|seuil"
        r"|majorite|quorum|proportion)\b|\bminimum\b|\bmaximum\b|\bau moins\b|\bau plus\b"
    ),
    "droit": re.compile(
        r"\b(?:a|ont|avoir) (?:le )?droit\b|\ba ?t ?(?:il|elle|on) le droit\b|\bpeut ?(?:il|elle|on"
        r"|ils|elles)\b|\bpeux ?je\b|\bpeut on\b|\bpeut se\b|\bon peut\b|\bil peut\b|\belle peut\b"
        r"|\best ce (?:que )?(?:possible|obligatoire|autorise|interdit|legal|normal)\b"
        r"|\bobligatoire\w*|\bobliges?\b|\bobligee?s?\b|\binterdi\w*|\bautoris\w*|\bpossible\b"
        r"|\bfaut ?il\b|\bdoit ?(?:il|elle|on)\b|\bje dois\b|\bon doit\b|\bil faut\b|\bca passe\b"
        r"|\bsommes nous\b|\bsuis je\b|\ble maire peut\b|\bdroit de\b|\bempecher\b|\brefuser\b"
    ),
    "procedure": re.compile(
        r"\bcomment\b|\bquelles? (?:demarches?|procedures?|formalites?)\b|\bque (?:faire|doit)\b"
        r"|\bon fait (?:quoi|comment)\b|\bfaire quoi\b|\bla procedure\b|\bmarche a suivre\b"
        r"|\betapes?\b|\bdemarches?\b|\bformalites?\b"
    ),
}

# --- the sentence side -----------------------------------------------------------------------
_GIVES: dict[Facet, re.Pattern[str]] = {
    "qui": re.compile(
        r"\b(?:le maire|l officier|le prefet|le conseil|le president|le representant|toute"
        r" personne|les? (?:personnes?|parents?|demandeurs?|interesses?|titulaires?"
        r"|proprietaires?|employeurs?|salaries?|agents?|electeurs?|heritiers?|descendants?|ascendants?|epoux|conjoints?"
        r"|membres?|adjoints?|conseillers?|candidats?|beneficiaires?|usagers?|locataires?"
        r"|declarants?|associes?)|le notaire|le juge|le tribunal|la commission|l administration"
        r"|l autorite|le comptable|le secretaire|la personne|seule?s?)\b"
        r"|\b(?:demandee?s?|delivree?s?|faite?s?|presentee?s?|signee?s?|etablie?s?|presidee?s?"
        r"|designee?s?|prise?s?|nommee?s?|elue?s?|convoquee?s?|saisie?s?|exercee?s?) par\b"
        r"|\bpar (?:le|la|les|l|un|une|son|sa|ses)\b|\bappartient a\b|\brelevent? de\b"
        r"|\best competent\w*|\bsont competent\w*"
    ),
    "delai": re.compile(
        rf"\b{_NUMBER_WORDS}\s+(?:{_UNITS})\b|\bdelais?\b|\bau plus tard\b|\bavant (?:le|la|l)\b"
        rf"|\bjusqu ?(?:au|a)\b|\b\d+(?:er)? {_MONTHS}\b|\b(?:\w+ieme|\d+e|premier|dernier)"
        r" (?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|jour|mois)\b|\bfrancs?\b"
        r"|\bimmediatement\b|\bsans delai\b|\bdes (?:la|le|que|reception)\b|\bchaque annee\b"
        r"|\bavant (?:celui|le jour|la date)\b|\bpendant\b|\bdurant\b|\bvalable\w*|\bduree\b"
        r"|\bau cours (?:de|du)\b|\bpeu apres\b|\ba compter\b|\bexpir\w*|\bechean\w*"
    ),
    "pieces": re.compile(
        r"\b(?:pieces?|justificatifs?|fournir|formulaires?|cerfa|copies?|photos?|photographies?"
        r"|attestations?|certificats?|livret|passeport|carte (?:nationale )?d identite|acte de"
        r"|dossier|documents? suivants|joindre|joint|accompagnee? (?:de|d))\b"
    ),
    "lieu": re.compile(
        r"\baupres (?:de|du|des)\b|\ba la mairie\b|\bou s adresser\b|\bprefecture\b|\btribunal\b"
        r"|\ben ligne\b|\bteleservice\b|\bguichet\b|\bservice\b|\bmairie (?:du|de|de la)\b"
        r"|\bconsulat\b|\bcaisse\b|\badress\w+ (?:a|au|aux)\b|\bdepose\w* (?:a|au|aux|en)\b"
    ),
    "cout": re.compile(
        r"€|\beuros?\b|\bgratuit\w*|\btarifs?\b|\bfrais\b|\btimbre fiscal\b|\bpayant\w*|\bprix\b"
        r"|\bmontant\b|\bredevance\b|\bcout\w*|\bremboursement\b"
    ),
    "nombre": re.compile(
        rf"\b\d+\b|\b{_NUMBER_WORDS}\b|\bmajorite\b|\bmoitie\b|\btiers\b|\bquart\b|%|\bpour cent\b"
        r"|\bau moins\b|\bau plus\b|\bmoins de\b|\bplus de\b|\bseuil\b"
    ),
    "droit": re.compile(
        r"\b(?:peut|peuvent|pourra|pourront|doit|doivent|devra|devront|est tenue?s?|sont tenue?s?"
        r"|interdit\w*|obligatoire\w*|autoris\w*|dispense\w*|soumise?s?|exempte\w*|est possible"
        r"|n est pas possible|a le droit|ont le droit|ne (?:peut|peuvent|doit|doivent)|sauf"
        r"|uniquement|seulement|prohib\w*|illegal\w*|nulle?s?|est requise?|sont requise?s?"
        r"|il faut|il est necessaire|n est pas necessaire|n est pas obligatoire)\b"
    ),
    "procedure": re.compile(
        r"\b(?:demande|faire une demande|doit (?:etre )?(?:adresse|depose|envoye|fait|presente)\w*"
        r"|il faut|adresse\w*|depose\w*|depot|rempli\w*|saisi\w*|envoye\w*|se rendre|rendez-vous"
        r"|en ligne|formulaire|declar\w*|inscri\w*|procedure|demarche\w*|transmet\w*|notifi\w*)\b"
    ),
}


def _fold(text: str) -> str:
    text = fold_accents(text.replace("’", "'")).lower().replace("'", " ").replace("-", " ")
    return " ".join(text.split())


def asked(question: str) -> frozenset[Facet]:
    """The facets a question asks for (none: a plain « what about X »)."""
    folded = _fold(question)
    found = {f for f, pattern in _ASKS.items() if pattern.search(folded)}
    if "où" in question.lower().split() or question.lower().startswith("où"):
        found.add("lieu")
    if found & {"delai", "cout"}:
        found.discard("nombre")  # « combien de jours », « combien ça coûte »
    return frozenset(found)


def given(sentence: str, facets: frozenset[Facet], heading: str = "") -> frozenset[Facet]:
    """Which of `facets` the sentence gives, by its words or by the heading it is under
    (a fiche's « Qui peut faire la demande ? », « Délai d'obtention », « Pièces à
    fournir »: the heading says what its sentences give)."""
    if not facets:
        return frozenset()
    folded = _fold(sentence)
    found = {f for f in facets if _GIVES[f].search(folded)}
    for part in heading.split(" > ")[-2:] if heading else []:  # the nearest headings
        found |= facets & asked(part)
    return frozenset(found)
