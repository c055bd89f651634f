"""The aids' use cases, called by both edges and by the chat: the catalogue's aids for a
project and a commune, those closing soon, comparable funded projects. One service, so
`/v1/aides`, `plume aides` and the chat give the same list. (The cofinancing calculator is
a pure function, `assistant.aides.cofinancing.compute_cofinancing`, called as it is.)"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from types import EllipsisType

from assistant.aides.catalogue import (
    AideFilters,
    AideResults,
    closing_soon,
    find_aides,
    programme_id,
)
from assistant.aides.listing import Deadlines
from assistant.aides.precedents import PrecedentReport, ProjectTable, similar_projects
from assistant.communes import CommuneProfile
from assistant.rag.intents import project_words
from assistant.rag.retrieval import Retriever
from plume.errors import InvalidAideRequest, PlumeError

log = logging.getLogger(__name__)
DEFAULT_LIMIT = 10  # aids listed for a project, on every edge


@dataclass
class AidesService:
    retriever: Retriever
    projects: ProjectTable = field(init=False)  # the funded projects, read once

    def __post_init__(self) -> None:
        self.projects = ProjectTable(self.retriever.store)

    def find(
        self,
        project: str,
        filters: AideFilters | None = None,
        commune: CommuneProfile | None = None,
        limit: int = DEFAULT_LIMIT,
        precedents: PrecedentReport | EllipsisType | None = ...,
    ) -> AideResults:
        """The aids of the catalogue for `project`, within the filters and the commune's
        territory, each with its eligibility verdict. `project` may be the whole question
        (« Quelles aides pour refaire le toit de l'école ? »): only the project's words are
        searched, so the chat, `/v1/aides` and `plume aides` give one list. `precedents`:
        the comparable funded projects when the caller has already looked them up (the
        chat shows them too), None when there are none."""
        limit_chars = self.retriever.max_query_chars  # the search's own bound
        if len(project) > limit_chars:
            raise InvalidAideRequest(
                f"Le projet est trop long ({len(project)} caractères, {limit_chars} au maximum)."
            )
        filters = filters or AideFilters.build()
        words = project_words(project) or project
        if precedents is ...:
            precedents = self.precedents_for(words) if words.strip() else None
        report = precedents
        funded = [programme_id(name) for name in report.by_programme] if report else []
        return find_aides(self.retriever, words, filters, commune, limit=limit, funded=funded)

    def deadlines(
        self, commune: CommuneProfile | None, within_days: int, on: date | None = None
    ) -> Deadlines:
        """The aids closing within `within_days` days (for the commune, when given)."""
        return Deadlines(within_days, closing_soon(self.retriever, commune, within_days, on=on))

    def precedents(
        self,
        project: str,
        programme: str | None = None,
        departement: str | None = None,
        limit: int = 5,
    ) -> PrecedentReport:
        """Funded projects like `project`: how many, their median subsidy, examples."""
        r = self.retriever
        return similar_projects(
            r.store,
            r.encoder,
            project,
            embedder=r.embedder,
            programme=programme,
            departement=departement,
            limit=limit,
            table=self.projects,
        )

    def precedents_for(self, project: str) -> PrecedentReport | None:
        """For the chat: comparable projects if the lists hold some; a word in no project's
        title (« refaire ») is dropped and the search tried again once."""
        try:
            report = self.precedents(project)
            unknown = set(report.unknown_words)
            rest = " ".join(w for w in project.split() if w not in unknown)
            if not report.count and unknown and rest:
                report = self.precedents(rest)
        except PlumeError as exc:
            log.warning("precedents skipped: %s", exc.message)
            return None
        return report if report.count else None

    def reload(self) -> None:
        """After an ingestion: the funded projects are read again on next use."""
        self.projects.clear()
