"""Database helpers every app may use (they know nothing of any app's models)."""

import functools

from django.db import DEFAULT_DB_ALIAS, connections


class PreparedQuery:
    """A queryset compiled to SQL once per database vendor, then run with other values in place of its
    placeholders' sentinel values. Rows come back raw: JSON columns as text, dates as the driver gives them.

    On PostgreSQL the query is a prepared statement of the connection: planning it anew each time (Django's cursors
    bind parameters on the client, and so cannot prepare) cost PostgreSQL three times the work of running it. With
    binary=True its rows come in binary (bytea as it is, numbers unparsed): only for columns whose binary form loads
    as the text one does (not JSON). Preparing needs the connection's prepare_threshold set (settings.py does).
    """

    def __init__(self, build, *, binary: bool = False, **sentinels) -> None:
        self.build = build
        self.binary = binary
        self.sentinels = sentinels
        self.compiled: dict[str, tuple[str, list, dict[str, int]]] = {}

    def rows(self, **values) -> list[tuple]:
        database = connections[DEFAULT_DB_ALIAS]  # one look-up of the thread's connection, not one per use
        vendor = database.vendor
        if vendor not in self.compiled:
            sql, params = self.build(**self.sentinels).query.sql_with_params()
            params = list(params)
            positions = {name: params.index(sentinel) for name, sentinel in self.sentinels.items()}
            self.compiled[vendor] = (sql, params, positions)
        sql, params, positions = self.compiled[vendor]
        params = list(params)
        for name, value in values.items():
            params[positions[name]] = value
        with self._cursor(database) as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def _cursor(self, database):
        if database.vendor != "postgresql" or database.queries_logged:
            # Logged queries (DEBUG, assertNumQueries) go the usual way, so that the log shows their SQL.
            return database.cursor()
        # Django's own wrapping, so that its error classes and execute wrappers apply.
        database.ensure_connection()
        database.validate_thread_sharing()
        return database.make_cursor(_prepared_cursor_class(self.binary)(database.connection))


@functools.cache
def _prepared_cursor_class(binary: bool) -> type:
    """A psycopg cursor that binds parameters on the server and prepares its statements (once per connection)."""
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparedCursor(ServerBindingCursor):
        def execute(self, query, params=None, **kwargs):
            return super().execute(query, params, prepare=True, binary=binary)

    return PreparedCursor
