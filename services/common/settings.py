"""Service settings, read once from the environment and validated at start.

Both services read their settings from here, so one place decides the names, the
defaults, the limits and who reads what. Every field carries its metadata (declared with
``setting()``): the environment variable, a help text, which service (and which FastAPI
data-access mode) reads it, and the command-line option that overrides it for every
variant. The suite derives from that metadata the options of ``run``/``serve``/``ui``,
the fairness comparison between variants, the settings a report lists for each variant,
and the docker-compose check.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.config import JsonDict


class SettingsError(ValueError):
    """Invalid settings, worded for a human: one line per problem."""


class Service(StrEnum):
    """The two services under test."""

    flask = "flask"
    fastapi = "fastapi"


class DataAccessMode(StrEnum):
    """How the FastAPI service reaches the database (one module per mode, see
    services/fastapi_async/data/)."""

    orm = "orm"  # async SQLAlchemy ORM over asyncpg
    raw = "raw"  # an asyncpg pool and hand-written SQL, no ORM
    hybrid = "hybrid"  # ORM for writes, raw asyncpg for reads, one connection budget
    sync_def = "sync-def"  # sync SQLAlchemy + psycopg2 in AnyIO's worker threads
    blocking = "blocking"  # sync SQLAlchemy called inside async def: the anti-pattern


ALL_MODES = frozenset(DataAccessMode)
ASYNCPG_MODES = frozenset({DataAccessMode.orm, DataAccessMode.raw, DataAccessMode.hybrid})
SQLALCHEMY_MODES = ALL_MODES - {DataAccessMode.raw}  # every mode with a SQLAlchemy pool


class StatementCache(StrEnum):
    """asyncpg's prepared-statement cache. ``auto`` is resolved by the launcher: off behind
    a PgBouncer that cannot track prepared statements, on everywhere else."""

    auto = "auto"
    on = "on"
    off = "off"


class PoolQueue(StrEnum):
    """Who orders the requests waiting for a pooled connection in the async modes.

    ``sqlalchemy``: the pool's own ``asyncio.Queue``. A connection put back is taken by
    whoever asks first; a request that was woken for it but has not run yet goes back to
    the end of the line, so a few requests can wait for seconds while the median stays low.
    ``fifo``: an ``asyncio.Semaphore`` of the pool's size, taken before the session, which
    hands a released permit straight to the longest waiter (first come, first served).
    """

    sqlalchemy = "sqlalchemy"
    fifo = "fifo"


class JsonEncoder(StrEnum):
    """Which library writes response bodies, on both services (see serialization.py)."""

    pydantic = "pydantic"
    orjson = "orjson"


class WorkerClass(StrEnum):
    gthread = "gthread"
    sync = "sync"


def setting(
    env: str,
    default: Any,
    help: str,
    *,
    flask: bool = True,
    fastapi: frozenset[DataAccessMode] = ALL_MODES,
    option: str | None = None,
    per_start: bool = False,
    **constraints: Any,
) -> Any:
    """A settings field with its metadata: who reads it and how it is overridden.
    ``per_start``: chosen by the launcher for every start (URL, port), never compared."""
    extra: JsonDict = {
        "flask": flask,
        "fastapi": [mode.value for mode in sorted(fastapi)],  # StrEnum: sorts by value
        "option": option,
        "per_start": per_start,
    }
    return Field(default, alias=env, description=help, json_schema_extra=extra, **constraints)


class ServiceSettings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    database_url: str = setting(
        "DATABASE_URL", ..., "postgresql:// URL of the database", per_start=True, min_length=1
    )
    pool_size: int = setting(
        "DB_POOL_SIZE", 20, "pooled connections per worker process",
        option="--pool-size", ge=1, le=1000,
    )  # fmt: skip
    max_overflow: int = setting(
        "DB_MAX_OVERFLOW", 0, "connections per worker beyond the pool",
        option="--max-overflow", ge=0, le=1000,
    )  # fmt: skip
    pool_timeout: float = setting(
        "DB_POOL_TIMEOUT", 10.0, "seconds to wait for a pooled connection before a 503",
        option="--pool-timeout", gt=0, le=300,
    )  # fmt: skip
    connect_timeout: float = setting(
        "DB_CONNECT_TIMEOUT", 5.0, "seconds to wait for a new database connection",
        gt=0, le=60,
    )  # fmt: skip
    reconnect: bool = setting(
        "DB_RECONNECT", True,
        "replace a pooled connection the database closed while it was idle instead of "
        "failing a request, without a round trip: asyncpg's is found at checkout, "
        "psycopg2's first statement is retried once on a fresh connection",
        fastapi=SQLALCHEMY_MODES,
    )  # fmt: skip
    request_deadline: float = setting(
        "REQUEST_DEADLINE_S", 5.0,
        "seconds a request may hold a database connection (statements, commit, the "
        "pool's reset) before it is cut and the request answers 503, even when the server "
        "is frozen; also the most a new connection may take to open; 0: off",
        option="--request-deadline", ge=0, le=60,
    )  # fmt: skip
    statement_cache: StatementCache = setting(
        "DB_STATEMENT_CACHE", StatementCache.auto,
        "asyncpg prepared statements: auto, on, off (see PgBouncer)",
        flask=False, fastapi=ASYNCPG_MODES, option="--statement-cache",
    )  # fmt: skip
    pool_queue: PoolQueue = setting(
        "POOL_QUEUE", PoolQueue.sqlalchemy,
        "who orders requests waiting for a connection: sqlalchemy (the pool's queue) or fifo",
        flask=False, fastapi=ASYNCPG_MODES, option="--pool-queue",
    )  # fmt: skip
    write_pool_size: int | None = setting(
        "DB_WRITE_POOL_SIZE", None,
        "hybrid: connections of the ORM (writes) pool; the rest of DB_POOL_SIZE + "
        "DB_MAX_OVERFLOW serve raw reads (default a quarter)",
        flask=False, fastapi=frozenset({DataAccessMode.hybrid}), ge=1, le=1000,
    )  # fmt: skip
    host: str = setting("WEB_HOST", "127.0.0.1", "address to listen on", per_start=True)
    port: int = setting("WEB_PORT", 8000, "port to listen on", per_start=True, ge=1, le=65535)
    workers: int = setting(
        "WEB_WORKERS", 1, "worker processes", option="--service-workers", ge=1, le=64
    )
    threads: int | None = setting(
        "WEB_THREADS", None,
        "threads serving requests per worker: Flask's gthread threads, FastAPI sync-def's "
        "AnyIO thread limit (default DB_POOL_SIZE + DB_MAX_OVERFLOW)",
        fastapi=frozenset({DataAccessMode.sync_def}), option="--threads", ge=1, le=1000,
    )  # fmt: skip
    worker_class: WorkerClass = setting(
        "WEB_WORKER_CLASS", WorkerClass.gthread, "gunicorn worker class: gthread or sync",
        fastapi=frozenset(),
    )  # fmt: skip
    keepalive: int = setting("WEB_KEEPALIVE", 5, "keep-alive seconds", ge=1, le=300)
    server_timing: bool = setting(
        "SERVER_TIMING", True,
        "time app, pool, db and orm per request and send them in a Server-Timing header",
        option="--server-timing",
    )  # fmt: skip
    external_call_ms: float = setting(
        "EXTERNAL_CALL_MS", 0.0,
        "a simulated call to another service before each database request's work, in ms, "
        "made as the stack makes calls (awaited in async modes, blocking in sync code and "
        "in the blocking anti-pattern); 0: none",
        option="--external-call-ms", ge=0, le=10_000,
    )  # fmt: skip
    cpu_burn_ms: float = setting(
        "CPU_BURN_MS", 0.0,
        "CPU spent spinning before each database request's work, in ms: a known slowdown "
        "for tests of the suite's verdicts; 0: none",
        ge=0, le=1000,
    )  # fmt: skip
    json_encoder: JsonEncoder = setting(
        "JSON_ENCODER", JsonEncoder.pydantic, "response bodies: pydantic or orjson",
        option="--json-encoder",
    )  # fmt: skip
    data_access: DataAccessMode = setting(
        "DATA_ACCESS", DataAccessMode.orm,
        "FastAPI data-access mode: " + ", ".join(m.value for m in DataAccessMode),
        flask=False,
    )  # fmt: skip

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgresql+", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _hybrid_leaves_room_for_reads(self) -> ServiceSettings:
        if self.write_pool_size is not None and self.write_pool_size >= self.connections_per_worker:
            raise ValueError(
                f"DB_WRITE_POOL_SIZE={self.write_pool_size} leaves no connection for reads "
                f"(DB_POOL_SIZE + DB_MAX_OVERFLOW = {self.connections_per_worker})"
            )
        return self

    @property
    def connections_per_worker(self) -> int:
        return self.pool_size + self.max_overflow

    @property
    def connection_budget(self) -> int:
        return self.workers * self.connections_per_worker

    @property
    def deadline(self) -> float | None:
        """REQUEST_DEADLINE_S, or None when it is off."""
        return self.request_deadline or None

    @property
    def connect_limit(self) -> float:
        """Seconds to open a connection: the connect timeout, within the deadline."""
        return min(self.connect_timeout, self.deadline or self.connect_timeout)

    @property
    def thread_count(self) -> int:
        """Threads serving requests: as many as connections unless chosen."""
        return self.threads or self.connections_per_worker

    @property
    def hybrid_split(self) -> tuple[int, int]:
        """(ORM write connections, raw read connections) per worker in hybrid mode."""
        writes = self.write_pool_size or max(1, self.connections_per_worker // 4)
        return writes, self.connections_per_worker - writes

    def as_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a child process."""
        values = self.model_dump(by_alias=True, mode="json", exclude_none=True)
        return {name: str(value) for name, value in values.items()}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServiceSettings:
        environ = os.environ if environ is None else environ
        values = {env: environ[env] for env in ENV_VARS if environ.get(env, "") != ""}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SettingsError(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """One readable line per invalid setting, naming the variable and never its secret."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        name = ".".join(str(part) for part in error["loc"]) or "settings"
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{name}: {message}" if error["loc"] else message)
    return "invalid settings: " + "; ".join(problems)


@dataclass(frozen=True)
class SettingInfo:
    """One setting's metadata, as declared with ``setting()``."""

    field: str
    env: str
    help: str
    flask: bool
    fastapi: frozenset[DataAccessMode]
    option: str | None
    per_start: bool

    def read_by(self, service: Service | str, mode: DataAccessMode | str | None = None) -> bool:
        """Whether ``service`` (in FastAPI data-access ``mode``) reads this setting."""
        if Service(service) is Service.flask:
            return self.flask
        if mode is None:  # in some mode
            return bool(self.fastapi)
        return DataAccessMode(mode) in self.fastapi


def _infos() -> dict[str, SettingInfo]:
    infos = {}
    for name, field in ServiceSettings.model_fields.items():
        extra = field.json_schema_extra
        assert isinstance(extra, dict) and field.alias
        modes, option = extra["fastapi"], extra["option"]
        assert isinstance(modes, list) and (option is None or isinstance(option, str))
        infos[field.alias] = SettingInfo(
            field=name,
            env=field.alias,
            help=field.description or "",
            flask=bool(extra["flask"]),
            fastapi=frozenset(DataAccessMode(str(m)) for m in modes),
            option=option,
            per_start=bool(extra["per_start"]),
        )
    return infos


SETTINGS: dict[str, SettingInfo] = _infos()  # by environment variable
ENV_VARS: tuple[str, ...] = tuple(SETTINGS)


def read_by(service: Service | str, mode: DataAccessMode | str | None = None) -> list[SettingInfo]:
    """The settings a service (in a mode) reads, in declaration order."""
    return [info for info in SETTINGS.values() if info.read_by(service, mode)]


def values_read(
    settings: ServiceSettings, service: Service | str, mode: DataAccessMode | str | None = None
) -> dict[str, Any]:
    """What a service in ``mode`` runs with, by variable (no per-start URL or port), for
    printing, reports and the fairness comparison."""
    dumped = settings.model_dump(by_alias=True, mode="json")
    values = {
        info.env: dumped[info.env]
        for info in read_by(service, mode)
        if not info.per_start and info.env in dumped
    }
    # Defaults that follow other settings, made explicit.
    derived = {"WEB_THREADS": settings.thread_count, "DB_WRITE_POOL_SIZE": settings.hybrid_split[0]}
    for env, value in derived.items():
        if env in values and values[env] is None:
            values[env] = value
    return values


@cache
def get_settings() -> ServiceSettings:
    """The process's settings, read from the environment the first time they are needed."""
    return ServiceSettings.from_env()
