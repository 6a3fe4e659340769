"""FastAPI + async SQLAlchemy 2.x + asyncpg, served by uvicorn (uvloop, httptools)."""
