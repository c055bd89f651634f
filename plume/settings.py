"""Plume's one configuration object.

Every field reads from an environment variable prefixed `PLUME_` (or from `.env`).
`plume config` prints the effective values with secrets masked.
"""

from __future__ import annotations

import ipaddress
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from plume import REPO_ROOT
from plume.model_settings import ModelSettings
from plume.token_strength import HOW_TO, weakness

RouteCosts = dict[Annotated[str, Field(pattern="^/v1/")], Annotated[int, Field(ge=1)]]


class Environment(StrEnum):
    development = "development"
    production = "production"


class StoreBackend(StrEnum):
    edge = "edge"
    server = "server"


class Settings(ModelSettings):
    model_config = SettingsConfigDict(
        env_prefix="PLUME_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Environment = Field(
        Environment.development,
        description="`production` refuses to start without a strong admin token.",
    )
    data_dir: Path = Field(
        REPO_ROOT / ".plume",
        description="Where Plume keeps fetched packages, the embedded store and sync records.",
    )
    corpus_dir: Path = Field(
        REPO_ROOT / "corpus",
        description="Source manifests (pinned packages, default selections) kept in git.",
    )

    # --- store -----------------------------------------------------------------------------
    store_backend: StoreBackend = Field(
        StoreBackend.edge,
        description="`edge`: Qdrant's engine in process, data under data_dir/store. "
        "`server`: a Qdrant server at qdrant_url (several processes, replicas).",
    )
    qdrant_url: str | None = Field(
        None,
        description="Qdrant server URL for the `server` backend, e.g. http://127.0.0.1:6333. "
        "`:memory:` or a folder path selects qdrant-client's local mode (tests).",
    )
    qdrant_api_key: SecretStr | None = Field(None, description="API key of the Qdrant server.")
    collection: str = Field("plume", description="Qdrant collection name.")
    store_vector_datatype: Literal["float32", "float16"] = Field(
        "float32", description="Storage of the dense and e5 vectors (float16: half the size)."
    )
    store_quantization: bool = Field(False, description="int8 copies of dense and e5 in RAM.")
    qdrant_shards: int = Field(1, ge=1, le=1000, description="Server: shards (per shard key).")
    qdrant_replication: int = Field(1, ge=1, le=10, description="Server: copies of a shard.")
    qdrant_write_consistency: int = Field(1, ge=1, le=10, description="Server: acks per write.")
    qdrant_shard_keys: dict[str, str] = Field(
        default_factory=dict, description="Server: commune → shard key, JSON (README: store)."
    )

    # --- search ----------------------------------------------------------------------------
    bm25_k1: float = Field(1.2, description="BM25 term-frequency saturation.")
    bm25_b: float = Field(0.75, description="BM25 length normalisation.")
    bm25_avg_len: float = Field(
        60.0, description="Average chunk length in analysed terms (measured on the corpus)."
    )
    search_limit: int = Field(8, ge=1, le=50, description="Passages returned by default.")
    prefetch_limit: int = Field(
        50, ge=1, le=500, description="Candidates taken from each of sparse and dense before RRF."
    )
    scope_classifier: bool = Field(
        True,
        description="Judge each question's scope (administrative, a commune's own facts, "
        "out of scope) with the local multilingual-e5-small model before answering; off: "
        "every question is answered or oriented.",
    )
    local_dense: bool = Field(
        True,
        description="Semantic search with the local multilingual-e5-small vectors (`e5`), "
        "fused with BM25 by Qdrant, for the passages that have one.",
    )
    local_fill: bool = Field(
        True,
        description="While `plume serve` runs, compute the missing e5 vectors in the "
        "background (new or changed passages); `plume vectors` does it in the foreground. "
        "With several API replicas, leave it on for one of them only.",
    )
    local_fill_threads: int = Field(
        2, ge=1, le=64, description="Threads of the background e5 worker process."
    )
    local_fill_nice: int = Field(
        10, ge=0, le=19, description="Priority lowered by this much for the e5 worker."
    )
    rrf_k: int = Field(
        10,
        ge=1,
        le=200,
        description="RRF constant of the fusion of the search's lists. 10: on the dev sets, "
        "the best situational recall without losing on dev (bench/results/fusion.md).",
    )
    local_weight: float = Field(
        1.0,
        ge=0.0,
        le=10.0,
        description="Weight of the e5 list in the fusion (BM25 weighs 1); 0.5 to 2 measured "
        "alike (bench/results/fusion.md).",
    )

    # --- Mistral: plume.model_settings.ModelSettings (inherited) ----------------------------
    conversation_ttl_s: int = Field(
        3600,
        ge=60,
        description="How long an idle conversation's memory (its turns, in the records "
        "database, shared by every replica) is kept, in seconds: a follow-up after that "
        "starts a new conversation.",
    )

    # --- corpus ------------------------------------------------------------------------------
    npm_registry: str = Field(
        "https://registry.npmjs.org", description="npm registry the pinned packages come from."
    )
    piste_oauth_url: str = Field(
        "https://oauth.piste.gouv.fr",
        description="PISTE OAuth2 server (the token is at /api/oauth/token); "
        "https://sandbox-oauth.piste.gouv.fr for the sandbox.",
    )
    piste_api_url: str = Field(
        "https://api.piste.gouv.fr",
        description="PISTE API gateway (Légifrance under /dila/legifrance/lf-engine-app); "
        "https://sandbox-api.piste.gouv.fr for the sandbox.",
    )
    piste_client_id: str | None = Field(
        None, description="PISTE application client id (`plume corpus piste`)."
    )
    piste_client_secret: SecretStr | None = Field(
        None, description="PISTE application client secret (`plume corpus piste`)."
    )
    legi_history_since: str | None = Field(
        "2015-01-01",
        pattern=r"^\d{4}-\d{2}-\d{2}$",
        description="Codes read with their history (LexHub): the article versions in force "
        "on or after this day are indexed, for questions asked as of a past date; unset: "
        "every version since 1970. Earlier days are answered « texte antérieur non disponible ».",
    )
    veille_history_since: str = Field(
        "2020-01-01",
        pattern=r"^\d{4}-\d{2}-\d{2}$",
        description="The legal watch's journal is filled, when the codes read with their "
        "history (LexHub) are indexed, with the changes in force since this day.",
    )
    veille_window_months: int = Field(
        12,
        ge=1,
        le=120,
        description="The legal watch's journal is filled, when a code read from one snapshot "
        "(legi-data) is indexed for the first time, with the article versions in force since "
        "this many months before the snapshot's date; later snapshots are compared with the "
        "previous one.",
    )
    lexhub_url: str | None = Field(
        None,
        description="Where `plume corpus fetch lexhub` clones the LexHub history from when no "
        "bundle is beside the project; the pinned repository (GitHub) when unset.",
    )
    aides_territoires_url: str = Field(
        "https://aides-territoires.beta.gouv.fr",
        description="aides-territoires site and API (`plume ingest aides-territoires` without "
        "--path reads /api/aids/).",
    )
    aides_territoires_token: SecretStr | None = Field(
        None,
        description="API token (X-AUTH-TOKEN) of an aides-territoires account, exchanged for "
        "a bearer token; needed to sync grants from the API.",
    )

    # --- records (issue 9) -------------------------------------------------------------------
    database_url: SecretStr | None = Field(
        None,
        description="SQLAlchemy URL of the records database (conversations, feedback, usage, "
        "runs, audit), e.g. postgresql://user@host/plume; a SQLite file "
        "data_dir/plume.db when unset.",
    )
    retention_days: int = Field(
        30, ge=1, description="Days conversations and messages are kept (`plume purge`)."
    )
    redact_personal_data: bool = Field(
        True,
        description="Store questions with e-mail addresses, phone numbers, NIR and IBAN "
        "replaced by placeholders.",
    )
    minutes_saved_per_answer: float = Field(
        6.0,
        ge=0.0,
        description="Declared assumption of the productivity indicator: minutes an agent "
        "saves per answered question (answer with a source, not a refusal).",
    )
    hosting_country: str = Field(
        "FR",
        description="ISO country code where the Plume server and its local services run "
        "(declared, for the sovereignty sheet).",
    )
    endpoint_countries: dict[str, str] = Field(
        {},
        description='Declared country of other hosts, e.g. {"llm.example.eu": "DE"} '
        "(sovereignty sheet); JSON in the environment.",
    )
    image_registry: str | None = Field(
        None,
        description="Registry the deployment pulls its container images from (Plume, "
        "Qdrant, PostgreSQL, Redis, the proxy), e.g. registry.example.fr/dockerhub: declared "
        "by deploy/compose.yaml and the Helm chart, for the sovereignty sheet; unset: not "
        "deployed from images.",
    )
    redis_url: SecretStr | None = Field(
        None, description="Redis URL for rate limiting across processes; in memory when unset."
    )
    # a request with a known key counts on its key and its commune, any other on its address
    rate_limit_key_per_minute: int = Field(
        600, ge=1, description="Requests a minute per API key (a town hall's 20 agents: 1/3)."
    )
    rate_limit_commune_per_minute: int = Field(
        1200, ge=1, description="Requests a minute per commune, all its keys together."
    )
    rate_limit_ip_per_minute: int = Field(
        600, ge=1, description="Requests a minute per address without a known key (20 agents)."
    )
    rate_limit_costs: RouteCosts = Field(
        {"/v1/chat": 5, "/v1/sources": 5},
        description="What a request counts for against both limits, by route (that path and "
        "the paths under it, the longest given wins; any other request counts 1): a chat "
        "turn or the corpus figures weigh more than a search. JSON in the environment.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        [],
        description="Reverse proxies in front of `plume serve` (addresses or networks, "
        "comma-separated, e.g. `127.0.0.1,10.0.0.0/8`; `*`: any): only behind them does "
        "X-Forwarded-For give the client's address (per-address limit, logs). Empty: none, "
        "the connecting address counts.",
    )

    # --- uploaded documents (issue 7) -------------------------------------------------------
    upload_max_mb: int = Field(
        50, ge=1, le=2000, description="Largest file an administrator may upload, in MB."
    )
    upload_max_unzipped_mb: int = Field(
        300,
        ge=1,
        description="Largest uncompressed content of a .docx/.odt (zip) file, in MB: "
        "beyond, refused as a zip bomb.",
    )
    upload_max_pages: int = Field(2000, ge=1, description="Longest PDF accepted, in pages.")
    ocr_languages: str = Field(
        "fra", description="tesseract languages for scanned pages, e.g. `fra` or `fra+eng`."
    )
    ocr_dpi: int = Field(
        200, ge=72, le=600, description="Resolution scanned pages are rendered at for OCR."
    )
    ocr_workers: int = Field(
        2, ge=1, le=32, description="Scanned pages OCR'd at the same time (one tesseract each)."
    )

    # --- API ---------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address `plume serve` listens on.")
    port: int = Field(8000, description="Port `plume serve` listens on.")
    workers: int = Field(
        1,
        ge=1,
        le=32,
        description="HTTP processes of `plume serve` (2 on 2 cores; plume.store_replica). "
        "Give PLUME_REDIS_URL so the rate limits count across them.",
    )
    workers_refresh_s: float = Field(
        2.0, gt=0, description="How often a worker checks whether its store copy is stale."
    )
    store_host: Path | None = Field(
        None, description="Set by `plume serve` for its workers: the store's socket folder."
    )
    admin_token: SecretStr | None = Field(
        None, description="Bearer token for /v1/admin/*. Admin routes are closed without it."
    )
    max_query_chars: int = Field(2000, description="Longest accepted question.")
    # agents' sign-in (OpenID Connect: ProConnect or another provider); unset: no sign-in
    oidc_issuer: str | None = Field(None, description="Provider URL (its discovery document).")
    oidc_client_id: str | None = Field(None, description="Plume's client id at the provider.")
    oidc_client_secret: SecretStr | None = Field(None, description="Plume's client secret.")
    session_secret: SecretStr | None = Field(
        None, description="Signs agents' session cookies (unset: from the admin token, or random)."
    )
    session_hours: int = Field(8, ge=1, le=720, description="An agent's session lifetime.")

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: Any) -> Any:
        """Comma-separated or a JSON list; each an IP address, a network or `*`."""
        if isinstance(value, str):
            value = json.loads(value) if value.lstrip().startswith("[") else value.split(",")
        entries = [str(v).strip() for v in value or [] if str(v).strip()]
        for entry in entries:
            try:
                ipaddress.ip_network("0.0.0.0/0" if entry == "*" else entry, strict=False)
            except ValueError:
                raise ValueError(f"« {entry[:60]} » n'est ni une adresse IP ni un réseau") from None
        return entries

    @model_validator(mode="after")
    def _production_needs_strong_token(self) -> Settings:
        if self.env is Environment.production:
            token = self.admin_token.get_secret_value() if self.admin_token else ""
            if (why := weakness(token)) is not None:  # judged by its estimated entropy
                raise ValueError(why)
            secret = self.session_secret.get_secret_value() if self.session_secret else ""
            if self.oidc_issuer and weakness(secret) is not None:  # sessions' signing key
                raise ValueError(f"PLUME_SESSION_SECRET absent ou trop faible : {HOW_TO}")
        if self.store_backend is StoreBackend.server and not self.qdrant_url:
            raise ValueError("PLUME_QDRANT_URL est obligatoire avec PLUME_STORE_BACKEND=server")
        if self.qdrant_write_consistency > self.qdrant_replication:
            raise ValueError(
                "PLUME_QDRANT_WRITE_CONSISTENCY ne peut dépasser PLUME_QDRANT_REPLICATION"
            )
        return self

    @property
    def use_dense(self) -> bool:
        if self.dense_enabled is not None:
            return self.dense_enabled
        return self.mistral_api_key is not None or self.mistral_server_url is not None

    @property
    def packages_dir(self) -> Path:
        return self.data_dir / "packages"

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"

    @property
    def records_url(self) -> str:
        """The records database: `database_url`, or a SQLite file in data_dir."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.data_dir / 'plume.db'}"

    def masked(self) -> dict[str, Any]:
        """The effective settings, secrets replaced by a mask, for display."""
        shown: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "**********"
            elif isinstance(value, Path | StrEnum):
                value = str(value)
            shown[name] = value
        shown["use_dense"] = self.use_dense
        return shown
