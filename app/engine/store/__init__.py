"""The SQLite database: jobs, profiles, ratings; schema and migrations."""
