"""Domain errors. The core raises them; the API and the CLI translate them for people.

Each error carries a message in French meant for the end user, and a `code` that
clients can rely on. Nothing here knows about HTTP.
"""

from __future__ import annotations

ECHO_LIMIT = 100


def shown(value: object, limit: int = ECHO_LIMIT) -> str:
    """What a message may quote of a caller's input: at most `limit` characters (an id of
    100 KB is not sent back whole)."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class PlumeError(Exception):
    """Base class: `message` is safe to show to a user, in French."""

    code = "erreur"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidQuery(PlumeError):
    code = "question_invalide"


class UnknownSource(PlumeError):
    code = "source_inconnue"


class UnknownFilterValue(PlumeError):
    code = "filtre_invalide"


class CorpusNotFetched(PlumeError):
    code = "corpus_absent"


class CorruptPackage(PlumeError):
    code = "paquet_corrompu"


class SourceUnreachable(PlumeError):
    code = "source_injoignable"


class SourceUnauthorized(SourceUnreachable):
    """The remote source refused our credentials (PISTE: bad client id or secret)."""

    code = "source_non_autorisee"


class MalformedDocument(PlumeError):
    code = "document_invalide"


class DamagedDataFile(PlumeError):
    """A file of the data folder (keys, profiles) that cannot be read: the server's fault,
    not the caller's; the message names the file, never its path (that goes to the log)."""

    code = "fichier_de_donnees_illisible"


class InvalidText(PlumeError):
    """Text that is not valid Unicode (a lone UTF-16 surrogate such as « \\ud800 »)."""

    code = "texte_invalide"


class SourcePathRequired(PlumeError):
    """A source read only from a file the administrator gives (`--path`)."""

    code = "chemin_requis"


class StoreLocked(PlumeError):
    """The embedded store is open in another process (usually `plume serve`)."""

    code = "stockage_verrouille"


class StoreUnavailable(PlumeError):
    code = "stockage_indisponible"


class StoreCorrupted(PlumeError):
    """The index's files are damaged (garbled pages, a poisoned write-ahead log): searches
    cannot be answered until it is rebuilt (`plume ingest <source> --rebuild`)."""

    code = "index_endommage"


class StoreInconsistent(PlumeError):
    """The index lacks what the sync log says was indexed (files deleted under it)."""

    code = "index_incoherent"


class DocumentNotFound(PlumeError):
    code = "document_introuvable"


class EmbeddingFailed(PlumeError):
    code = "vectorisation_impossible"


class InvalidWatchRequest(PlumeError):
    """A request to the legal watch (veille) that cannot be answered: bad date, format…"""

    code = "veille_invalide"


class UnknownProfile(PlumeError):
    """A watch profile (profil de veille) that does not exist."""

    code = "profil_inconnu"


class InvalidCofinancingRequest(PlumeError):
    """A cofinancing request (Territoires d'IA) that cannot be computed: negative amount…"""

    code = "cofinancement_invalide"


class UnknownTerritory(PlumeError):
    """A code of the official geographic code (commune, département, region) that does not exist."""

    code = "territoire_inconnu"


class UnknownCommune(UnknownTerritory):
    code = "commune_inconnue"


class UnknownDepartement(UnknownTerritory):
    code = "departement_inconnu"


class InvalidCommuneProfile(PlumeError):
    """A commune profile that cannot be set: bad INSEE code format, QPV share outside 0–1…"""

    code = "profil_commune_invalide"


class UnknownCommuneProfile(PlumeError):
    """A commune whose profile the administrator has not set."""

    code = "profil_commune_inconnu"


class InvalidAideRequest(PlumeError):
    code = "recherche_aides_invalide"


class InvalidTenant(PlumeError):
    """A tenant (commune) id that is neither an INSEE code nor a slug."""

    code = "commune_invalide"


class InvalidApiKey(PlumeError):
    """An API key that cannot be created: bad origin, label too long…"""

    code = "cle_invalide"


class UnknownApiKey(PlumeError):
    """An API key that is unknown, revoked or malformed."""

    code = "cle_inconnue"


class ApiKeyNotFound(PlumeError):
    """An administrator revoking a key that does not exist."""

    code = "cle_introuvable"


class RejectedFile(PlumeError):
    """An uploaded file that cannot be ingested: too big, empty, unknown type, encrypted…"""

    code = "fichier_refuse"


class UnknownJob(PlumeError):
    code = "tache_inconnue"


class DatabaseUnavailable(PlumeError):
    """The records database cannot be reached or refused an operation."""

    code = "base_indisponible"


class UnknownMessage(PlumeError):
    """Feedback on an answer the records do not hold (unknown, or purged)."""

    code = "message_inconnu"


class InvalidRecordsRequest(PlumeError):
    """Indicators, export or import asked with bad input: dates, paths, a non-empty instance…"""

    code = "requete_enregistrements_invalide"


class RateLimited(PlumeError):
    """Too many requests from one key or address; `retry_after` in seconds."""

    code = "trop_de_requetes"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OriginNotAllowed(PlumeError):
    """A web page whose origin no widget key allows (CORS)."""

    code = "origine_non_autorisee"


class InvalidAgent(PlumeError):
    """An agent that cannot be registered: bad e-mail address, bad commune."""

    code = "agent_invalide"


class AgentNotFound(PlumeError):
    """An administrator removing an agent who is not registered."""

    code = "agent_introuvable"


class UnknownAgent(PlumeError):
    """A signed-in person whom no administrator registered for a commune."""

    code = "agent_inconnu"


class InvalidSession(PlumeError):
    """A session cookie that is missing, tampered with, expired or revoked."""

    code = "session_invalide"


class SignInFailed(PlumeError):
    """An OpenID Connect sign-in that cannot be trusted: bad state, nonce, signature…"""

    code = "connexion_refusee"


class SignInNotConfigured(PlumeError):
    """Agents' sign-in is not configured (no PLUME_OIDC_ISSUER)."""

    code = "connexion_non_configuree"


class SignInUnavailable(PlumeError):
    """The identity provider cannot be reached, or its discovery document is unusable."""

    code = "connexion_indisponible"
