"""How hard a secret is to guess: an estimate in bits, for the admin token in production.

Each character counts for log2 of the alphabet it was drawn from — the character classes
present (lower case, upper case, digits, others), and no more than twice the distinct
characters used (`aaaa…a` has one) — except what a guesser tries first: a token repeated
(`changemechangemechangeme` is `changeme` three times) counts once, common words
(`changeme`, `password`, `admin`, `plume`…) count for nothing, and a run of equal or
consecutive characters (`aaaa`, `abcd`, `1234`) counts one bit per character after its
first two. `secrets.token_urlsafe(32)` scores about 200 bits; 128 are required.
"""

from __future__ import annotations

import math
import re
import string

MIN_BITS = 128
HOW_TO = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
# what a guesser tries first; the longest first (« administrateur » before « admin »)
COMMON_WORDS = sorted(
    (
        "changeme",
        "change-me",
        "change_me",
        "password",
        "motdepasse",
        "passwd",
        "secret",
        "admin",
        "administrateur",
        "plume",
        "token",
        "jeton",
        "mairie",
        "default",
        "letmein",
        "welcome",
        "bienvenue",
        "azerty",
        "qwerty",
        "test",
        "root",
        "dev-token",
        "production",
        "prod",
    ),
    key=len,
    reverse=True,
)
_COMMON = re.compile("|".join(re.escape(w) for w in COMMON_WORDS), re.IGNORECASE)
_CLASSES = (
    (frozenset(string.ascii_lowercase), 26),
    (frozenset(string.ascii_uppercase), 26),
    (frozenset(string.digits), 10),
)
_OTHERS = 33  # punctuation and the rest


def _period(text: str) -> str:
    """The shortest unit whose repetition gives `text` (`abcabcab` → `abc`)."""
    for size in range(1, len(text) // 2 + 1):
        unit = text[:size]
        if (unit * (len(text) // size + 1))[: len(text)] == text:
            return unit
    return text


def _without_common_words(text: str) -> str:
    return _COMMON.sub("", text)


def estimated_bits(token: str) -> float:
    """A conservative estimate of the token's entropy, in bits (see the module's doc)."""
    text = _without_common_words(_period(token))
    if not text:
        return 0.0
    pool = sum(size for chars, size in _CLASSES if any(c in chars for c in text))
    if any(not any(c in chars for chars, _ in _CLASSES) for c in text):
        pool += _OTHERS
    alphabet = min(pool, 2 * len(set(text)))
    per_char = math.log2(alphabet) if alphabet > 1 else 0.0
    bits = 0.0
    for i, char in enumerate(text):
        step = ord(char) - ord(text[i - 1]) if i else None
        in_run = i >= 2 and step in (-1, 0, 1) and step == ord(text[i - 1]) - ord(text[i - 2])
        bits += 1.0 if in_run else per_char
    return bits


def weakness(token: str | None) -> str | None:
    """Why `token` is too weak for production, in French, or None if it is strong enough."""
    bits = estimated_bits(token or "")
    if bits >= MIN_BITS:
        return None
    return (
        f"PLUME_ADMIN_TOKEN est trop faible pour PLUME_ENV=production (environ {bits:.0f} bits "
        f"estimés, {MIN_BITS} au moins : ni répétition, ni suite, ni mot courant). "
        f"Créez-en un avec : {HOW_TO}"
    )
