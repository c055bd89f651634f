"""Within what Plume covers, or not: the only decision taken before answering.

Three kinds of questions, told apart by their meaning, not by how many of their words a
passage holds:

- `admin`: a rule, a procedure, a right, a deadline, a grant — the same for every commune,
  in the law, the service-public.fr fiches or the grants catalogue. Answered, or oriented.
- `local`: a fact of one commune's own records (what its council decided on 19 May, the
  tariffs it voted, a local phone number). Answered only from that commune's documents.
- `hors_champ`: not administrative at all (cooking, medicine, weather, IT help, a poem).
  Refused, with the reason.

The classifier is a small neural network (one hidden layer) over the question's
multilingual-e5-small vector (plume.embedding.LocalEmbedder) and its hashed words, trained
by `plume eval scope` on a labelled set kept in `corpus/scope_train.jsonl` plus the dev
sets' questions, stored in `corpus/models/scope.npz` (weights, thresholds, what it was
trained on; a linear model on the same inputs refused a quarter fewer out-of-scope
questions of the dev sets, measured by cross-validation). Without the model
file or the embedder, every question is `admin`: Plume never refuses for lack of a model.

One family is decided by a rule before the model (`own_records`): a question on what a
commune's council decided — « qu'a décidé le conseil municipal du 19 mai 2021 ? », « quelle
délibération a été prise sur… », « le conseil a-t-il voté… en 2021 ? », « décisions de la
séance du 24/02/2023 » — is `local`, whatever the model says. The model leans that way on
them but not always past its threshold (`local_min`, chosen so that few admin questions are
sent to the documents): « qu'a décidé le conseil municipal du 19 mai 2021 ? » scored 0.63
against 0.78, and without a commune key its words then found articles of the codes. The
rule asks for a decision already taken (the past tense, or a meeting named by its day), of
a council (not the Conseil d'État) — what the law of councils is never asked as: « comment
convoquer le conseil municipal ? », « quorum du conseil municipal », « le conseil a voté le
budget le 20 avril, est-ce trop tard ? » stay with the model. On the labelled questions
(corpus/scope_train.jsonl and the eval sets) it takes no admin question.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from plume.documents import MONTHS
from plume.embedding import Embedder
from plume.text import fold_accents

if TYPE_CHECKING:  # numpy is imported when a scope model is loaded or trained
    import numpy as np

log = logging.getLogger(__name__)
Label = Literal["admin", "local", "hors_champ"]
LABELS: tuple[Label, ...] = ("admin", "local", "hors_champ")
MODEL_FILE = Path("models") / "scope.npz"
TRAIN_FILE = Path("scope_train.jsonl")

OUT_OF_SCOPE = (
    "Cette question sort du champ de Plume : il répond à partir des textes officiels (lois, "
    "fiches service-public.fr, aides publiques) et des documents de votre commune, pas sur "
    "ce sujet."
)
NEEDS_DOCUMENTS = (
    "Cette question porte sur les informations propres à une commune (décisions du conseil, "
    "délibérations, arrêtés, tarifs votés…). Plume n'y répond qu'à partir des documents "
    "chargés pour votre commune, et je n'y ai rien trouvé : demandez à votre administrateur "
    "de les charger, ou consultez le registre des délibérations."
)


@dataclass(frozen=True)
class Verdict:
    label: Label
    probabilities: dict[str, float]

    @property
    def refused(self) -> bool:
        return self.label == "hors_champ"


ADMIN = Verdict("admin", {"admin": 1.0, "local": 0.0, "hors_champ": 0.0})
RECORDS = Verdict("local", {"admin": 0.0, "local": 1.0, "hors_champ": 0.0})

# --- the rule: what a council decided (see above) -----------------------------------------------
_MONTHS = "(?:" + "|".join(fold_accents(m) for m in MONTHS) + ")"
_COUNCIL = (
    r"(?:conseil(?! (?:d etat|constitutionnel|departemental|regional|general|des ministres"
    r"|de l europe|superieur|de prud\w*|d administration|communautaire|de discipline|medical"
    r"|de famille|de classe|d ecole|syndical))(?: municipal)?|cm|elus|municipalite)"
)
_BODY = rf"(?:(?:le|la|les|l|notre|nos|votre|vos) ?(?:{_COUNCIL}|commune|mairie|ville))"
_DONE = (
    r"(?:decide|vote|adopte|approuve|delibere|designe|elu|fixe|accorde|attribue|autorise"
    r"|accepte|refuse|retenu)"
)
_DONE_F = rf"(?:{_DONE}e?s?|prise?s?)"
_TAKEN = rf"(?:a|ont|avait|avaient) (?:t (?:il|elle|ils|elles|on) )?(?:ete )?{_DONE_F}\b"
_DAY = rf"(?:1er|\d{{1,2}}) (?:{_MONTHS}|\d{{1,2}} (?:19|20)?\d{{2}}\b)"
_WHEN = rf"(?:\b{_DAY}|\b(?:en|de|d) {_MONTHS}\b|\b(?:19|20)\d{{2}}\b)"
_OWN_RECORDS = [
    # « qu'a décidé le conseil… », « qu'ont voté les élus… »
    rf"\bqu (?:a|ont|avait|avaient) {_DONE} {_BODY}\b",
    # « qu'est-ce que le conseil (de X) a décidé… »
    rf"\bqu est ce qu?e? {_BODY}\b.{{0,40}}?\b(?:a|ont|avait|avaient) {_DONE}\b",
    # « qu'est-ce qui a été voté au conseil… »
    rf"\bqu est ce qui (?:a|ont|avait) ete {_DONE_F}\b.*\b(?:{_COUNCIL}|seance|reunion)\b",
    # « quelle délibération a été prise sur… », « quelles décisions le conseil a-t-il prises »
    rf"\bquel(?:le)?s? (?:deliberations?|delibs?)\b.*\b{_TAKEN}",
    rf"^(?=.*\b(?:{_COUNCIL}|seance|reunion)\b).*\bquel(?:le)?s? decisions?\b.*\b{_TAKEN}",
    # a meeting named by its day: « le conseil municipal du 19 mai 2021 », « séance du 24/02 »
    rf"\b(?:{_COUNCIL}|seance|reunion) (?:du|de|d|le|en date du) "
    rf"(?:(?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche) )?{_DAY}",
    # « le conseil a-t-il voté … en 2021 ? »
    rf"\b{_BODY}\b.*\b(?:a|ont) t (?:il|elle|ils|elles|on) {_DONE_F}\b.*{_WHEN}",
]
_OWN_RECORD = re.compile("|".join(f"(?:{r})" for r in _OWN_RECORDS))


def own_records(question: str) -> bool:
    """A question on what a commune's council decided, by its words (the rule above)."""
    folded = fold_accents(question.replace("’", "'")).lower()
    folded = " ".join(re.sub(r"[^\w/]+", " ", folded).replace("/", " ").split())
    return bool(_OWN_RECORD.search(folded))


def _softmax(z: np.ndarray) -> np.ndarray:
    import numpy as np

    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


# The question's own words, as well as its meaning: « recette », « poème », « Excel »,
# « a-t-il voté » say what is asked as clearly as any vector. Folded words and pairs of
# words, hashed into HASHED_DIM features (blake2b: the same on every machine).
HASHED_DIM = 1 << 12
HIDDEN = 48
_WORDS = re.compile(r"\w+")


def word_features(question: str) -> dict[int, float]:
    """Hashed folded words and word pairs of `question`, L2-normalised."""
    words = _WORDS.findall(fold_accents(question.lower()))
    grams = [*words, *(f"{a}_{b}" for a, b in itertools.pairwise(words))]
    counts: dict[int, float] = {}
    for gram in grams:
        digest = hashlib.blake2b(gram.encode(), digest_size=4).digest()
        counts[int.from_bytes(digest, "big") % HASHED_DIM] = 1.0
    norm = math.sqrt(len(counts)) or 1.0
    return {i: v / norm for i, v in counts.items()}


def feature_matrix(vectors: np.ndarray, questions: Sequence[str]) -> np.ndarray:
    """[e5 vector | hashed words] for each question."""
    import numpy as np

    words = np.zeros((len(questions), HASHED_DIM))
    for r, question in enumerate(questions):
        for i, v in word_features(question).items():
            words[r, i] = v
    return np.hstack([np.asarray(vectors, dtype=np.float64).reshape(len(questions), -1), words])


@dataclass(frozen=True)
class ScopeModel:
    """A small neural network: [e5 vector | hashed words] → HIDDEN ReLU units → the three
    kinds (softmax); and the thresholds that decide."""

    embedder: str
    w1: np.ndarray  # HIDDEN × (dimensions + HASHED_DIM)
    b1: np.ndarray
    w2: np.ndarray  # labels × HIDDEN
    b2: np.ndarray
    hors_champ_min: float = 0.5  # P(hors_champ) at or above: refused
    local_min: float = 0.5  # P(local) at or above: the commune's documents
    version: str = ""
    trained_on: dict[str, int] | None = None

    def probabilities(self, vector: Sequence[float], question: str) -> dict[str, float]:
        import numpy as np

        dense = np.asarray(vector, dtype=np.float64)
        a = self.w1[:, : len(dense)] @ dense + self.b1
        for i, v in word_features(question).items():
            a = a + self.w1[:, len(dense) + i] * v
        p = _softmax(self.w2 @ np.maximum(a, 0.0) + self.b2)
        return {label: float(p[i]) for i, label in enumerate(LABELS)}

    def decide(self, probabilities: dict[str, float]) -> Label:
        if probabilities["hors_champ"] >= self.hors_champ_min:
            return "hors_champ"
        if probabilities["local"] >= self.local_min:
            return "local"
        return "admin"

    def meta(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "embedder": self.embedder,
            "labels": list(LABELS),
            "hashed_words": HASHED_DIM,
            "thresholds": {"hors_champ": self.hors_champ_min, "local": self.local_min},
            "trained_on": self.trained_on or {},
        }

    def save(self, path: Path) -> None:
        """NumPy's open .npz format: the weights (float16: half the size, the same
        decisions) and a JSON `meta`."""
        import numpy as np

        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            np.savez_compressed(
                fh,
                meta=np.array(json.dumps(self.meta(), ensure_ascii=False)),
                **{k: getattr(self, k).astype(np.float16) for k in ("w1", "b1", "w2", "b2")},
            )

    @classmethod
    def load(cls, path: Path) -> ScopeModel:
        import numpy as np

        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if list(meta["labels"]) != list(LABELS):
                raise ValueError(f"labels {meta['labels']} != {LABELS}")
            if int(meta.get("hashed_words", 0)) != HASHED_DIM:
                raise ValueError("hashed word features of another size")
            thresholds = dict(meta.get("thresholds") or {})
            arrays = {k: data[k].astype(np.float64) for k in ("w1", "b1", "w2", "b2")}
        return cls(
            embedder=str(meta["embedder"]),
            **arrays,
            hors_champ_min=float(thresholds.get("hors_champ", 0.5)),
            local_min=float(thresholds.get("local", 0.5)),
            version=str(meta.get("version", "")),
            trained_on={str(k): int(v) for k, v in dict(meta.get("trained_on") or {}).items()},
        )


def train(
    vectors: np.ndarray,
    questions: Sequence[str],
    labels: Sequence[Label],
    *,
    embedder: str,
    l2: float = 1e-3,
    hidden: int = HIDDEN,
    seed: int = 0,
    version: str = "",
) -> ScopeModel:
    """One hidden layer, L2 penalty, full-batch L-BFGS; classes weighted to count alike."""
    import numpy as np
    from scipy.optimize import minimize

    x = feature_matrix(vectors, questions)
    y = np.array([LABELS.index(label) for label in labels])
    n, d = x.shape
    k = len(LABELS)
    counts = np.bincount(y, minlength=k).astype(np.float64)
    weight = (n / (k * np.maximum(counts, 1)))[y]
    onehot = np.eye(k)[y]
    shapes = [(hidden, d), (hidden,), (k, hidden), (k,)]

    def unpack(theta: np.ndarray) -> list[np.ndarray]:
        out, at = [], 0
        for shape in shapes:
            size = int(np.prod(shape))
            out.append(theta[at : at + size].reshape(shape))
            at += size
        return out

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w1, b1, w2, b2 = unpack(theta)
        a = x @ w1.T + b1
        h = np.maximum(a, 0.0)
        p = _softmax(h @ w2.T + b2)
        g = (p - onehot) * weight[:, None] / n
        gh = (g @ w2) * (a > 0)
        nll = -np.sum(weight * np.log(np.sum(p * onehot, axis=1) + 1e-12)) / n
        penalty = 0.5 * l2 * (float(np.sum(w1 * w1)) + float(np.sum(w2 * w2)))
        grads = [gh.T @ x + l2 * w1, gh.sum(0), g.T @ h + l2 * w2, g.sum(0)]
        return nll + penalty, np.concatenate([gr.ravel() for gr in grads])

    rng = np.random.default_rng(seed)
    start = np.concatenate([rng.normal(0.0, 0.1, int(np.prod(s))) for s in shapes])
    result = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 1500})
    w1, b1, w2, b2 = unpack(result.x)
    return ScopeModel(
        embedder=embedder,
        w1=w1,
        b1=b1,
        w2=w2,
        b2=b2,
        version=version,
        trained_on={label: int(counts[i]) for i, label in enumerate(LABELS)},
    )


class ScopeClassifier:
    """Judges a question's scope from its e5 vector; `admin` when it cannot — but a
    council's decisions are `local` by the rule (`own_records`), with or without a model."""

    def __init__(self, model: ScopeModel | None, embedder: Embedder | None) -> None:
        self.model = model
        self.embedder = embedder

    @classmethod
    def load(cls, corpus_dir: Path, embedder: Embedder | None) -> ScopeClassifier:
        path = corpus_dir / MODEL_FILE
        if embedder is None or not path.is_file():
            return cls(None, embedder)
        try:
            model = ScopeModel.load(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("scope model unreadable (%s): every question is in scope", exc)
            return cls(None, embedder)
        if model.embedder != embedder.name:
            log.warning("scope model trained on %s, not %s: unused", model.embedder, embedder.name)
            return cls(None, embedder)
        return cls(model, embedder)

    @property
    def active(self) -> bool:
        return self.model is not None and self.embedder is not None

    def judge(self, question: str) -> Verdict:
        if own_records(question):  # a council's decisions: the rule, before the model
            return RECORDS
        if self.model is None or self.embedder is None:
            return ADMIN
        try:
            vector = self.embedder.embed_query(question)
        except Exception as exc:  # the local engine failing must not stop an answer
            log.warning("scope embedding failed: %s", exc)
            return ADMIN
        probabilities = self.model.probabilities(vector, question)
        return Verdict(self.model.decide(probabilities), probabilities)
