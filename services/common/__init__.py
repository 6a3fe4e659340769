"""What both services share: the schema, the I/O models, settings, errors and seed data."""
