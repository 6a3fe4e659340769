"""Local infrastructure the suite starts and stops: PostgreSQL, PgBouncer, services."""
