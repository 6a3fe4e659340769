"""Service settings, read once from the environment and validated at start.

Both services read the same variables, so one place decides the names, the defaults
and the limits. ``ENV_VARS`` is the list docker-compose and the launcher must agree
with (a test checks that they do).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from functools import cache
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class SettingsError(ValueError):
    """Invalid settings, worded for a human: one line per problem."""


class StatementCache(StrEnum):
    """asyncpg's prepared-statement cache. ``auto`` is resolved by the launcher: off behind
    a PgBouncer that cannot track prepared statements, on everywhere else."""

    auto = "auto"
    on = "on"
    off = "off"


class DataAccessMode(StrEnum):
    """How the FastAPI service reaches the database (one module per mode)."""

    orm = "orm"  # async SQLAlchemy ORM over asyncpg


class JsonEncoder(StrEnum):
    """Which library writes response bodies, on both services (see serialization.py)."""

    pydantic = "pydantic"
    orjson = "orjson"


class WorkerClass(StrEnum):
    gthread = "gthread"
    sync = "sync"


class ServiceSettings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    database_url: str = Field(alias="DATABASE_URL", min_length=1)
    pool_size: Annotated[int, Field(ge=1, le=1000)] = Field(20, alias="DB_POOL_SIZE")
    max_overflow: Annotated[int, Field(ge=0, le=1000)] = Field(0, alias="DB_MAX_OVERFLOW")
    pool_timeout: Annotated[float, Field(gt=0, le=300)] = Field(10.0, alias="DB_POOL_TIMEOUT")
    connect_timeout: Annotated[float, Field(gt=0, le=60)] = Field(5.0, alias="DB_CONNECT_TIMEOUT")
    statement_cache: StatementCache = Field(StatementCache.auto, alias="DB_STATEMENT_CACHE")
    host: str = Field("127.0.0.1", alias="WEB_HOST")
    port: Annotated[int, Field(ge=1, le=65535)] = Field(8000, alias="WEB_PORT")
    workers: Annotated[int, Field(ge=1, le=64)] = Field(1, alias="WEB_WORKERS")
    threads: Annotated[int, Field(ge=1, le=1000)] = Field(20, alias="WEB_THREADS")
    worker_class: WorkerClass = Field(WorkerClass.gthread, alias="WEB_WORKER_CLASS")
    keepalive: Annotated[int, Field(ge=1, le=300)] = Field(5, alias="WEB_KEEPALIVE")
    json_encoder: JsonEncoder = Field(JsonEncoder.pydantic, alias="JSON_ENCODER")
    data_access: DataAccessMode = Field(DataAccessMode.orm, alias="DATA_ACCESS")

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgresql+", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value

    @property
    def connections_per_worker(self) -> int:
        return self.pool_size + self.max_overflow

    @property
    def connection_budget(self) -> int:
        return self.workers * self.connections_per_worker

    def as_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a child process."""
        return {
            field.alias: str(getattr(self, name))
            for name, field in type(self).model_fields.items()
            if field.alias
        }

    def public(self) -> dict[str, object]:
        """Every setting except the database URL, for printing and reports."""
        return {k: v for k, v in self.model_dump(mode="json").items() if k != "database_url"}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServiceSettings:
        environ = os.environ if environ is None else environ
        values = {alias: environ[alias] for alias in ENV_VARS if environ.get(alias, "") != ""}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SettingsError(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """One readable line per invalid setting, naming the variable and never its secret."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        name = ".".join(str(part) for part in error["loc"]) or "settings"
        problems.append(f"{name}: {error['msg']}")
    return "invalid settings: " + "; ".join(problems)


ENV_VARS: tuple[str, ...] = tuple(
    field.alias for field in ServiceSettings.model_fields.values() if field.alias
)


@cache
def get_settings() -> ServiceSettings:
    """The process's settings, read from the environment the first time they are needed."""
    return ServiceSettings.from_env()
