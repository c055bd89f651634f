"""The programme's « Fiche IA souveraine », filled from the running configuration.

Each endpoint Plume talks to is listed with its role, operator, country, whether it
receives users' data, and the law that applies. EU processing is certified only when
every endpoint that receives users' data (questions, answers, records) is on the list of
EU locations below or declared by the administrator (`PLUME_ENDPOINT_COUNTRIES`);
public-data downloads (the npm registry, Légifrance, aides-territoires) receive nothing
from users and are listed for information.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from assistant.llm.client import EU_ENDPOINT
from ingestion import lexhub
from plume.documents import french_date
from plume.settings import Settings, StoreBackend

EU_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)
# host (or suffix, starting with a dot) → (operator, country where it processes data)
KNOWN_HOSTS = {
    "api.mistral.ai": ("Mistral AI SAS (France)", "FR"),
    ".gouv.fr": ("État français (DILA, ministères)", "FR"),
    "registry.npmjs.org": ("npm, Inc. (GitHub, Microsoft — États-Unis)", "US"),
    # container registries: Docker Hub (its official images), GitHub's, Red Hat's
    "docker.io": ("Docker, Inc. (Docker Hub — États-Unis)", "US"),
    "registry-1.docker.io": ("Docker, Inc. (Docker Hub — États-Unis)", "US"),
    "index.docker.io": ("Docker, Inc. (Docker Hub — États-Unis)", "US"),
    "ghcr.io": ("GitHub, Inc. (Microsoft — États-Unis)", "US"),
    "quay.io": ("Red Hat, Inc. (IBM — États-Unis)", "US"),
    "rg.fr-par.scw.cloud": ("Scaleway SAS (France), Paris", "FR"),
    "rg.nl-ams.scw.cloud": ("Scaleway SAS (France), Amsterdam", "NL"),
    "rg.pl-waw.scw.cloud": ("Scaleway SAS (France), Varsovie", "PL"),
    "api.openai.com": ("OpenAI (États-Unis)", "US"),
    "api.anthropic.com": ("Anthropic (États-Unis)", "US"),
    "generativelanguage.googleapis.com": ("Google (États-Unis)", "US"),
}
COUNTRY_NAMES = {"FR": "France", "US": "États-Unis", "DE": "Allemagne", "SE": "Suède"}
IMAGES_ROLE = "Images des conteneurs (Plume, Qdrant, PostgreSQL, Redis, Caddy)"
EU_LAW = "RGPD et droit de l'Union ; en France, loi Informatique et libertés (CNIL)"
US_LAW = "Droit des États-Unis (CLOUD Act, FISA section 702) : accès extraterritorial possible"


@dataclass(frozen=True)
class Endpoint:
    role: str
    url: str  # without credentials
    operator: str
    country: str | None  # ISO code; None: unknown
    users_data: bool  # receives questions, answers or records
    law: str

    @property
    def in_eu(self) -> bool:
        return self.country in EU_COUNTRIES


@dataclass(frozen=True)
class SovereigntySheet:
    model_vendor: str
    model: str | None
    endpoints: list[Endpoint]
    storage: list[str]
    refusals: list[str] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)  # what the sources do not hold

    @property
    def eu_certified(self) -> bool:
        return not self.refusals

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_vendor": self.model_vendor,
            "model": self.model,
            "eu_certified": self.eu_certified,
            "refusals": list(self.refusals),
            "storage": list(self.storage),
            "limits": list(self.limits),
            "endpoints": [{**asdict(e), "in_eu": e.in_eu} for e in self.endpoints],
        }

    def markdown(self) -> str:
        lines = [
            "# Fiche IA souveraine — Plume",
            "",
            f"- **Modèle** : {self.model or 'aucun (réponses extractives, sans modèle)'}",
            f"- **Éditeur du modèle** : {self.model_vendor}",
            "- **Données stockées** : " + " ; ".join(self.storage),
            *(f"- **Limite des sources** : {limit}" for limit in self.limits),
            "",
            "| Rôle | Adresse | Opérateur | Pays de traitement | Données des utilisateurs "
            "| Droit applicable |",
            "|---|---|---|---|---|---|",
        ]
        for e in self.endpoints:
            country = COUNTRY_NAMES.get(e.country or "", e.country or "inconnu")
            lines.append(
                f"| {e.role} | {e.url} | {e.operator} | {country} | "
                f"{'oui' if e.users_data else 'non (données publiques)'} | {e.law} |"
            )
        lines.append("")
        if self.eu_certified:
            lines.append(
                "**Traitement dans l'Union européenne : certifié** — toutes les adresses qui "
                "reçoivent des données des utilisateurs sont situées dans l'UE."
            )
        else:
            lines.append("**Traitement dans l'Union européenne : certification refusée**")
            lines += [f"- {r}" for r in self.refusals]
        return "\n".join(lines) + "\n"


def _public(url: str) -> str:
    parts = urlsplit(url)
    if not parts.hostname:
        return url
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def _is_local(host: str) -> bool:
    if host in ("localhost", "") or host.endswith((".local", ".internal", ".lan")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_private or address.is_loopback or address.is_link_local


def locate(url: str, settings: Settings) -> tuple[str, str | None]:
    """(operator, country) of the host of `url`."""
    host = (urlsplit(url).hostname or "").lower() if "://" in url else ""
    for known, (operator, country) in KNOWN_HOSTS.items():  # a declaration cannot move them
        if host == known or (known.startswith(".") and host.endswith(known)):
            return operator, country
    declared = {h.lower(): c.upper() for h, c in settings.endpoint_countries.items()}
    if host in declared:
        return "déclaré par l'administrateur", declared[host]
    if _is_local(host):
        return "auto-hébergé (serveur de la collectivité)", settings.hosting_country.upper()
    return "inconnu", None


def _law(country: str | None) -> str:
    if country in EU_COUNTRIES:
        return EU_LAW
    if country == "US":
        return US_LAW
    return "inconnu : pays non déclaré"


def build_sheet(settings: Settings) -> SovereigntySheet:
    """The sheet for `settings`; `refusals` says why EU processing cannot be certified."""
    wanted: list[tuple[str, str, bool]] = []
    model = None
    if settings.mistral_api_key is not None or settings.mistral_server_url:
        llm_url = settings.mistral_server_url or EU_ENDPOINT
        model = settings.chat_model
        wanted.append(("Modèle de langue (questions et sources)", llm_url, True))
        if settings.use_dense:
            wanted.append(("Vectorisation (mistral-embed)", llm_url, True))
        if settings.judge_model:
            wanted.append(("Modèle juge (évaluation)", llm_url, True))
    local = f"file://{settings.data_dir}"
    if settings.store_backend is StoreBackend.server and settings.qdrant_url:
        qdrant = settings.qdrant_url if "://" in settings.qdrant_url else local
        wanted.append(("Index de recherche (Qdrant)", qdrant, True))
    else:
        wanted.append(("Index de recherche (Qdrant intégré)", local, True))
    records = settings.records_url
    wanted.append(("Base des enregistrements", records if "://" in records else local, True))
    if records.startswith("sqlite"):
        wanted[-1] = ("Base des enregistrements (SQLite)", local, True)
    if settings.redis_url is not None:
        wanted.append(("Limitation de débit (Redis)", settings.redis_url.get_secret_value(), True))
    wanted.append(("Paquets des sources (npm)", settings.npm_registry, False))
    pin = lexhub.load_pin(settings.corpus_dir)
    if pin is not None:  # the codes with their history: the bundle beside us, else git
        beside = pin.bundle is not None and pin.bundle.is_file() and not settings.lexhub_url
        origin = f"file://{pin.bundle}" if beside else settings.lexhub_url or pin.repository
        wanted.append(("Codes et leur historique (LexHub, git)", origin, False))
    wanted.append(("Aides (aides-territoires)", settings.aides_territoires_url, False))
    if settings.image_registry:  # deploy/: every image, Plume's included, comes from there
        registry = settings.image_registry
        registry = registry if "://" in registry else f"https://{registry}"
        wanted.append((IMAGES_ROLE, registry, False))
    if settings.piste_client_id:
        wanted.append(("Légifrance (PISTE)", settings.piste_api_url, False))

    endpoints = []
    for role, url, users_data in wanted:
        operator, country = locate(url, settings)
        if url.startswith("file://"):
            operator, country = "serveur de la collectivité", settings.hosting_country.upper()
        shown = f"disque local ({settings.data_dir})" if url.startswith("file://") else _public(url)
        endpoints.append(Endpoint(role, shown, operator, country, users_data, _law(country)))
    refusals = [
        f"{e.role} : {e.url} est "
        + (f"traité hors de l'UE ({e.country})" if e.country else "d'un pays inconnu")
        + " ; déclarez-le (PLUME_ENDPOINT_COUNTRIES) ou choisissez une adresse dans l'UE."
        for e in endpoints
        if e.users_data and not e.in_eu
    ]
    vendor = "aucun modèle configuré"
    if model:
        served_by = endpoints[0].operator
        vendor = (
            "Mistral AI SAS (France)"
            if endpoints[0].url == EU_ENDPOINT
            else f"{model}, servi par : {served_by}"
        )
    storage = [
        f"{e.role} : {COUNTRY_NAMES.get(e.country or '', e.country or 'pays inconnu')}"
        for e in endpoints
        if e.users_data and not e.role.startswith(("Modèle", "Vectorisation"))
    ]
    limits = []
    if pin is not None:
        limits.append(
            f"CGCT, Code électoral, Code civil et Code de l'urbanisme : miroir git non officiel "
            f"de Légifrance ({pin.repository}, Licence Ouverte), textes à jour au "
            f"{french_date(pin.text_date)} ; les modifications postérieures (dont la réforme de "
            "2025 des élections municipales) n'y figurent pas, et certains historiques sont "
            "incomplets : vérifiez sur Légifrance."
        )
    return SovereigntySheet(vendor, model, endpoints, storage, refusals, limits)
