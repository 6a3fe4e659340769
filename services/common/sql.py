"""Hand-written SQL, as a raw-driver service would send it: parameterised constants only.

The raw asyncpg data access (``DATA_ACCESS=raw`` and the reads of ``hybrid``), the
database ceiling (pgbench) and the claims' micro-benchmarks all use these statements, so
each is written once. Parameters are asyncpg's ``$n`` placeholders; nothing here is
ever built from request input.

Column lists match the pydantic output models in ``schemas.py``: rows become the same
models, and the same bytes, as the ORM's objects do.
"""

from __future__ import annotations

USER_COLUMNS = "id, name, email, active, created_at"

USER_BY_ID = f"SELECT {USER_COLUMNS} FROM users WHERE id = $1"

# The ORM's PATCH is SELECT + UPDATE; one UPDATE ... RETURNING is what raw code does.
RENAME_USER = f"UPDATE users SET name = $2 WHERE id = $1 RETURNING {USER_COLUMNS}"

# The ORM's own UPDATE of PATCH /users/{id}, for the database ceiling (pgbench).
UPDATE_USER_NAME = "UPDATE users SET name = $2 WHERE id = $1"

USERS_PAGE = f"SELECT {USER_COLUMNS} FROM users WHERE id > $1 ORDER BY id LIMIT $2"
USERS_PAGE_BY_ACTIVE = (
    f"SELECT {USER_COLUMNS} FROM users WHERE id > $1 AND active = $3 ORDER BY id LIMIT $2"
)

_ORDER_COLUMNS = (
    "o.id, o.status::text AS status, o.total_cents, o.created_at, o.updated_at,"
    " c.id AS customer_id, c.name AS customer_name, c.email AS customer_email"
)

ORDER_WITH_CUSTOMER = (
    f"SELECT {_ORDER_COLUMNS} FROM orders o JOIN customers c ON c.id = o.customer_id"
    " WHERE o.id = $1"
)

ORDERS_PAGE = (
    f"SELECT {_ORDER_COLUMNS} FROM orders o JOIN customers c ON c.id = o.customer_id"
    " ORDER BY o.id DESC LIMIT $1"
)
ORDERS_PAGE_BY_STATUS = (
    f"SELECT {_ORDER_COLUMNS} FROM orders o JOIN customers c ON c.id = o.customer_id"
    " WHERE o.status = $2::order_status ORDER BY o.id DESC LIMIT $1"
)

# Items with their products (GET /orders/{id}) and bare item lines (GET /orders).
ORDER_ITEMS_WITH_PRODUCTS = (
    "SELECT i.id, i.order_id, i.quantity, i.unit_price_cents,"
    " p.id AS product_id, p.name AS product_name, p.price_cents"
    " FROM order_items i JOIN products p ON p.id = i.product_id"
    " WHERE i.order_id = ANY($1::int[]) ORDER BY i.order_id, i.id"
)
ORDER_LINES = (
    "SELECT id, order_id, product_id, quantity, unit_price_cents FROM order_items"
    " WHERE order_id = ANY($1::int[]) ORDER BY order_id, id"
)

ORDER_SUMMARY = (
    "SELECT o.id, o.status::text AS status, o.total_cents,"
    " c.name AS customer_name, c.email AS customer_email,"
    " count(i.id) AS item_count,"
    " coalesce(sum(i.quantity * i.unit_price_cents), 0) AS items_total_cents"
    " FROM orders o JOIN customers c ON c.id = o.customer_id"
    " LEFT OUTER JOIN order_items i ON i.order_id = o.id"
    " WHERE o.id = $1 GROUP BY o.id, c.id"
)

CUSTOMER_BY_ID = "SELECT id, name, email FROM customers WHERE id = $1"
PRODUCTS_BY_IDS = "SELECT id, name, price_cents FROM products WHERE id = ANY($1::int[])"

INSERT_ORDER = (
    "INSERT INTO orders (customer_id, status, total_cents) VALUES ($1, 'pending', $2)"
    " RETURNING id, status::text AS status, total_cents, created_at, updated_at"
)
# All items in one statement, in the order given (ids are assigned in that order).
INSERT_ORDER_ITEMS = (
    "INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)"
    " SELECT $1, product_id, quantity, unit_price_cents"
    " FROM unnest($2::int[], $3::int[], $4::int[]) AS t(product_id, quantity, unit_price_cents)"
    " RETURNING id, product_id, quantity, unit_price_cents"
)
