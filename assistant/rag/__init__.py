"""The retrieval-augmented core: a question's scope, hybrid search (BM25 + e5, fused by
Qdrant) with the trade's lexicon and the fiche ↔ law links, the sentences scored as
evidence (a commune's minutes read as such: their decisions, their meeting's day), the
answer read from them without a model, its citations checked and its reliability rated;
the conversation memory for follow-ups."""
