"""Storage: SQLAlchemy models, engines and sessions (db), Alembic migrations, the community directory
(directory) and the queries the rest of the bot makes (repos). SQLite by default, PostgreSQL by URL."""
