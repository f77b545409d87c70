"""Simulated TasteMatch clients, making the original dashboard's calls.

Each diner logs in once (as a seeded account drawn with Zipf-like skew), then
loads its dashboard, browses restaurants with filters and pages, and — for the
ordering diners — places orders, which invalidates its cached recommendations.
New diners register and go through onboarding; a few run the dashboard's demo
simulator (simulated orders, a refreshed chef's choice, then a reset).
"""

from __future__ import annotations

import os
import random
import uuid
from typing import Any

import gevent
from locust import FastHttpUser, between, constant, task

from scenarios.accounts import LOAD_TEST_PASSWORD, AccountPicker, user_email
from scenarios.protocol import ACCOUNTS_ENV, LOAD_SEED_ENV, REPLICA_URLS_ENV
from scenarios.recording import RECORDER

__all__ = [
    "DinerUser",
    "NewDinerUser",
    "OrderingDinerUser",
    "RecommendationsUser",
    "SimulatorUser",
    "TasteMatchUser",
]

CUISINES = ("Italian", "Japanese", "Mexican", "Indian", "Chinese", "Thai", "French", "Korean")
PAGE_SIZE = 20
#: The dashboard asks for 100 orders in the original client (the order history's cap).
DASHBOARD_ORDERS = 100
#: The demo simulator resets after this many simulated orders.
SIMULATED_ORDERS_PER_RUN = 5
#: Seconds between two simulated orders.
SIMULATOR_PAUSE_S = (2.0, 5.0)
LOGIN_ATTEMPTS = 3

#: Base URLs of every service replica (comma list); empty: every request goes to ``--host``.
_REPLICAS = [url for url in os.environ.get(REPLICA_URLS_ENV, "").split(",") if url]


def _replica() -> str:
    """Base URL for the next request: any replica, as behind a load balancer."""
    # No sticky sessions: a per-process cache then misses across replicas (R7).
    return random.choice(_REPLICAS) if _REPLICAS else ""


_ACCOUNTS = AccountPicker(
    accounts=int(os.environ.get(ACCOUNTS_ENV, "2000")),
    seed=int(os.environ.get(LOAD_SEED_ENV, "7")),
)


class TasteMatchUser(FastHttpUser):
    """Shared behaviour: login, bearer header, and response checks through ``catch_response``."""

    abstract = True
    wait_time = between(0.5, 2.0)
    # A request the service cannot answer within this time is a failure, not a hang.
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        self.account = _ACCOUNTS.pick()
        self.headers: dict[str, str] = {}
        self.restaurant_ids: list[int] = []
        self.log_in()

    def log_in(self) -> None:
        """Log in as ``self.account``, retrying a few times; each failure still counts.

        A diner left without a token (the service was down when it logged in) logs in
        again before its next request, as the app's login screen would make it do.
        """
        for attempt in range(LOGIN_ATTEMPTS):
            body = self.post_json(
                "/auth/login",
                {"email": user_email(self.account), "password": LOAD_TEST_PASSWORD},
                name="/auth/login",
            )
            token = body.get("token") if isinstance(body, dict) else None
            if isinstance(token, str):
                self.headers = {"Authorization": f"Bearer {token}"}
                return
            gevent.sleep(0.5 * (attempt + 1))

    def _signed_in(self) -> None:
        if not self.headers:
            self.log_in()

    def get_json(self, path: str, *, name: str) -> Any:
        """GET ``path``; the decoded body, or ``None`` after recording a failure."""
        self._signed_in()
        with self.client.get(
            _replica() + path, name=name, headers=self.headers, catch_response=True
        ) as response:
            return self._check(response)

    def post_json(self, path: str, payload: dict[str, Any], *, name: str) -> Any:
        """POST ``payload`` as JSON; the decoded body, or ``None`` after recording a failure."""
        if not path.startswith("/auth/"):
            self._signed_in()
        with self.client.post(
            _replica() + path, json=payload, name=name, headers=self.headers, catch_response=True
        ) as response:
            return self._check(response)

    def delete_json(self, path: str, *, name: str) -> Any:
        """DELETE ``path``; the decoded body, or ``None`` after recording a failure."""
        self._signed_in()
        with self.client.delete(
            _replica() + path, name=name, headers=self.headers, catch_response=True
        ) as response:
            return self._check(response)

    @staticmethod
    def _check(response: Any) -> Any:
        if not 200 <= (response.status_code or 0) < 300:
            response.failure(f"HTTP {response.status_code}: {(response.text or '')[:120]}")
            return None
        try:
            return response.json()
        except ValueError:
            response.failure("response body is not JSON")
            return None

    def remember_restaurants(self, body: Any, key: str) -> None:
        """Keep the restaurant ids of a list response (``body[key]``), to order from later."""
        items = body.get(key) if isinstance(body, dict) else None
        if not isinstance(items, list):
            return
        # A recommendation wraps its restaurant; a restaurant list holds them directly.
        restaurants = [item.get("restaurant", item) for item in items if isinstance(item, dict)]
        ids = [r["id"] for r in restaurants if isinstance(r, dict) and isinstance(r.get("id"), int)]
        self.restaurant_ids = (ids + self.restaurant_ids)[:50]

    def load_dashboard(self) -> None:
        """What the app fetches when a diner opens it."""
        self.get_json("/api/users/me", name="/api/users/me")
        self.remember_restaurants(
            self.get_json("/api/recommendations?limit=12", name="/api/recommendations"),
            "recommendations",
        )
        self.get_json("/api/recommendations/chef-choice", name="/api/recommendations/chef-choice")
        self.get_json(f"/api/orders?limit={DASHBOARD_ORDERS}", name="/api/orders")

    def place_order(self, *, simulated: bool = False) -> None:
        """One order at a restaurant seen earlier (browsing first if none was)."""
        if not self.restaurant_ids:
            self.browse_restaurants()
        if not self.restaurant_ids:
            return
        restaurant_id = random.choice(self.restaurant_ids)
        price = round(random.uniform(8, 40), 2)
        body = self.post_json(
            "/api/orders",
            {
                "restaurant_id": restaurant_id,
                "items": [{"name": "dish of the day", "quantity": 1, "price": price}],
                "total_amount": price,
                "is_simulation": simulated,
            },
            name="/api/orders",
        )
        order_id = body.get("id") if isinstance(body, dict) else None
        # The demo's reset deletes simulated orders: only real ones must outlive a fault.
        if isinstance(order_id, int) and not simulated:
            RECORDER.acknowledge(order_id)

    def browse_restaurants(self) -> None:
        """A filtered listing, then one more page of it."""
        cuisine = random.choice(CUISINES)
        min_rating = random.choice((0, 3, 4))
        query = f"cuisine_type={cuisine}&min_rating={min_rating}&limit={PAGE_SIZE}"
        for page in (1, random.randint(2, 5)):
            self.remember_restaurants(
                self.get_json(f"/api/restaurants?{query}&page={page}", name="/api/restaurants"),
                "restaurants",
            )


class DinerUser(TasteMatchUser):
    """Opens the app now and then and browses; does not order during the test."""

    weight = 8

    @task(3)
    def dashboard(self) -> None:
        self.load_dashboard()

    @task(5)
    def browse(self) -> None:
        self.browse_restaurants()


class OrderingDinerUser(TasteMatchUser):
    """Browses, orders, and looks at the dashboard (whose recommendations the order changed)."""

    weight = 2

    @task(3)
    def browse(self) -> None:
        self.browse_restaurants()

    @task(2)
    def dashboard(self) -> None:
        self.load_dashboard()

    @task(1)
    def order(self) -> None:
        self.place_order()


class RecommendationsUser(TasteMatchUser):
    """Asks for its recommendations over and over: the comparison load."""

    weight = 1

    @task
    def recommendations(self) -> None:
        self.get_json("/api/recommendations?limit=12", name="/api/recommendations")


class SaturatingUser(TasteMatchUser):
    """Asks for recommendations again the moment an answer arrives (a closed loop): a
    dozen of them keep the service busy, the load near its capacity. Page sizes vary as
    the dashboard's and the list's do; one request in 20 asks for a fresh computation."""

    weight = 1
    wait_time = constant(0)

    @task
    def recommendations(self) -> None:
        limit = random.choice((10, 12, 20))
        fresh = "&refresh=true" if random.random() < 0.05 else ""
        self.get_json(f"/api/recommendations?limit={limit}{fresh}", name="/api/recommendations")


class NewDinerUser(TasteMatchUser):
    """Registers, completes onboarding (a few cuisines), then uses the app; now and then
    another newcomer takes its place, so onboarding also happens after the warm-up."""

    weight = 1

    def on_start(self) -> None:
        self.headers = {}
        self.restaurant_ids = []
        self.join()

    def log_in(self) -> None:
        """A newcomer left without a token (its registration failed) signs up again."""
        self.join()

    def join(self) -> None:
        """Register a fresh account and onboard it, as the original sign-up flow does."""
        self.headers = {}
        label = uuid.uuid4().hex[:16]
        body = self.post_json(
            "/auth/register",
            {
                "email": f"new-{label}@load.test",
                "name": f"New {label}",
                "password": "load-" + label,
            },
            name="/auth/register",
        )
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str):
            return
        self.headers = {"Authorization": f"Bearer {token}"}
        choice: dict[str, Any] = {
            "selected_cuisines": random.sample(CUISINES, random.randint(1, 3)),
            "price_preference": random.choice((None, "low", "medium", "high")),
        }
        self.post_json("/api/onboarding/complete", choice, name="/api/onboarding/complete")
        self.load_dashboard()

    @task(1)
    def newcomer(self) -> None:
        self.join()

    @task(4)
    def dashboard(self) -> None:
        self.load_dashboard()

    @task(4)
    def browse(self) -> None:
        self.browse_restaurants()


class SimulatorUser(TasteMatchUser):
    """Runs the dashboard's demo simulator: simulated orders each followed by a refreshed
    chef's choice and a look-up of a restaurant of some cuisine, then a reset."""

    weight = 1

    @task
    def simulate(self) -> None:
        for _ in range(SIMULATED_ORDERS_PER_RUN):
            # The simulator paces itself like a diner; each refreshed chef's choice is a
            # deliberate cache miss, so an unpaced loop would swamp the hit rate.
            gevent.sleep(random.uniform(*SIMULATOR_PAUSE_S))
            self.place_order(simulated=True)
            self.get_json(
                "/api/recommendations/chef-choice?refresh=true",
                name="/api/recommendations/chef-choice?refresh=true",
            )
            self.get_json(
                f"/api/restaurants?cuisine_type={random.choice(CUISINES)}&limit=1",
                name="/api/restaurants?limit=1",
            )
        self.delete_json("/api/orders/simulation", name="/api/orders/simulation")
