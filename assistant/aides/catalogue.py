"""Grants for a commune: the aids it can claim for a project, and those closing soon.

The catalogue is what the store holds of kind `aide`: aides-territoires aids and the
team's national programmes (`corpus/programmes.toml`). A search filters inside Qdrant
(beneficiary type, territory, theme, aid type, open on a day, closing within N days)
and ranks by the project described; then each aid gets the eligibility verdict the data
allows for the commune's profile (`assistant.aides.eligibility`): what cannot be decided is
said « à vérifier auprès du financeur », never guessed. Aids the data shows the commune
cannot claim are left out, and counted.

Beneficiary types and aid types are aides-territoires' official enumerations; a filter
accepts their label (« Communes ») or their code (« commune »).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from assistant.aides.eligibility import Verdict, assess
from assistant.communes import CommuneProfile
from assistant.models import Citation, Passage
from assistant.rag.retrieval import Retriever
from plume.documents import UNKNOWN_PERIMETER, perimeter_key
from plume.errors import InvalidAideRequest, shown
from plume.store import Hit, SearchFilter
from plume.text import fold_accents

KIND = "aide"
PROGRAMMES = "programmes"  # the team's national catalogue
AIDE_SOURCES = ("programmes", "aides-territoires")
NATIONAL_CUT = 0.5  # national programmes kept: score at least half the best one's
# the catalogue's aids kept: a score at least this share of the best one's (the rest match
# the project's words only in passing: « refaire », « commune »); tuned on the dev sets'
# aid questions (bench/aides_cut.py)
RELATIVE_CUT = 0.6
# The State's general investment grants: any investment of a rural commune may claim them,
# whatever words the project is told in (« aire de jeux », « réserve incendie », « station
# d'épuration »), so they are always listed, after the aids that match its words; their
# rules (population, perimeter) then decide if the commune is eligible.
GENERAL_PROGRAMMES = ("aide/programme-detr", "aide/programme-dsil")
# ... unless the project is an operating expense, which they do not fund
_OPERATING = re.compile(r"\b(fonctionnement|salaires?|r[ée]mun[ée]ration|emplois?|recrut)", re.I)
MAX_DAYS = 366
BENEFICIARIES = {
    "commune": "Communes",
    "epci": "Intercommunalités / Pays",
    "department": "Départements",
    "region": "Régions",
    "special": "Collectivités d'outre-mer à statuts particuliers",
    "association": "Associations",
    "private_person": "Particuliers",
    "farmer": "Agriculteurs",
    "private_sector": "Entreprises privées",
    "public_cies": "Entreprises publiques locales (Sem, Spl, SemOp)",
    "public_org": "Établissements publics (écoles, bibliothèques…) / Services de l'État",
    "researcher": "Recherche",
}
AID_TYPES = {
    "grant": "Subvention",
    "loan": "Prêt",
    "recoverable_advance": "Avance récupérable",
    "cee": "Certificat d'économie d'énergie (CEE)",
    "other": "Autre aide financière",
    "technical_engineering": "Ingénierie technique",
    "financial_engineering": "Ingénierie financière",
    "legal_engineering": "Ingénierie Juridique / administrative",
}
_FIELDS = (
    "doc_id",
    "title",
    "url",
    "text",
    "source",
    "source_version",
    "kind",
    "section",
    "modified",
    "in_force_from",
    "in_force_to",
    "funders",
    "beneficiaries",
    "aid_types",
    "categories",
    "perimeter",
    "perimeter_key",
    "recurrence",
    "deadline",
    "deadline_note",
    "rate_min",
    "rate_max",
    "application_url",
    "programme",
    "rules",
    "predeposit_date",
)


def _fold(text: str) -> str:
    return " ".join(fold_accents(text).casefold().split())


def _vocabulary(values: Iterable[str], known: dict[str, str], what: str) -> tuple[str, ...]:
    """Labels or codes typed by a person → the official labels, or a French error."""
    by_name = {_fold(label): label for label in known.values()}
    by_name.update({code: label for code, label in known.items()})
    out = []
    for value in values:
        label = by_name.get(_fold(value))
        if label is None:
            raise InvalidAideRequest(
                f"{what} inconnu : « {shown(value)} ». "
                f"Valeurs possibles : {', '.join(known.values())}."
            )
        out.append(label)
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class AideFilters:
    """What a grant search may return. Empty tuples: no condition of that kind."""

    beneficiaries: tuple[str, ...] = ()
    perimeters: tuple[str, ...] = ()  # territory names; aids of unknown perimeter stay
    categories: tuple[str, ...] = ()
    aid_types: tuple[str, ...] = ()
    open_on: date | None = None  # default: today
    closing_within: int | None = None  # days from `open_on`
    closing_by: date | None = None

    @classmethod
    def build(
        cls,
        *,
        beneficiaries: Sequence[str] = (),
        perimeters: Sequence[str] = (),
        categories: Sequence[str] = (),
        aid_types: Sequence[str] = (),
        open_on: date | None = None,
        closing_within: int | None = None,
        closing_by: date | None = None,
        today: date | None = None,
    ) -> AideFilters:
        """Validated filters: unknown types, negative windows and past deadlines are refused."""
        day = open_on or today or date.today()
        if closing_within is not None and not 0 <= closing_within <= MAX_DAYS:
            raise InvalidAideRequest(
                f"Le délai de clôture doit être compris entre 0 et {MAX_DAYS} jours "
                f"(reçu : {closing_within})."
            )
        if closing_by is not None and closing_by < day:
            raise InvalidAideRequest(
                f"La date limite demandée ({closing_by:%d/%m/%Y}) est déjà passée au "
                f"{day:%d/%m/%Y} : aucune aide ouverte ne peut fermer avant."
            )
        return cls(
            beneficiaries=_vocabulary(beneficiaries, BENEFICIARIES, "Bénéficiaire"),
            perimeters=tuple(p for p in (" ".join(x.split()) for x in perimeters) if p),
            categories=tuple(c.strip() for c in categories if c.strip()),
            aid_types=_vocabulary(aid_types, AID_TYPES, "Type d'aide"),
            open_on=day,
            closing_within=closing_within,
            closing_by=closing_by,
        )

    @property
    def day(self) -> date:
        return self.open_on or date.today()

    def ends_by(self) -> date | None:
        """The store's `in_force_to` of an aid is the day after its deadline."""
        ends = [
            d
            for d in (
                self.closing_by,
                self.day + timedelta(days=self.closing_within)
                if self.closing_within is not None
                else None,
            )
            if d is not None
        ]
        return min(ends) + timedelta(days=1) if ends else None

    def search_filter(self) -> SearchFilter:
        fields: dict[str, list[str]] = {}
        if self.beneficiaries:
            fields["beneficiaries"] = list(self.beneficiaries)
        if self.perimeters:
            keys = [perimeter_key(p) for p in self.perimeters]
            fields["perimeter_key"] = list(dict.fromkeys([*keys, UNKNOWN_PERIMETER]))
        if self.categories:
            fields["categories"] = list(self.categories)
        if self.aid_types:
            fields["aid_types"] = list(self.aid_types)
        return SearchFilter(kinds=[KIND], as_of=self.day, ends_by=self.ends_by(), fields=fields)

    def for_commune(self, commune: CommuneProfile | None) -> AideFilters:
        """A commune's search: aids for communes, on its territory, unless told otherwise."""
        if commune is None:
            return self
        return AideFilters(
            beneficiaries=self.beneficiaries or (BENEFICIARIES["commune"],),
            perimeters=self.perimeters or tuple(commune.perimeters()),
            categories=self.categories,
            aid_types=self.aid_types,
            open_on=self.open_on,
            closing_within=self.closing_within,
            closing_by=self.closing_by,
        )


def rate_text(rate_min: Any, rate_max: Any) -> str | None:
    """« 20 à 80 % », « jusqu'à 50 % », « 30 % » or None when the data has no rate."""
    low = int(rate_min) if rate_min is not None else None
    high = int(rate_max) if rate_max is not None else None
    if low is not None and high is not None:
        return f"{low} %" if low == high else f"{low} à {high} %"
    if high is not None:
        return f"jusqu'à {high} %"
    if low is not None:
        return f"au moins {low} %"
    return None


@dataclass(frozen=True)
class AideMatch:
    doc_id: str
    name: str
    url: str
    source: str
    funders: list[str]
    rate: str | None
    deadline: str | None  # ISO date; None: permanent or set by each call
    deadline_note: str
    perimeter: str
    beneficiaries: list[str]
    aid_types: list[str]
    application_url: str
    verdict: Verdict
    excerpt: str
    score: float = 0.0
    payload: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_hit(cls, hit: Hit, verdict: Verdict) -> AideMatch:
        p = hit.payload
        return cls(
            doc_id=hit.doc_id,
            name=str(p.get("title", "")),
            url=str(p.get("url", "")),
            source=str(p.get("source", "")),
            funders=list(p.get("funders") or []),
            rate=rate_text(p.get("rate_min"), p.get("rate_max")),
            deadline=p.get("deadline"),
            deadline_note=str(p.get("deadline_note") or ""),
            perimeter=str(p.get("perimeter") or ""),
            beneficiaries=list(p.get("beneficiaries") or []),
            aid_types=list(p.get("aid_types") or []),
            application_url=str(p.get("application_url") or ""),
            verdict=verdict,
            excerpt=hit.text[:400],
            score=hit.score,
            payload=p,
        )

    def citation(self, n: int) -> Citation:
        hit = Hit(self.doc_id, self.score, self.payload)
        return Citation.from_passage(n, Passage(n, self.score, hit), excerpt=self.excerpt)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("payload")
        out["verdict"] = {"status": self.verdict.status, "reasons": list(self.verdict.reasons)}
        return out


@dataclass
class AideResults:
    aides: list[AideMatch]
    excluded: list[tuple[str, str]]  # (aid name, why the commune cannot claim it)
    commune: CommuneProfile | None
    filters: AideFilters

    def as_dict(self) -> dict[str, Any]:
        return {
            "commune": self.commune.insee if self.commune else None,
            "date": self.filters.day.isoformat(),
            "aides": [g.as_dict() for g in self.aides],
            "exclues": [{"aide": name, "raison": why} for name, why in self.excluded],
        }


def _judge(
    hits: Iterable[Hit], commune: CommuneProfile | None, on: date, limit: int
) -> tuple[list[AideMatch], list[tuple[str, str]]]:
    grants: list[AideMatch] = []
    excluded: list[tuple[str, str]] = []
    seen: set[str] = set()
    for hit in hits:
        if hit.doc_id in seen:
            continue
        seen.add(hit.doc_id)
        verdict = assess(hit.payload, commune, on)
        if verdict.status == "non_eligible":
            excluded.append((str(hit.payload.get("title", hit.doc_id)), "; ".join(verdict.reasons)))
        elif len(grants) < limit:
            grants.append(AideMatch.from_hit(hit, verdict))
    return grants, excluded


def _general(retriever: Retriever, where: SearchFilter, ids: Sequence[str]) -> list[Hit]:
    scope = replace(where, sources=[PROGRAMMES], doc_ids=list(ids))
    found = {str(p.payload.get("doc_id")): p for p in retriever.store.points(scope)}
    return [Hit(found[d].id, 0.0, found[d].payload) for d in ids if d in found]


def programme_id(name: str) -> str:
    """A funded project's programme (« DETR », « Fonds vert ») → its catalogue id."""
    return "aide/programme-" + "-".join(_fold(name).split())


def find_aides(
    retriever: Retriever,
    project: str,
    filters: AideFilters,
    commune: CommuneProfile | None = None,
    *,
    limit: int = 8,
    funded: Sequence[str] = (),
) -> AideResults:
    """The aids for `project` (words of the secretary), best first; without a project,
    every aid within the filters, soonest deadline first. `funded`: the programmes that
    funded comparable projects, most first; listed with the general ones after the aids
    that match the project's words."""
    scoped = filters.for_commune(commune)
    where = scoped.search_filter()
    if project.strip():
        hits: list[Hit] = []
        # national programmes first: the few that fit the project are what a secretary
        # must not miss (DETR, DSIL, Fonds vert…); then the local and thematic aids
        national = retriever.search(project, replace(where, sources=[PROGRAMMES]), limit=3)
        if national:
            best = national[0].score
            hits += [p.hit for p in national if p.score >= NATIONAL_CUT * best]
        others = replace(where, sources=[s for s in AIDE_SOURCES if s != PROGRAMMES])
        found = retriever.search(project, others, limit=limit * 3)
        if found:  # the aids that match the project nearly as well as the best one
            best = found[0].score
            hits += [p.hit for p in found if p.score >= RELATIVE_CUT * best]
    else:
        hits = [
            Hit(str(pid), 0.0, payload) for pid, payload in retriever.store.scan(where, _FIELDS)
        ]
        hits.sort(key=lambda h: (h.payload.get("deadline") or "9999", str(h.payload.get("title"))))
    grants, excluded = _judge(hits, commune, scoped.day, limit)
    if project.strip() and not _OPERATING.search(project):
        # then the general investment grants, beyond `limit`, when not already listed
        listed = {g.doc_id for g in grants}
        judged = {title for title, _ in excluded}
        general = [
            h
            for h in _general(retriever, where, list(dict.fromkeys([*funded, *GENERAL_PROGRAMMES])))
            if h.doc_id not in listed and str(h.payload.get("title", h.doc_id)) not in judged
        ]
        more, left_out = _judge(general, commune, scoped.day, len(general))
        grants += more
        excluded += [e for e in left_out if e not in excluded]
    return AideResults(grants, excluded, commune, scoped)


def closing_soon(
    retriever: Retriever,
    commune: CommuneProfile | None,
    within_days: int,
    *,
    on: date | None = None,
    limit: int = 50,
) -> AideResults:
    """Aids open on `on` whose deadline falls within `within_days` days, soonest first."""
    filters = AideFilters.build(closing_within=within_days, open_on=on)
    return find_aides(retriever, "", filters, commune, limit=limit)
