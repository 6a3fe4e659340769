"""The load scenarios: one Locust FastHttpUser class each, selectable by name.

Users run a closed model with no think time: each simulated user sends its next
request as soon as the previous one is answered, so N users keep N requests in
flight, as the articles' "N concurrent requests" do. Every response is checked for its
status and a field of its body; a wrong answer counts as an error, not a success.
Random ids come from the seeded ranges (``--max-user-id`` and friends, filled in by the
runner from the seed).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import Any

import gevent
import orjson
from locust import FastHttpUser, constant
from locust.contrib.fasthttp import FastHttpSession

from loadtests import plan
from loadtests.locust import arrivals, turn
from loadtests.locust.ledger import writes
from loadtests.recording.tally import WRONG_BODY
from services.common.models import OrderStatus

STATUSES = [status.value for status in OrderStatus]
PAUSE_POLL_S = 0.05  # how often a waiting user looks whether its turn came back


class ScenarioUser(FastHttpUser):
    abstract = True
    wait_time = constant(0)
    network_timeout = plan.NETWORK_TIMEOUT_S
    connection_timeout = 10.0

    def on_start(self) -> None:
        self.turn = -2  # the target's turn this user last followed
        self.variant = ""
        self.intended: float | None = None  # the open model: this request's arrival

    def follow_target(self) -> None:
        """Send to the variant whose turn it is; on new connections when the switch asks
        for them (every variant's turn then starts cold, none keeps a warm pool)."""
        now = turn.current
        # The open model: wait, idle, until an arrival is this user's (arrivals.py).
        self.intended = arrivals.current.take() if now.open else None
        while now.paused:  # another generator's turn: wait for the next Locust turn
            gevent.sleep(PAUSE_POLL_S)
        if now.turn == self.turn:
            return
        host = now.host or self.host
        if host and (now.fresh or host != self.client.base_url):
            self.client.client.close()
            self.client = self._session(host)
        self.turn, self.variant = now.turn, now.variant

    def _session(self, host: str) -> FastHttpSession:
        """A new client as FastHttpUser builds its own, for ``host``."""
        return FastHttpSession(
            base_url=host,
            request_event=self.environment.events.request,
            user=self,
            insecure=self.insecure,
            client_pool=self.client_pool,
            ssl_context_factory=self.ssl_context_factory,
            network_timeout=self.network_timeout,
            connection_timeout=self.connection_timeout,
            max_redirects=self.max_redirects,
            max_retries=self.max_retries,
            concurrency=self.concurrency,
            headers=self.default_headers,
            proxy_host=self.proxy_host,
            proxy_port=self.proxy_port,
        )

    def max_id(self, kind: str) -> int:
        return int(getattr(self.environment.parsed_options, f"max_{kind}_id"))

    def random_id(self, kind: str) -> int:
        return random.randint(1, self.max_id(kind))

    def expect(
        self,
        method: str,
        path: str,
        name: str,
        status: int,
        check: Callable[[Any], bool],
        body: Any = None,
        target: int | None = None,
    ) -> None:
        """Send one request; fail it unless the status is ``status`` and ``check(json)``.
        A write names its ``target`` (the user or customer it changes) for the ledger."""
        self.follow_target()
        payload = orjson.dumps(body) if body is not None else None
        headers = {"content-type": "application/json"} if payload is not None else {}
        if turn.current.close:
            headers["connection"] = "close"
        write = writes.sent(name, target, body, self.variant)
        try:
            with self.client.request(
                method,
                path,
                name=name,
                context={"variant": self.variant, "intended": self.intended},
                data=payload,  # type: ignore[arg-type]  # Locust sends bytes; its annotation omits them
                headers=headers,
                catch_response=True,
            ) as response:
                writes.answered(write, response)
                if response.status_code == 0:
                    return  # connection error or timeout: Locust reports its own exception
                if response.status_code != status:
                    response.failure(f"HTTP {response.status_code}")
                    return
                try:
                    good = check(orjson.loads(response.content or b"null"))
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    good = False
                if not good:
                    response.failure(f"{WRONG_BODY}: {name} answered an unexpected body")
        finally:
            if self.intended is not None:  # the open model: this arrival is over
                arrivals.current.answered()


# -- the requests, one function each (Locust task dicts take plain functions) ---------------


def get_user(user: ScenarioUser) -> None:
    ident = user.random_id("user")
    user.expect("GET", f"/users/{ident}", plan.GET_USER, 200, lambda b: b["id"] == ident)


def rename_user(user: ScenarioUser) -> None:
    """The articles' 1 SELECT + 1 UPDATE. The name is new every time: SQLAlchemy would
    skip an UPDATE that does not change the row."""
    ident, name = user.random_id("user"), f"user {uuid.uuid4().hex[:12]}"
    user.expect(
        "PATCH", f"/users/{ident}", plan.RENAME_USER, 200,
        lambda b: b["id"] == ident and b["name"] == name, {"name": name}, ident,
    )  # fmt: skip


def list_users(user: ScenarioUser) -> None:
    after = random.randint(0, max(0, user.max_id("user") - 20))
    user.expect(
        "GET", f"/users?limit=20&after_id={after}", plan.LIST_USERS, 200,
        lambda b: all(u["id"] > after for u in b["items"]),
    )  # fmt: skip


def get_order(user: ScenarioUser) -> None:
    ident = user.random_id("order")
    user.expect(
        "GET", f"/orders/{ident}", plan.GET_ORDER, 200,
        lambda b: b["id"] == ident and len(b["items"]) > 0,
    )  # fmt: skip


def list_orders(user: ScenarioUser) -> None:
    status = random.choice(STATUSES)
    user.expect(
        "GET", f"/orders?status={status}&limit=10", plan.LIST_ORDERS, 200,
        lambda b: all(o["status"] == status for o in b["items"]),
    )  # fmt: skip


def order_summary(user: ScenarioUser) -> None:
    ident = user.random_id("order")
    user.expect(
        "GET", f"/orders/{ident}/summary", plan.ORDER_SUMMARY, 200,
        lambda b: b["id"] == ident and b["item_count"] >= 1,
    )  # fmt: skip


def create_order(user: ScenarioUser) -> None:
    products = random.sample(range(1, user.max_id("product") + 1), k=min(3, user.max_id("product")))
    items = [
        {"product_id": p, "quantity": random.randint(1, 3)}
        for p in products[: random.randint(1, 3)]
    ]
    customer = user.random_id("customer")
    user.expect(
        "POST", "/orders", plan.CREATE_ORDER, 201,
        lambda b: b["customer"]["id"] == customer and len(b["items"]) == len(items),
        {"customer_id": customer, "items": items}, customer,
    )  # fmt: skip


def health(user: ScenarioUser) -> None:
    user.expect("GET", "/health", plan.HEALTH, 200, lambda b: b["status"] == "ok")


# -- the scenarios: their mixes are data in loadtests/plan.py ------------------------------

REQUESTS: dict[str, Callable[[ScenarioUser], None]] = {
    plan.GET_USER: get_user,
    plan.RENAME_USER: rename_user,
    plan.LIST_USERS: list_users,
    plan.GET_ORDER: get_order,
    plan.LIST_ORDERS: list_orders,
    plan.ORDER_SUMMARY: order_summary,
    plan.CREATE_ORDER: create_order,
}


def task_table(scenario: str) -> dict[Callable[[ScenarioUser], None], int]:
    """Locust's task table for a scenario, from its mix: a dict of weights, which Locust
    documents and accepts for ``tasks`` although its annotation says list (hence the
    ignores below)."""
    return {REQUESTS[endpoint]: weight for endpoint, weight in plan.SCENARIOS[scenario].mix.items()}


class SelectUpdate(ScenarioUser):
    """Only PATCH /users/{id} on random users: the articles' "1 SELECT + 1 UPDATE"."""

    tasks = task_table("select-update")  # type: ignore[assignment]  # Locust takes a weights dict


class GetUser(ScenarioUser):
    """Only GET /users/{id}: one SELECT by primary key (the first article's benchmark)."""

    tasks = task_table("get-user")  # type: ignore[assignment]  # Locust takes a weights dict


class Read(ScenarioUser):
    """A weighted mix of the GET endpoints."""

    tasks = task_table("read")  # type: ignore[assignment]  # Locust takes a weights dict


class Write(ScenarioUser):
    """POST /orders: the unit-of-work insert of an order and its items."""

    tasks = task_table("write")  # type: ignore[assignment]  # Locust takes a weights dict


class Mixed(ScenarioUser):
    """80% reads, 20% writes (half renames, half new orders)."""

    tasks = task_table("mixed")  # type: ignore[assignment]  # Locust takes a weights dict


class Health(ScenarioUser):
    """Only GET /health: the generator's own ceiling, against a trivial endpoint
    (loadtests/infra/trivial.py), through the same recording as every scenario."""

    tasks = [health]  # noqa: RUF012  # Locust's class attribute


# By class name, as loadtests/plan.py names them for the runner.
USER_CLASSES: dict[str, type[ScenarioUser]] = {
    cls.__name__: cls for cls in (SelectUpdate, GetUser, Read, Write, Mixed)
}
