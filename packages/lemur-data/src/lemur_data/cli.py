"""Command line of lemur-data: ``lemur-data corpus ...`` and ``lemur-data instruct ...``."""

import typer
from lemur_core.cli_app import lemur_typer

from lemur_data import __version__
from lemur_data.corpus.cli import app as corpus_app
from lemur_data.instruct.cli import app as instruct_app

# lemur_typer: expected errors from every subcommand are one line with their class's exit code.
app = lemur_typer(
    help="lemur-data: the pre-training corpus and the instruction set", version=__version__
)
app.add_typer(corpus_app, name="corpus")
app.add_typer(instruct_app, name="instruct")


@app.command()
def version() -> None:
    """Print the package version."""
    typer.echo(__version__)
