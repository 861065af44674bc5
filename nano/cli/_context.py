"""The state every ``nano`` command gets: API client and output mode."""

import attrs
import click

from ._client import ApiClient
from ._output import print_fields, print_json, print_table


@attrs.define
class Context:
    """
    The state of one ``nano`` invocation.

    :ivar client: returns the :class:`ApiClient`, built on first use so
        that ``--help`` needs no credentials.
    :ivar json: print the API's data as JSON instead of tables.
    """

    make_client: object
    json: bool = False
    _client: ApiClient | None = None

    @property
    def client(self) -> ApiClient:
        """The API client, built from the settings on first use."""
        if self._client is None:
            self._client = self.make_client()
        return self._client

    def show_list(self, rows, columns, empty):
        """Print a list as JSON or as a table."""
        if self.json:
            print_json(rows)
        else:
            print_table(rows, columns, empty)

    def show_object(self, data):
        """Print one object as JSON or as fields."""
        if self.json:
            print_json(data)
        else:
            print_fields(data)

    def done(self, message: str, data=None):
        """Report a change: ``message``, or ``data`` as JSON."""
        if self.json:
            print_json(data if data is not None else "")
        else:
            click.echo(message)


pass_context = click.make_pass_decorator(Context)
