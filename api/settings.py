"""Service settings: environment variables with the prefix ``RISKMAP_``, or a TOML file named by
``RISKMAP_SETTINGS_FILE``. Tokens are stored as SHA-256 hex digests, never in clear."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RISKMAP_", extra="forbid", frozen=True)

    store: Path | str = Field(
        default=Path("riskmap-data"), description="store directory, or a postgresql://user@host:5432/db URL"
    )
    editor_token_hashes: tuple[str, ...] = Field(default=(), description="SHA-256 of tokens with the editor role")
    reader_token_hashes: tuple[str, ...] = Field(default=(), description="if set, reading needs one of these tokens")
    cors_origins: tuple[str, ...] = ()
    max_upload_mb: float = 200.0
    job_workers: int = Field(default=1, ge=1, le=16, description="ingests and builds that run at once")
    job_queue: int = Field(default=8, ge=0, le=1000, description="jobs that may wait; more are refused (503)")
    job_nice: int = Field(default=10, ge=0, le=19, description="niceness of the job workers (readers come first)")
    response_cache_mb: float | None = Field(
        default=None,
        ge=0,
        description="responses kept in the process (tiles, pages): what it holds besides a snapshot; by default "
        "256 over a directory store, 16 over PostgreSQL (one of several instances, behind a proxy's tile cache)",
    )
    lang: str = "zh"
    basemap_url: str | None = None
    basemap_crs: str = "wgs84"
    basemap_attribution: str = ""
    page_limit_default: int = 100
    page_limit_max: int = 10_000

    @field_validator("editor_token_hashes", "reader_token_hashes")
    @classmethod
    def _hex(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for h in v:
            if len(h) != 64 or any(c not in "0123456789abcdef" for c in h.lower()):
                raise ValueError("token hashes are 64 hex characters (sha256); see `riskmap token-hash`")
        return tuple(h.lower() for h in v)

    @field_validator("store")
    @classmethod
    def _store(cls, v: Path | str) -> Path | str:
        """A directory is a Path; a database URL stays text (a Path would fold its ``//``)."""
        if isinstance(v, str) and not v.startswith(("postgresql://", "postgres://")):
            return Path(v)
        return v

    @field_validator("lang")
    @classmethod
    def _lang(cls, v: str) -> str:
        if v not in ("zh", "en"):
            raise ValueError("lang is zh or en")
        return v

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        import os

        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = os.environ.get("RISKMAP_SETTINGS_FILE")
        if path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)
