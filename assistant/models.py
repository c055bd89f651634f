"""What the assistant hands back: passages, citations, answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from plume.store import Hit

# generative: the model's text; extractive: quoted sentences; pistes: no certain answer, the
# closest texts to check; refusal: outside what Plume covers, or nothing found; grants: the
# aid catalogue's list for a project; precedents: figures of funded projects; computation:
# a calculator's result
AnswerMode = Literal[
    "generative", "extractive", "pistes", "refusal", "grants", "precedents", "computation"
]
# the modes that answer the question (pistes orient, a refusal does not answer)
ANSWERED_MODES = frozenset({"generative", "extractive", "grants", "precedents", "computation"})

AI_NOTICE = (
    "Vous échangez avec Plume, un assistant fondé sur l'intelligence artificielle. "
    "Ses réponses citent leurs sources officielles : vérifiez-les avant toute décision."
)


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk, ranked."""

    rank: int
    score: float
    hit: Hit

    @property
    def doc_id(self) -> str:
        return self.hit.doc_id

    @property
    def text(self) -> str:
        return self.hit.text

    def field(self, name: str) -> Any:
        return self.hit.payload.get(name)


@dataclass(frozen=True)
class Citation:
    n: int
    doc_id: str
    title: str
    url: str
    excerpt: str
    section: str = ""
    source: str = ""
    source_version: str = ""
    kind: str = ""
    modified: str | None = None
    in_force_from: str | None = None
    in_force_to: str | None = None
    page: int | None = None  # uploaded documents: the page the passage starts on
    # linked documents: the articles a fiche rests on, the fiche that brought an article
    links: list[str] = field(default_factory=list)
    # a special regime's article (Alsace-Moselle, outre-mer…): the territory it applies to
    regime: str | None = None
    # a mirror's snapshot date (codes from LexHub): the text may have changed since
    text_date: str | None = None

    @classmethod
    def from_passage(cls, n: int, passage: Passage, excerpt: str | None = None) -> Citation:
        p = passage.hit.payload
        return cls(
            n=n,
            doc_id=passage.doc_id,
            title=str(p.get("title", "")),
            url=str(p.get("url", "")),
            excerpt=excerpt if excerpt is not None else passage.text,
            section=str(p.get("section", "")),
            source=str(p.get("source", "")),
            source_version=str(p.get("source_version", "")),
            kind=str(p.get("kind", "")),
            modified=p.get("modified"),
            in_force_from=p.get("in_force_from"),
            in_force_to=p.get("in_force_to"),
            page=p.get("page"),
            links=[str(x) for x in p.get("links") or []],
            regime=p.get("regime"),
            text_date=p.get("text_date"),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Citation:
        """A citation read back from `as_dict` (the API's JSON)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


MODEL_UNAVAILABLE = (
    "Le modèle de langue est momentanément indisponible : voici les passages des sources "
    "officielles qui répondent le mieux à la question."
)


@dataclass
class Answer:
    text: str
    mode: AnswerMode
    confidence: float
    citations: list[Citation] = field(default_factory=list)
    notice: str = AI_NOTICE
    flags: list[str] = field(default_factory=list)
    warning: str | None = None  # shown to the user, e.g. the model is unavailable
    question: str | None = None  # the question searched for (a follow-up, rewritten)
    conversation_id: str | None = None
    message_id: str | None = None
    model: str | None = None
    prompt_version: str | None = None
    usage: dict[str, int] | None = None
    impact: dict[str, Any] | None = None
    removed_citations: list[dict[str, Any]] = field(default_factory=list)
    tool: dict[str, Any] | None = None  # a computation: name, arguments, called by, result
    # level (elevee, moyenne, faible), its label, score and reasons (assistant.rag.reliability)
    reliability: dict[str, Any] | None = None
    # beside an answer, the next closest texts, not cited: to check (their key sentence)
    see_also: list[Citation] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Answer:
        """An answer read back from `as_dict` (the API's JSON: `answer` is the text)."""
        known = {f.name for f in fields(cls)} - {"text", "citations", "see_also"}
        return cls(
            text=str(data["answer"]),
            citations=[Citation.from_dict(c) for c in data.get("citations") or []],
            see_also=[Citation.from_dict(c) for c in data.get("see_also") or []],
            **{k: v for k, v in data.items() if k in known},
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "mode": self.mode,
            "confidence": round(self.confidence, 3),
            "citations": [c.as_dict() for c in self.citations],
            "notice": self.notice,
            "flags": list(self.flags),
            "warning": self.warning,
            "question": self.question,
            "conversation_id": self.conversation_id,
            "message_id": self.message_id,
            "model": self.model,
            "prompt_version": self.prompt_version,
            "usage": self.usage,
            "impact": self.impact,
            "removed_citations": list(self.removed_citations),
            "tool": self.tool,
            "reliability": self.reliability,
            "see_also": [c.as_dict() for c in self.see_also],
        }
