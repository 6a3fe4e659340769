"""One database URL, two drivers.

Users give a plain ``postgresql://`` URL (``DATABASE_URL``); each service picks its own
driver here so the URL format is decided in one place.
"""

from sqlalchemy.engine import URL, make_url

SYNC_DRIVER = "postgresql+psycopg2"
ASYNC_DRIVER = "postgresql+asyncpg"


def _with_driver(url: str | URL, driver: str) -> str:
    return make_url(url).set(drivername=driver).render_as_string(hide_password=False)


def sync_url(url: str | URL) -> str:
    return _with_driver(url, SYNC_DRIVER)


def async_url(url: str | URL) -> str:
    return _with_driver(url, ASYNC_DRIVER)


def plain_url(url: str | URL) -> str:
    """The driver-neutral form, as libpq, psql and PgBouncer understand it."""
    return _with_driver(url, "postgresql")


def redacted(url: str | URL) -> str:
    """For printing and reports: never show a password."""
    return make_url(url).render_as_string(hide_password=True)


def with_database(url: str | URL, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)
