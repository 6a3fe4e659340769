"""Named variants: which service runs, in which data-access mode, with which settings.

A variant is data: a name, a service, a FastAPI data-access mode and environment
settings on top of those every variant of a run shares. The built-in ones cover every
stack the articles compare, including the best-known fix for each; users add their own
in a TOML file (``--variants FILE``)::

    ["fastapi:pool40"]
    service = "fastapi"
    mode = "orm"                      # optional (FastAPI only)
    settings = { DB_POOL_SIZE = 40 }  # the environment names the service reads
    description = "a bigger pool"     # optional

Everything is checked before anything starts: a duplicate or unknown name, a mode or
setting the service does not read, or a bad value is a one-line error that lists what is
known.
"""

from __future__ import annotations

import re
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from loadtests.errors import SuiteError
from services.common.settings import (
    DataAccessMode,
    Service,
    ServiceSettings,
    SettingsError,
    read_by,
)

STACKS = {
    Service.flask: "Flask + sync SQLAlchemy + psycopg2 (gunicorn)",
    Service.fastapi: "FastAPI + uvicorn (uvloop, httptools)",
}
MODE_STACKS = {
    DataAccessMode.orm: "async SQLAlchemy ORM + asyncpg",
    DataAccessMode.raw: "raw asyncpg, no ORM",
    DataAccessMode.hybrid: "ORM writes + raw asyncpg reads",
    DataAccessMode.sync_def: "def endpoints, sync SQLAlchemy + psycopg2 in threads",
    DataAccessMode.blocking: "async def calling sync SQLAlchemy (blocks the event loop)",
}


@dataclass(frozen=True)
class Variant:
    name: str
    service: Service
    mode: DataAccessMode | None  # FastAPI only
    settings: Mapping[str, str] = field(default_factory=dict)
    label: str = ""
    description: str = ""
    antipattern: bool = False
    builtin: bool = False
    # An external target: a service already running at this base URL, which the suite
    # drives but does not start (``url = ...`` in a variants file, or ``--target``).
    url: str | None = None

    @property
    def display(self) -> str:
        return self.label or self.name

    @property
    def stack(self) -> str:
        stack = STACKS[self.service]
        return f"{stack}, {MODE_STACKS[self.mode]}" if self.mode else stack

    def environment(self) -> dict[str, str]:
        """The variant's own environment settings (its mode included)."""
        env = dict(self.settings)
        if self.mode is not None:
            env["DATA_ACCESS"] = self.mode.value
        return env


def _builtin(
    name: str, label: str, description: str, mode: str | None = None, **settings: str
) -> Variant:
    service = Service(name.split(":")[0])
    return Variant(
        name=name,
        service=service,
        mode=DataAccessMode(mode) if mode else None,
        settings=settings,
        label=label,
        description=description,
        antipattern=mode == DataAccessMode.blocking,
        builtin=True,
    )


BUILTIN: dict[str, Variant] = {
    v.name: v
    for v in (
        _builtin("flask", "Flask", "gunicorn gthread workers, sync SQLAlchemy + psycopg2"),
        _builtin(
            "flask:sync", "Flask (sync workers)",
            "gunicorn sync workers, one request at a time each: (2 x cores) + 1 workers as "
            "gunicorn's documentation recommends, one connection each",
            WEB_WORKER_CLASS="sync", DB_POOL_SIZE="1", DB_MAX_OVERFLOW="0",
        ),
        _builtin("fastapi", "FastAPI", "async SQLAlchemy ORM over asyncpg", "orm"),
        _builtin(
            "fastapi:fair", "FastAPI (fair queue)",
            "async ORM with a first-come-first-served gate in front of the pool",
            "orm", POOL_QUEUE="fifo",
        ),
        _builtin(
            "fastapi:raw", "FastAPI (raw asyncpg)", "asyncpg pool and hand-written SQL", "raw"
        ),
        _builtin(
            "fastapi:hybrid", "FastAPI (hybrid)",
            "async ORM for writes, raw asyncpg for reads, one connection budget", "hybrid",
        ),
        _builtin(
            "fastapi:sync-def", "FastAPI (def endpoints)",
            "def endpoints: sync SQLAlchemy + psycopg2 in AnyIO's threads, sized to the pool",
            "sync-def",
        ),
        _builtin(
            "fastapi:blocking", "FastAPI (blocking, ANTI-PATTERN)",
            "ANTI-PATTERN: async def endpoints calling sync SQLAlchemy, blocking the event loop",
            "blocking",
        ),
    )
}  # fmt: skip


def _check(variant: Variant, where: str) -> Variant:
    """Refuse a mode or setting the service does not read, and bad values."""
    if variant.mode is not None and variant.service is not Service.fastapi:
        raise SuiteError(f"{where}: only the fastapi service has data-access modes")
    known = {info.env for info in read_by(variant.service, variant.mode) if not info.per_start}
    for name in variant.settings:
        if name == "DATA_ACCESS":
            raise SuiteError(f"{where}: set the data-access mode with `mode`, not DATA_ACCESS")
        if name not in known:
            reads = ", ".join(sorted(known - {"DATA_ACCESS"}))
            mode = f" in mode {variant.mode.value}" if variant.mode else ""
            raise SuiteError(
                f"{where}: {variant.service.value}{mode} does not read {name} (it reads: {reads})"
            )
    try:
        ServiceSettings.from_env({"DATABASE_URL": "postgresql://check", **variant.environment()})
    except SettingsError as exc:
        raise SuiteError(f"{where}: {exc}") from None
    return variant


TABLE_KEYS = ("service", "mode", "settings", "description", "label", "url")


def _from_table(name: str, table: Any, path: Path) -> Variant:
    where = f"{path}: [{name}]"
    if not isinstance(table, dict):
        raise SuiteError(f"{where} must be a table")
    unknown = set(table) - set(TABLE_KEYS)
    if unknown:
        raise SuiteError(
            f"{where}: unknown key {sorted(unknown)[0]!r} (known: {', '.join(TABLE_KEYS)})"
        )
    if "url" in table and table.get("settings"):
        raise SuiteError(
            f"{where}: settings do not apply to an external target (url): the suite does "
            "not start it"
        )
    services = ", ".join(s.value for s in Service)
    try:
        service = Service(table.get("service", ""))  # missing: "" is no service either
    except ValueError:
        raise SuiteError(f"{where}: service must be one of {services}") from None
    mode = table.get("mode")
    if mode is not None:
        modes = ", ".join(m.value for m in DataAccessMode)
        try:
            mode = DataAccessMode(mode)
        except ValueError:
            raise SuiteError(f"{where}: unknown mode {mode!r} (known: {modes})") from None
    elif service is Service.fastapi:
        mode = DataAccessMode.orm
    settings = table.get("settings", {})
    if not isinstance(settings, dict):
        raise SuiteError(
            f"{where}: settings must be a table, e.g. settings = {{ DB_POOL_SIZE = 40 }}"
        )
    variant = Variant(
        name=name,
        service=service,
        mode=mode,
        settings={key: _env_value(value) for key, value in settings.items()},
        label=str(table.get("label", "")),
        description=str(table.get("description", "")),
        url=target_url(str(table["url"]), where) if "url" in table else None,
    )
    return _check(variant, where)


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def load_file(path: Path) -> dict[str, Variant]:
    """The variants a TOML file defines, checked."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SuiteError(f"--variants: no such file {path}") from None
    except OSError as exc:
        raise SuiteError(f"--variants: cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SuiteError(f"--variants: {path} is not valid TOML: {exc}") from None
    variants = {}
    for name, table in data.items():
        if name in BUILTIN:
            raise SuiteError(
                f"{path}: [{name}] is already a built-in variant; choose another name "
                f"(built in: {', '.join(BUILTIN)})"
            )
        variants[name] = _from_table(name, table, path)
    if not variants:
        raise SuiteError(f"--variants: {path} defines no variant (a table per variant)")
    return variants


def catalogue(path: Path | None) -> dict[str, Variant]:
    """Every variant a command can name: the built-in ones and the file's."""
    return {**BUILTIN, **(load_file(path) if path else {})}


# What the suite cannot know of a service it did not start (the run and its report say so).
EXTERNAL_NOTE = (
    "not started by the suite: its CPU, memory, process model and pinning are not measured"
)


def target_url(text: str, where: str) -> str:
    """An external target's base URL: http(s), a host, no query; without a final slash."""
    try:
        parts = urllib.parse.urlsplit(text.strip())
    except ValueError as exc:
        raise SuiteError(f"{where}: '{masked(text)}' is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SuiteError(
            f"{where}: a target URL must be http(s)://HOST[:PORT], got '{masked(text)}'"
        )
    if parts.query or parts.fragment:
        raise SuiteError(f"{where}: a target URL takes no query or fragment: '{masked(text)}'")
    try:
        parts.port  # noqa: B018  # raises on a port that is not a number in range
    except ValueError:
        raise SuiteError(f"{where}: bad port in '{masked(text)}'") from None
    if parts.password is not None:
        # It would travel into Locust's command line and schedule: refused, not stored.
        raise SuiteError(
            f"{where}: '{masked(text)}' carries a password; the contract has no "
            "authentication (put one in front of the target, not in its URL)"
        )
    return text.strip().rstrip("/")


_PASSWORD = re.compile(r"(://[^:/@\s]*):[^@/\s]*@")


def masked(text: str) -> str:
    """A URL, or a command line holding URLs, for printing and reports: every password
    (``scheme://user:PASSWORD@``) shown as ``***``."""
    return _PASSWORD.sub(r"\1:***@", text)


def with_targets(known: Mapping[str, Variant], targets: list[str]) -> dict[str, Variant]:
    """``--target NAME=URL`` (repeatable): each names a known variant, now external."""
    found = dict(known)
    for text in targets:
        name, sep, url = text.partition("=")
        name = name.strip()
        if not sep or not name:
            raise SuiteError(f"--target must be NAME=URL, got '{masked(text)}'")
        if name not in known:
            raise SuiteError(
                f"--target: unknown variant '{name}' (known: {', '.join(known)}; define your "
                "own in a --variants file, with url = ...)"
            )
        found[name] = replace(known[name], url=target_url(url, f"--target {name}"), settings={})
    return found


def resolve(text: str, known: Mapping[str, Variant]) -> list[Variant]:
    """``"flask,fastapi:fair"`` -> the variants, in order (the first is the baseline)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise SuiteError(f"no variant given (known: {', '.join(known)})")
    for name in names:
        if names.count(name) > 1:
            raise SuiteError(f"variant '{name}' is listed twice in '{text}'")
        if name not in known:
            raise SuiteError(f"unknown variant '{name}' (known: {', '.join(known)})")
    return [known[name] for name in names]
