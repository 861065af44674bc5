"""The ``nano`` command: its global options and error handling."""

import click

from ._addresses import address_pool
from ._client import ApiClient, CliError
from ._context import Context
from ._guests import guest, instance
from ._images import image
from ._pools import cell, pool
from ._settings import DEFAULT_CONFIG, SettingsError, resolve


class _Group(click.Group):
    """A group that prints client errors as one line, not a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (CliError, SettingsError) as error:
            raise click.ClickException(str(error)) from None
        except OSError as error:
            raise click.ClickException(
                f"{error.strerror or error}: {error.filename or ''}".rstrip(
                    ": "
                )
            ) from None


@click.group(
    cls=_Group, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.option(
    "--api",
    metavar="HOST:PORT",
    help="Core's REST API address [env NANO_API; default 127.0.0.1 and the "
    "port in api.cfg, else 5870].",
)
@click.option(
    "--api-id", help="API id [env NANO_API_ID; default from api.cfg]."
)
@click.option(
    "--api-key", help="API key [env NANO_API_KEY; default from api.cfg]."
)
@click.option(
    "--config",
    metavar="FILE",
    help=f"Core's api.cfg, read for what is not set otherwise "
    f"[env NANO_CONFIG; default {DEFAULT_CONFIG}].",
)
@click.option("--json", "as_json", is_flag=True, help="Print raw JSON data.")
@click.pass_context
def cli(ctx, api, api_id, api_key, config, as_json):
    """Manage a Nano cloud through Core's REST API."""

    def make_client():
        return ApiClient(resolve(api, api_id, api_key, config))

    ctx.obj = Context(make_client, json=as_json)


for _command in (image, pool, address_pool, cell, guest, instance):
    cli.add_command(_command)


def main():
    """Run the ``nano`` command (the console script's entry point)."""
    cli(prog_name="nano")
