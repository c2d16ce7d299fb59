"""Raw asyncpg SQL, by aggregate."""
