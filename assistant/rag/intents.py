"""What a question asks for: the law (the default), grants for a project, or a
Territoires d'IA cofinancing computation. Decided by the question's words, before any
model call, so the same routing holds with and without a model."""

from __future__ import annotations

import re
from typing import Literal

from plume.text import fold_accents

Intent = Literal["question", "aides", "precedents", "cofinancement"]

_COFINANCING = re.compile(r"\bco-?financ|\bterritoires? d ?ia\b|\bguichet de cofinanc")
# the funder named with what its « Territoires d'IA » window pays for, and an amount
_AI_FUNDER = re.compile(r"\b(banque des territoires|bdt)\b")
_AI_PURCHASE = re.compile(r"\b(licences?|ia|intelligence artificielle)\b")
_EUROS = re.compile(r"\d ?(€|k ?€|euros?\b)")
_GRANT_WORDS = re.compile(
    r"\b(subventions?|subventionn\w*|dotations?|detr|dsil|dsid|dpv|fonds vert|leader|feader"
    r"|appels? a projets?|financements?|financer|financ\w+ par)\b"
)
_AIDS = re.compile(r"\b(quelles?|des|les|une|aucune|autres?) aides?\b|\baides? (pour|a|au|aux)\b")
_PROJECT = re.compile(
    r"\b(commune|mairie|projet|travaux|renov\w*|refaire|construi\w*|rehabilit\w*|amenag\w*"
    r"|achat|acquisition|ecole|toit\w*|toiture|eglise|voirie|eclairage|salle|batiment|equipement"
    r"|investissement|cimetiere|cantine|stade|logement communal|numerique|intelligence"
    r"|artificielle|transition|energ\w*|isolation|chauffage|accessibilite|patrimoine)\b"
)
# help for people, not for the commune's projects
_PERSONAL = re.compile(
    r"\b(administres?|particuliers?|habitants?|personnes? agees?|allocations?|rsa|apl|chomage"
    r"|associations?|aide sociale|aide juridictionnelle|aide au logement|aide a domicile|aidant)\b"
)


_PRECEDENTS = re.compile(
    r"\b(projets? (similaires?|comparables?|semblables?)|deja (ete )?financ\w*"
    r"|ont (ete|deja ete) (financ\w*|subventionn\w*|retenus?)|ont obtenu|precedents?)\b"
)
# words of the request, not of the project: left out when projects are compared
_REQUEST_TEXT = """
    quelle quelles quel quels aide aides subvention subventions subventionne subventionnes
    financement financements financer finance finances finances dotation dotations detr dsil
    dsid dpv fonds vert leader existe t il ils elle on peut peuvent pourrait obtenir obtenu
    pour notre nos ma mon mes la le les l de des du d commune communes un une a y en est ce
    qui que quoi comment disponibles disponible possibles possible appel appels projet
    projets similaires similaire comparables comparable semblables deja ete ont combien
    retenus retenu precedents precedent autres avec sur dans et ou"""
_REQUEST_WORDS = frozenset(_REQUEST_TEXT.split())


def project_words(question: str) -> str:
    """« Quelles aides pour refaire le toit de l'école ? » → « refaire toit école »: the
    project, to compare with funded projects."""
    words = re.findall(r"\w+", question)
    return " ".join(w for w in words if _fold(w) not in _REQUEST_WORDS)


def _fold(text: str) -> str:
    text = fold_accents(text).casefold().replace("'", " ").replace("’", " ")
    return " ".join(text.split())


# « une commune de 300 habitants »: the commune's size, not help for its inhabitants
_POPULATION = re.compile(r"\b\d[\d .]*\s*(?:habitants?|hab)\b")


def detect(question: str) -> Intent:
    text = _fold(question)
    if _COFINANCING.search(text) or all(r.search(text) for r in (_AI_FUNDER, _AI_PURCHASE, _EUROS)):
        return "cofinancement"
    if _PERSONAL.search(_POPULATION.sub(" ", text)):
        return "question"
    if _PRECEDENTS.search(text):
        return "precedents"
    if _GRANT_WORDS.search(text) or (_AIDS.search(text) and _PROJECT.search(text)):
        return "aides"
    return "question"
