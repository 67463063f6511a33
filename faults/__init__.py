"""The fault suite: a whole stack on private PostgreSQL and Redis, broken on purpose."""
