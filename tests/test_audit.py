"""The ledger audit (loadtests/run/extras/audit.py): synthetic ledgers and direct SQL changes against
the session's real database, and one short Locust run that writes a real ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from loadtests.infra import database
from loadtests.plan import CREATE_ORDER, RENAME_USER
from loadtests.run.extras.audit import AuditResult, audit


class Book:
    """A ledger written the way loadtests/locust/ledger.py writes one (that module
    imports Locust, which would monkey-patch the test process)."""

    def __init__(self, directory: Path) -> None:
        self.path, self.lines, self.writes = directory / "ledger-1.jsonl", [], 0
        self.clock = 100.0

    def _write(self, kind: str, target: int, body: Any, answer: dict | None, span: tuple) -> None:
        self.writes += 1
        number, (start, end) = self.writes, span or (self.clock, self.clock + 0.01)
        self.clock += 0.1
        self.lines.append({"w": number, "kind": kind, "target": target, "body": body, "t": start})
        if answer is not None:
            self.lines.append({"w": number, **answer, "t": end})

    def post(self, customer: int, items: list, status: int | None = 201, acked=None) -> None:
        """``acked``: (order id, [[product, quantity, price], ...]) for a 201."""
        body = {
            "customer_id": customer,
            "items": [{"product_id": p, "quantity": q} for p, q in items],
        }
        ack = acked and {"id": acked[0], "customer_id": customer, "items": acked[1]}
        self._write(CREATE_ORDER, customer, body, status and {"status": status, "ack": ack}, ())

    def patch(self, user: int, name: str, status: int | None = 200, span: tuple = ()) -> None:
        ack = {"id": user, "name": name} if status == 200 else None
        self._write(
            RENAME_USER, user, {"name": name}, status and {"status": status, "ack": ack}, span
        )

    def save(self, tail: bytes = b"") -> None:
        """Closed with an end mark, or cut off by ``tail``: a Locust killed mid-write."""
        lines = [*self.lines, *([] if tail else [{"end": self.clock}])]
        self.path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines) + tail)


@pytest.fixture(scope="module", autouse=True)
def _reset_afterwards(seeded: database.Target) -> Iterator[None]:
    yield
    database.reset(seeded)  # other tests expect the seeded data


@pytest.fixture
def db(seeded: database.Target) -> Iterator[Any]:
    """A cursor on the freshly reset database (autocommit)."""
    database.reset(seeded)
    with database.connect(seeded.url) as conn, conn.cursor() as cur:
        yield cur


@pytest.fixture
def book(tmp_path: Path) -> Book:
    return Book(tmp_path)


def run_audit(seeded: database.Target, book: Book) -> AuditResult:
    book.save()
    return audit(seeded, book.path.parent)


def counts(result: AuditResult) -> tuple[int, int, int]:
    return result.lost.count, result.duplicated.count, result.unexpected.count


def insert_order(cur: Any, customer: int, items: list) -> tuple[int, list]:
    """An order as POST /orders writes it: its id and [[product, quantity, price], ...]."""
    cur.execute(
        "INSERT INTO orders (customer_id, status, total_cents) VALUES (%s, 'pending', 0)"
        " RETURNING id",
        (customer,),
    )
    ident = cur.fetchone()[0]
    cur.executemany(
        "INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)"
        " SELECT %s, id, %s, price_cents FROM products WHERE id = %s",
        [(ident, quantity, product) for product, quantity in items],
    )
    cur.execute(
        "SELECT product_id, quantity, unit_price_cents FROM order_items WHERE order_id = %s",
        (ident,),
    )
    return ident, [list(row) for row in cur.fetchall()]


def acked_order(cur: Any, book: Book, customer: int, items: list) -> int:
    ident, lines = insert_order(cur, customer, items)
    book.post(customer, items, acked=(ident, lines))
    return ident


def rename(cur: Any, user: int, name: str) -> None:
    cur.execute("UPDATE users SET name = %s WHERE id = %s", (name, user))


def test_a_clean_run_finds_nothing(seeded, db, book) -> None:
    acked_order(db, book, 3, [(1, 2), (7, 1)])
    acked_order(db, book, 3, [(1, 2), (7, 1)])  # the same content twice, both acknowledged
    book.post(4, [(2, 1)], status=503)  # failed, not written
    book.post(5, [(2, 1)], status=None)  # unknown, not written
    book.patch(10, "ten", span=(1.0, 1.1))
    rename(db, 10, "ten")
    book.patch(11, "eleven", status=503)
    result = run_audit(seeded, book)
    assert counts(result) == (0, 0, 0) and result.ok and result.complete, result
    assert result.writes[CREATE_ORDER].model_dump() == {
        "acknowledged": 2,
        "failed": 1,
        "unknown": 1,
    }
    assert result.writes[RENAME_USER].model_dump() == {"acknowledged": 1, "failed": 1, "unknown": 0}


def test_a_deleted_acknowledged_order_is_lost(seeded, db, book) -> None:
    ident = acked_order(db, book, 3, [(1, 2)])
    acked_order(db, book, 4, [(2, 1)])
    db.execute("DELETE FROM order_items WHERE order_id = %s", (ident,))
    db.execute("DELETE FROM orders WHERE id = %s", (ident,))
    result = run_audit(seeded, book)
    assert counts(result) == (1, 0, 0) and not result.ok
    (example,) = result.lost.examples
    assert example.startswith(f"order {ident} (customer 3: 2 x product 1 at "), example
    assert example.endswith(") is missing"), example


def test_an_acknowledged_order_with_another_quantity_is_lost(seeded, db, book) -> None:
    ident = acked_order(db, book, 3, [(1, 2), (5, 1)])
    db.execute(
        "UPDATE order_items SET quantity = 3 WHERE order_id = %s AND product_id = 5", (ident,)
    )
    result = run_audit(seeded, book)
    assert counts(result) == (1, 0, 0)
    assert f"order {ident} holds customer 3: 2 x product 1" in result.lost.examples[0]
    assert "3 x product 5" in result.lost.examples[0]


def test_a_second_copy_of_an_acknowledged_order_is_duplicated(seeded, db, book) -> None:
    first = acked_order(db, book, 3, [(1, 2), (5, 1)])
    copy, _ = insert_order(db, 3, [(5, 1), (1, 2)])
    result = run_audit(seeded, book)
    assert counts(result) == (0, 1, 0)
    assert result.duplicated.examples[0].startswith(f"order {copy} repeats order {first}: ")


@pytest.mark.parametrize("status", [503, None], ids=["failed", "unknown"])
def test_an_unacknowledged_post_may_have_been_written_once(seeded, db, book, status) -> None:
    book.post(3, [(1, 2)], status=status)
    insert_order(db, 3, [(1, 2)])
    assert counts(run_audit(seeded, book)) == (0, 0, 0)
    insert_order(db, 3, [(1, 2)])  # it explains one row, not two
    result = run_audit(seeded, book)
    assert counts(result) == (0, 0, 1), result


def test_rows_nobody_sent_are_unexpected(seeded, db, book) -> None:
    acked_order(db, book, 3, [(1, 2)])
    stray, _ = insert_order(db, 9, [(4, 4)])
    db.execute(
        "INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)"
        " VALUES (1, 2, 1, 100) RETURNING id"
    )
    item = db.fetchone()[0]
    result = run_audit(seeded, book)
    assert counts(result) == (0, 0, 2)
    assert result.unexpected.examples == [
        f"order {stray} (customer 9: 4 x product 4) was never sent",
        f"item {item} was added to seeded order 1",
    ]


def test_an_older_rename_winning_over_a_later_acknowledged_one_is_lost(seeded, db, book) -> None:
    book.patch(20, "older", span=(1.0, 2.0))
    book.patch(20, "later", span=(3.0, 4.0))  # sent after "older" was answered
    rename(db, 20, "older")
    result = run_audit(seeded, book)
    assert counts(result) == (1, 0, 0)
    assert result.lost.examples == [
        "user 20 is named 'older' (answered at t+1.000 s), but the rename to 'later' sent"
        " after that (at t+2.000 s) was acknowledged"
    ]


def test_the_seeded_name_after_an_acknowledged_rename_is_lost(seeded, db, book) -> None:
    book.patch(21, "new", span=(1.0, 2.0))
    assert counts(run_audit(seeded, book)) == (1, 0, 0)


@pytest.mark.parametrize("final", ["first", "second"])
def test_overlapping_acknowledged_renames_may_end_either_way(seeded, db, book, final) -> None:
    book.patch(22, "first", span=(1.0, 3.0))
    book.patch(22, "second", span=(2.0, 4.0))
    rename(db, 22, final)
    assert counts(run_audit(seeded, book)) == (0, 0, 0)


def test_a_failed_rename_may_still_win(seeded, db, book) -> None:
    book.patch(23, "acked", span=(1.0, 2.0))
    book.patch(23, "failed", status=503, span=(3.0, 4.0))
    book.patch(24, "unknown", status=None, span=(3.0, 4.0))
    rename(db, 23, "failed")
    rename(db, 24, "unknown")
    assert counts(run_audit(seeded, book)) == (0, 0, 0)


def test_a_name_nobody_sent_is_unexpected(seeded, db, book) -> None:
    book.patch(25, "sent", span=(1.0, 2.0))
    rename(db, 25, "made up")
    rename(db, 26, "also made up")  # nobody wrote to user 26 at all
    result = run_audit(seeded, book)
    assert counts(result) == (0, 0, 2)
    assert result.unexpected.examples == [
        "user 25 is named 'made up', which no request sent",
        "user 26 is named 'also made up', which no request sent",
    ]


def test_a_torn_ledger_is_incomplete_not_a_crash(seeded, db, book, tmp_path) -> None:
    acked_order(db, book, 3, [(1, 2)])
    book.save(tail=b'{"w": 3, "kind": "POST /ord')
    result = audit(seeded, tmp_path)
    assert counts(result) == (0, 0, 0) and result.ok
    assert not result.complete
    assert result.note == (
        "ledger-1.jsonl: torn last line; ledger-1.jsonl: not closed (Locust did not quit cleanly)"
    )
    assert result.writes[CREATE_ORDER].acknowledged == 1
    missing = audit(seeded, tmp_path / "none")
    assert not missing.complete and "no ledger file" in missing.note
