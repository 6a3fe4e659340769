"""The ledger audit: after a variant's run, was every acknowledged write kept, as it was
acknowledged, and nothing else written?

The Locust processes record every write and its answer (``loadtests/locust/ledger.py``);
the database was reset from its seed template before the run, so the template tells
what the run changed. A write is *acknowledged* when it was answered 2xx with a readable
body, *failed* when it was answered another status, and *unknown* when it got no answer
(the test stopped, a connection error, a timeout) or a 2xx it could not read. A failed or
unknown write may or may not have been committed; an acknowledged one must have been.
Times are the Locust processes' ``time.time()``, all on one machine.

``POST /orders`` (new orders: ids above the template's largest):
- each acknowledged order id must exist with the acknowledged customer and items
  (product, quantity, unit price, compared as multisets), else it is **lost** (missing,
  or different);
- each other new order is explained by one failed or unknown POST with the same
  customer, products and quantities (each such POST explains at most one order); if
  none is left, an order with an acknowledged POST's content is **duplicated**, any
  other **unexpected**;
- new items attached to seeded orders, and seeded orders that are gone, are
  **unexpected**.

``PATCH /users/{id}`` (one register per user; concurrent renames of one user are
normal, so any of them may win):
- a user's final name must be one a request sent to that user, or the seeded name when
  no rename of that user was acknowledged, else it is **unexpected** (also: renamed
  users nobody wrote to, users added or gone);
- when renames were acknowledged, the final name must come from a write W that no
  acknowledged write started after W was answered (one that did is ordered after W;
  failed and unknown writes count as answered never), else that later acknowledged
  rename was **lost**.

The expected result is 0 lost, 0 duplicated, 0 unexpected. A ledger that looks cut
short (no file, a torn or unreadable line, a file Locust did not close) is reported as
incomplete: its writes are still checked, but a missing acknowledgement cannot be.
Cost: one pass over the ledger and a handful of queries (the users of the template and
of the target, the new orders with their items). The template refuses connections
between resets; the audit allows them while it reads it, so its role must own it.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psycopg2

from loadtests import plan
from loadtests.errors import SuiteError
from loadtests.infra import database
from loadtests.plan import SCENARIOS, ScenarioPlan
from loadtests.report import audits
from loadtests.results.models import (
    FINDINGS,
    OUTCOMES,
    AuditResult,
    Findings,
    VariantRun,
    WriteCounts,
)
from loadtests.run.extras.base import Extra
from loadtests.run.state import Run, RunOptions

MAX_EXAMPLES = 10


@dataclass(slots=True)
class Write:
    """One write from the ledger."""

    kind: str
    target: int
    body: Any
    start: float
    variant: str = ""
    end: float = math.inf  # when acknowledged; never, for failed and unknown writes
    status: int | None = None  # None: no answer line
    ack: Any = None

    @property
    def outcome(self) -> str:
        if self.ack is not None:
            return "acknowledged"
        return "failed" if self.status and not 200 <= self.status < 300 else "unknown"

    @property
    def name(self) -> str:
        """A rename's value: what was acknowledged, or else what was sent."""
        return str((self.ack or self.body)["name"])


def read_ledger(directory: Path) -> tuple[list[Write], list[str]]:
    """Every write in ``directory/ledger-*.jsonl``, and what looks cut short."""
    files = sorted(directory.glob("ledger-*.jsonl")) if directory.is_dir() else []
    writes: list[Write] = []
    gaps = [] if files else [f"no ledger file in {directory}"]
    for path in files:
        lines = path.read_bytes().split(b"\n")
        if lines.pop():  # the last line lacks its newline: Locust died writing it
            gaps.append(f"{path.name}: torn last line")
        sent: dict[int, Write] = {}
        bad, closed = 0, False
        for line in lines:
            try:
                record = orjson.loads(line)
                if "kind" in record:
                    sent[record["w"]] = Write(
                        record["kind"], record["target"], record["body"], record["t"],
                        record.get("v", ""),
                    )  # fmt: skip
                elif "end" in record:
                    closed = True
                else:
                    write = sent[record["w"]]
                    write.status, write.ack = record["status"], record["ack"]
                    if write.ack is not None:
                        write.end = record["t"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                bad += 1
        if bad:
            gaps.append(f"{path.name}: {bad} unreadable lines")
        if not closed:
            gaps.append(f"{path.name}: not closed (Locust did not quit cleanly)")
        writes.extend(sent.values())
    return writes, gaps


class _Report:
    def __init__(self) -> None:
        self.found = {kind: Findings() for kind in FINDINGS}

    def add(self, kind: str, line: str, count: int = 1) -> None:
        found = self.found[kind]
        found.count += count
        if len(found.examples) < MAX_EXAMPLES:
            found.examples.append(line)


@dataclass
class _Seed:
    """What the template holds that the audit compares with."""

    users: dict[int, str]
    max_order: int
    orders: int
    max_item: int


def _read_seed(target: database.Target) -> _Seed:
    with database.template_connection(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, name FROM users")
        users = dict(cur.fetchall())
        cur.execute(
            "SELECT (SELECT coalesce(max(id), 0) FROM orders), (SELECT count(*) FROM orders),"
            " (SELECT coalesce(max(id), 0) FROM order_items)"
        )
        row = cur.fetchone()
        assert row is not None  # three aggregates: always one row
        max_order, orders, max_item = row
        return _Seed(users, max_order, orders, max_item)


Content = tuple[int, tuple[tuple[int, ...], ...]]  # customer, sorted item tuples


def _content(customer: int, items: Any) -> Content:
    return customer, tuple(sorted(tuple(item) for item in items))


def _sent_content(customer: int, items: Any) -> Content:
    """Customer, products and quantities: what a failed POST is known to have asked for."""
    return _content(customer, ((item[0], item[1]) for item in items))


def _describe(content: Content) -> str:
    customer, items = content
    lines = ", ".join(f"{q} x product {p}" + (f" at {c[0]}" if c else "") for p, q, *c in items)
    return f"customer {customer}: {lines or 'no items'}"


def _check_orders(cur: Any, seed: _Seed, writes: list[Write], report: _Report) -> None:
    cur.execute(
        "SELECT o.id, o.customer_id, coalesce(array_agg(ARRAY[i.product_id, i.quantity,"
        " i.unit_price_cents]) FILTER (WHERE i.id IS NOT NULL), '{}')"
        " FROM orders o LEFT JOIN order_items i ON i.order_id = o.id"
        " WHERE o.id > %s GROUP BY o.id",
        (seed.max_order,),
    )
    rows = {ident: _content(customer, items) for ident, customer, items in cur.fetchall()}
    claimed: set[int] = set()
    acked_by_content: dict[Content, int] = {}
    pending: Counter[Content] = Counter()  # failed and unknown POSTs, by what they asked for
    for write in writes:
        if write.ack is None:
            asked = [(item["product_id"], item["quantity"]) for item in write.body["items"]]
            pending[_sent_content(write.body["customer_id"], asked)] += 1
            continue
        ident, content = write.ack["id"], _content(write.ack["customer_id"], write.ack["items"])
        acked_by_content[_sent_content(*content)] = ident
        row = rows.get(ident)
        if row is None:
            report.add("lost", f"order {ident} ({_describe(content)}) is missing")
        elif ident in claimed:
            report.add("lost", f"order {ident} was acknowledged to two POSTs")
        elif row != content:
            report.add("lost", f"order {ident} holds {_describe(row)}, not {_describe(content)}")
        claimed.add(ident)
    for ident in sorted(rows.keys() - claimed):
        content = _sent_content(*rows[ident])
        if pending[content] > 0:
            pending[content] -= 1
        elif content in acked_by_content:
            first = acked_by_content[content]
            report.add("duplicated", f"order {ident} repeats order {first}: {_describe(content)}")
        else:
            report.add("unexpected", f"order {ident} ({_describe(content)}) was never sent")
    cur.execute("SELECT count(*) FROM orders WHERE id <= %s", (seed.max_order,))
    if gone := seed.orders - cur.fetchone()[0]:
        report.add("unexpected", f"{gone} seeded orders are gone", gone)
    cur.execute(
        "SELECT id, order_id FROM order_items WHERE id > %s AND order_id <= %s",
        (seed.max_item, seed.max_order),
    )
    for item, order in cur.fetchall():
        report.add("unexpected", f"item {item} was added to seeded order {order}")


def _check_user(
    ident: int, seeded: str | None, final: str | None, writes: list[Write], t0: float
) -> tuple[str, str] | None:
    """The finding about one user, if any: (kind, line)."""
    acked = [w for w in writes if w.ack is not None]
    if final is None:
        if seeded is None and not acked:
            return None  # renames of a user that never existed, answered 404
        return "lost" if acked else "unexpected", f"user {ident} is gone"
    if seeded is None:
        return "unexpected", f"user {ident} was added"
    sources = [w for w in writes if w.name == final]
    if not acked:
        if final == seeded or sources:
            return None
        return "unexpected", f"user {ident} is named {final!r}, which no request sent"
    last = max(acked, key=lambda w: w.start)
    if not sources:
        if final != seeded:
            return "unexpected", f"user {ident} is named {final!r}, which no request sent"
        return "lost", (
            f"user {ident} kept its seeded name: {len(acked)} acknowledged renames lost,"
            f" the last to {last.name!r} (sent at t+{last.start - t0:.3f} s)"
        )
    source = max(sources, key=lambda w: w.end)
    if source.end >= last.start:
        return None
    return "lost", (
        f"user {ident} is named {final!r} (answered at t+{source.end - t0:.3f} s), but the"
        f" rename to {last.name!r} sent after that (at t+{last.start - t0:.3f} s) was acknowledged"
    )


def _check_users(cur: Any, seed: _Seed, writes: list[Write], report: _Report) -> None:
    cur.execute("SELECT id, name FROM users")
    final = dict(cur.fetchall())
    by_user: defaultdict[int, list[Write]] = defaultdict(list)
    for write in writes:
        by_user[write.target].append(write)
    changed = {i for i in seed.users.keys() | final.keys() if seed.users.get(i) != final.get(i)}
    t0 = min((w.start for w in writes), default=0.0)
    for ident in sorted(changed | by_user.keys()):
        finding = _check_user(ident, seed.users.get(ident), final.get(ident), by_user[ident], t0)
        if finding:
            report.add(*finding)


def audit(target: database.Target, ledger_dir: Path) -> AuditResult:
    """Check the target database against the ledger in ``ledger_dir`` and the seed
    template it was reset from (see the module's rules). A database or ledger that
    cannot be read is a SuiteError."""
    try:
        return _audit(target, ledger_dir)
    except psycopg2.Error as exc:
        raise SuiteError(f"the database: {str(exc).strip().splitlines()[0]}") from None
    except OSError as exc:
        raise SuiteError(f"the ledger: {exc}") from None


def _audit(target: database.Target, ledger_dir: Path) -> AuditResult:
    started = time.perf_counter()
    writes, gaps = read_ledger(ledger_dir)
    by_kind: defaultdict[str, list[Write]] = defaultdict(list)
    for write in writes:
        by_kind[write.kind].append(write)
    tally = Counter((write.kind, write.outcome) for write in writes)
    by_variant = Counter((write.variant, write.kind, write.outcome) for write in writes)
    seed, report = _read_seed(target), _Report()
    with database.connect(target.url, autocommit=False) as conn, conn.cursor() as cur:
        conn.set_session(readonly=True, isolation_level="REPEATABLE READ")  # one snapshot
        _check_orders(cur, seed, by_kind[plan.CREATE_ORDER], report)
        _check_users(cur, seed, by_kind[plan.RENAME_USER], report)
    found = report.found
    return AuditResult(
        writes={
            kind: WriteCounts(**{outcome: tally[kind, outcome] for outcome in OUTCOMES})
            for kind in sorted(by_kind)
        },
        variants={
            variant: {
                kind: WriteCounts(
                    **{outcome: by_variant[variant, kind, outcome] for outcome in OUTCOMES}
                )
                for kind in sorted(by_kind)
            }
            for variant in sorted({write.variant for write in writes})
        },
        **found,
        ok=not any(f.count for f in found.values()),
        complete=not gaps,
        note="; ".join(gaps) or None,
        seconds=round(time.perf_counter() - started, 3),
    )


# -- the run's extra ------------------------------------------------------------------------


class Audit(Extra):
    """Locust records every write of a scenario with writes, whichever variant it went to;
    once the services stopped, and before the next reset, the database is checked against
    that ledger: all variants' writes together, since they wrote to one database."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.ledger: Path | None = None  # of the scenario in progress

    def announce(self) -> str:
        skipped = [p.scenario for p in self.options.scenarios if not SCENARIOS[p.scenario].writes]
        return "audit: every acknowledged write is checked after each scenario" + (
            f" (not in {', '.join(skipped)}: no writes)" if skipped else ""
        )

    def locust_args(self, run: Run, plan: ScenarioPlan) -> list[str]:
        if not SCENARIOS[plan.scenario].writes:
            return []
        ledger = run.run_dir / "ledger" / plan.scenario
        ledger.mkdir(parents=True, exist_ok=True)
        self.ledger = ledger
        return ["--ledger-dir", str(ledger)]

    def after_scenario(self, run: Run, plan: ScenarioPlan, outcomes: dict[str, VariantRun]) -> None:
        ledger, self.ledger = self.ledger, None
        if ledger is None:
            return
        try:
            found = run.results.scenarios[plan.scenario].audit = audit(run.target, ledger)
        except SuiteError as exc:
            reason = f"the audit could not run: {exc}"
            for outcome in outcomes.values():
                outcome.error = f"{outcome.error}; {reason}" if outcome.error else reason
                outcome.status = "failed"
            print(f"   {reason}", flush=True)
            return
        print(f"   {audits.summary(found)}", flush=True)


def create(options: RunOptions) -> Extra | None:
    return Audit(options) if options.audit else None
