"""Flask + sync SQLAlchemy 2.x + psycopg2, served by gunicorn (gthread workers)."""
