"""Command line of lemur-agents: play one episode and watch it, inspect the sandbox."""

from __future__ import annotations

import difflib
from pathlib import Path

import typer
from lemur_core import EpisodeRecord, GenerationParams, TerminationReason, TurnRecord
from lemur_core.cli_app import lemur_typer
from lemur_core.cli_errors import ExitCode, UsageError
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from lemur_agents import __version__
from lemur_agents.actions import ALFWORLD_SCHEMA, WEBARENA_SCHEMA
from lemur_agents.loop import (
    ActionFormat,
    CodeBlockFormat,
    EpisodeSpec,
    MintFormat,
    RawTextFormat,
    SchemaFormat,
    run_episodes,
)

# lemur_typer: expected errors are one line with their class's exit code (docs/errors.md).
app = lemur_typer(help="lemur-agents: the Lemur agent runtime", version=__version__)
console = Console()

CODE_LANGUAGES = ("sql", "bash", "python")
FORMATS = (
    "auto, raw, mint, code:<language> (code:sql, code:bash, code:python), "
    "webarena-python, webarena-symbolic, alfworld-python, alfworld-symbolic"
)


def action_format(name: str, env_id: str) -> ActionFormat:
    """The action format called ``name`` (``auto`` picks one from the env id)."""
    if name == "auto":
        lowered = env_id.lower()
        for key, chosen in (
            ("sql", "code:sql"),
            ("bash", "code:bash"),
            ("ctf", "code:bash"),
            ("python", "code:python"),
            ("household", "alfworld-symbolic"),
            ("web", "webarena-python"),
        ):
            if key in lowered:
                return action_format(chosen, env_id)
        return RawTextFormat()
    if name == "raw":
        return RawTextFormat()
    if name == "mint":
        return MintFormat()
    if name.startswith("code:") and name[5:]:
        from lemur_agents.actions.fenced import normalize_language

        language = normalize_language(name[5:])
        if language not in CODE_LANGUAGES:
            raise typer.BadParameter(
                f"unknown code language {name[5:]!r}; the envs run: {', '.join(CODE_LANGUAGES)}",
                param_hint="--format",
            )
        return CodeBlockFormat((language,))
    schemas = {"webarena": WEBARENA_SCHEMA, "alfworld": ALFWORLD_SCHEMA}
    schema_name, _, representation = name.partition("-")
    if schema_name in schemas and representation in ("python", "symbolic"):
        return SchemaFormat(schemas[schema_name], model_representation=representation)  # type: ignore[arg-type]
    raise typer.BadParameter(
        f"unknown action format {name!r}; choose one of: {FORMATS}", param_hint="--format"
    )


def _show_turn(turn: TurnRecord) -> None:
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    # Model and env text is shown as Text, never as markup: `scroll [down]` must stay intact.
    table.add_row(
        "model", Text(turn.raw_output.strip()) if turn.raw_output.strip() else "[dim](empty)[/dim]"
    )
    for representation, text in turn.action_representations.items():
        table.add_row(f"action ({representation})", Text(text))
    if turn.parse_error:
        table.add_row("parse error", Text(turn.parse_error, style="red"))
    table.add_row("observation", Text(turn.observation.strip()))
    if turn.feedback:
        table.add_row("feedback", Text(turn.feedback))
    table.add_row("reward", f"{turn.reward:g}")
    dropped = turn.info.get("history_dropped_exchanges")
    if dropped:
        table.add_row("history", f"{dropped} oldest exchange(s) dropped to fit the context")
    console.print(Panel(table, title=f"turn {turn.index + 1}", title_align="left"))


@app.command()
def episode(
    env: str = typer.Option(..., "--env", help="gymnasium env id, e.g. lemur/SQL-v0"),
    task: str = typer.Option(..., "--task", help="task id passed to reset(options={'task_id'})"),
    model: str = typer.Option(
        ..., "--model", help="openai:URL#MODEL, hf:PATH (or hf:smollm2), scripted:FILE"
    ),
    max_turns: int = typer.Option(10, min=1, help="turn limit of the episode"),
    seed: int = typer.Option(0, help="seed passed to env.reset"),
    action_format_name: str = typer.Option("auto", "--format", help=f"one of: {FORMATS}"),
    system_prompt: str | None = typer.Option(None, help="system prompt text"),
    system_prompt_file: Path | None = typer.Option(None, exists=True, dir_okay=False),
    max_new_tokens: int = typer.Option(256, min=1),
    temperature: float = typer.Option(0.0, min=0.0),
    out: Path | None = typer.Option(None, help="append the EpisodeRecord as one JSON line here"),
) -> None:
    """Play one episode and show every turn: the model's reply, the action in each
    representation, the observation and the reward; then why the episode ended.

    Exits 4 when the episode ended in a model error and 3 when the env failed (docs/errors.md).
    """
    import gymnasium

    from lemur_agents.envs import ENV_ENTRY_POINTS
    from lemur_agents.models import load_model
    from lemur_agents.models.spec_check import check_model_spec

    if env not in ENV_ENTRY_POINTS and env not in gymnasium.registry:
        close = difflib.get_close_matches(env, list(ENV_ENTRY_POINTS), n=1)
        raise UsageError(
            f"unknown env {env!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
            "--env",
            "lemur-agents envs lists them",
        )
    fmt = action_format(action_format_name, env)
    typed_spec = check_model_spec(model, "--model")
    prompt = system_prompt_file.read_text(encoding="utf-8") if system_prompt_file else system_prompt
    if out is not None:  # an unwritable --out fails now, not after the episode was played
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "a", encoding="utf-8"):
            pass
    try:
        chat_model = load_model(typed_spec)
    except UnicodeDecodeError:
        raise  # reported as a non-UTF-8 input file, named
    except ValueError as exc:  # a spec that parses but cannot be built (hf path, script)
        raise UsageError(f"--model: {' '.join(str(exc).split())}") from exc
    spec = EpisodeSpec(
        episode_id=f"{env}:{task}:{seed}",
        env=env,
        task_id=task,
        seed=seed,
        max_turns=max_turns,
        system_prompt=prompt,
        action_format=fmt,
    )

    def persist(record: EpisodeRecord) -> None:
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            with open(out, "a", encoding="utf-8") as handle:
                handle.write(record.model_dump_json() + "\n")

    console.print(
        f"[bold]{escape(env)}[/bold] task [bold]{escape(task)}[/bold] "
        f"with [bold]{escape(chat_model.name)}[/bold] "
        f"(format {getattr(fmt, 'name', action_format_name)})"
    )
    record = run_episodes(
        chat_model,
        [spec],
        GenerationParams(max_new_tokens=max_new_tokens, temperature=temperature),
        on_episode_end=persist,
    )[0]
    if record.turns:
        console.print(
            Panel(Text(record.turns[0].prompt[-1].content), title="task", title_align="left")
        )
    for turn in record.turns:
        _show_turn(turn)
    style = "green" if record.success else "yellow"
    error = record.info.get("error")
    console.print(
        f"[{style}]{record.termination.value}[/{style}] after {len(record.turns)} turn(s), "
        f"score {record.score:g}"
        + (f" — {escape(str(error))}" if error else "")
        + (f"; sandbox: {escape(record.sandbox_isolation)}" if record.sandbox_isolation else ""),
        markup=True,
        highlight=False,
    )
    if record.termination is TerminationReason.MODEL_ERROR:
        typer.echo(f"error: the model failed: {error}; check the server and --model", err=True)
        raise typer.Exit(ExitCode.MODEL)
    if record.termination is TerminationReason.ENV_ERROR:
        typer.echo(f"error: the env failed: {error}; check --env and --task", err=True)
        raise typer.Exit(ExitCode.INPUT)


@app.command()
def isolation() -> None:
    """Print the sandbox isolation this machine allows (recorded in every run)."""
    from lemur_agents.sandbox import Sandbox

    console.print(Sandbox().isolation_level)


@app.command()
def envs() -> None:
    """List the registered lemur/* environments."""
    from lemur_agents.envs import ENV_ENTRY_POINTS

    for env_id, entry in ENV_ENTRY_POINTS.items():
        console.print(f"{escape(env_id)}  [dim]{escape(entry)}[/dim]")


@app.command()
def version() -> None:
    """Print the package version."""
    typer.echo(__version__)
