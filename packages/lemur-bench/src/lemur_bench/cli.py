"""Command line of lemur-bench: ``list``, ``fixtures``, ``run``, ``show-config``, ``check``,
``report``, ``view``, ``estimate``, ``import mint``, ``rescore``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from lemur_core.cli_app import SetOption, lemur_typer
from lemur_core.cli_errors import InputError
from rich.console import Console
from rich.table import Table

from lemur_bench import __version__

if TYPE_CHECKING:
    from lemur_bench.runner import RunConfig

# lemur_typer: expected errors are one line with their class's exit code (docs/errors.md).
app = lemur_typer(help="lemur-bench: the paper's benchmark suite", version=__version__)
console = Console()
if not console.is_terminal:  # piped or captured: rich's 80-column default would wrap every cell
    console = Console(width=200)


@app.command()
def version() -> None:
    """Print the package version."""
    typer.echo(__version__)


@app.command("list")
def list_tasks(suite: Annotated[str, typer.Option(help="suite to show")] = "all") -> None:
    """Show the tasks of a suite with their paper settings."""
    from lemur_bench.registry import SUITE_TABLE, Suite, suite_tasks

    table = Table(title=f"lemur-bench suite '{suite}'")
    # The task name is what users copy into --suite: never wrapped or cut.
    table.add_column("task", no_wrap=True, min_width=max(len(t.name) for t in suite_tasks(suite)))
    for col in ("suites", "paper setting", "turns", "shots", "env", "scorer", "data"):
        table.add_column(col)
    for t in suite_tasks(suite):
        src = t.source.hf_name or t.source.local_path or ""
        table.add_row(
            t.name,
            ", ".join(f"{s.value} ({SUITE_TABLE[s]})" for s in t.suites if s is not Suite.ALL),
            t.paper_setting,
            str(t.max_turns),
            str(t.shots),
            t.env,
            t.scorer_name,
            src,
        )
    console.print(table)


@app.command()
def fixtures(out: Annotated[Path, typer.Argument(help="directory to write")]) -> None:
    """Write offline fixture tasks and a scripted agent (scripted_agent.json) for them."""
    from lemur_bench.fixtures import SCRIPT_NAME, write_fixtures

    path = write_fixtures(out)
    console.print(f"fixtures in {path}; model spec: scripted:{path / SCRIPT_NAME}")


# The options that decide a run's identity (RunConfig), shared by `run` and `show-config`.
SuiteOption = Annotated[
    str,
    typer.Option(help="text, code, tools, self-debug, nl-feedback, explore, all, or task names"),
]
ModelOption = Annotated[str, typer.Option(help="openai:URL#MODEL, hf:PATH or scripted:FILE")]
TasksDirOption = Annotated[
    Path | None,
    typer.Option(exists=True, file_okay=False, help="local data/fixtures directory"),
]
LimitOption = Annotated[int | None, typer.Option(min=1, help="first N tasks of each benchmark")]
MaxNewTokensOption = Annotated[int, typer.Option(min=1, help="reply length limit")]
ScoringModeOption = Annotated[
    str,
    typer.Option(help="mint: MINT's own parser and checks (the paper's numbers); corrected: fixed"),
]


@app.command()
def run(
    suite: SuiteOption,
    model: ModelOption,
    out: Annotated[Path, typer.Option(help="run directory (resumes when it exists)")],
    tasks_dir: TasksDirOption = None,
    limit_per_task: LimitOption = None,
    concurrency: Annotated[int, typer.Option(min=1, help="live episodes per model round")] = 16,
    max_new_tokens: MaxNewTokensOption = 512,
    scoring_mode: ScoringModeOption = "mint",
    exact_mint: Annotated[
        bool,
        typer.Option(
            "--separate-turn-budgets",
            "--exact-mint",  # the old name, kept working: it reads like a --scoring-mode value
            help="run each MINT turn budget k=1..5 as its own run, as MINT does",
        ),
    ] = False,
    feedback_model: Annotated[
        str | None, typer.Option(help="simulated user (default: the model)")
    ] = None,
    action_representation: Annotated[
        str, typer.Option(help="web actions: python or symbolic")
    ] = "python",
    label: Annotated[
        str | None, typer.Option(help="row name in reports (default: the model spec)")
    ] = None,
    site_url: Annotated[
        list[str] | None,
        typer.Option(
            help="WebArena site: PLACEHOLDER=URL (repeat), e.g. __SHOPPING__=http://h:7770"
        ),
    ] = None,
    auth_dir: Annotated[
        Path | None,
        typer.Option(exists=True, file_okay=False, help="WebArena .auth directory (login states)"),
    ] = None,
    judge_model: Annotated[
        str | None,
        typer.Option(help="LLM judge for WebArena's fuzzy_match/ua_match checks (model spec)"),
    ] = None,
    max_model_errors: Annotated[
        int,
        typer.Option(
            min=0, help="stop after this many episodes in a row end in model_error (0: never)"
        ),
    ] = 8,
    force: Annotated[
        bool, typer.Option(help="discard what OUT holds of an earlier run and start over")
    ] = False,
    preflight: Annotated[
        bool,
        typer.Option(help="check the model server with one tiny request before the first episode"),
    ] = True,
    verify: Annotated[
        bool, typer.Option(help="re-hash every file of a finished run before reusing it")
    ] = False,
    overrides: SetOption = None,
) -> None:
    """Run a suite and write the eval_run artifact (episodes.jsonl, summary.json, manifest).

    Exits 4 while any planned episode is missing or ended in model_error (the server failed
    after its retries); running the same command again plays only those episodes.
    """
    from lemur_agents.models.spec_check import check_model_spec

    from lemur_bench.registry import suite_tasks
    from lemur_bench.runner import RunIncompleteError, run_suite

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    if scoring_mode not in ("mint", "corrected"):
        raise typer.BadParameter("--scoring-mode must be 'mint' or 'corrected'")
    if action_representation not in ("python", "symbolic"):
        raise typer.BadParameter("--action-representation must be 'python' or 'symbolic'")
    sites: dict[str, str] = {}
    for entry in site_url or []:
        placeholder, sep, url = entry.partition("=")
        if (
            not sep
            or not placeholder.startswith("__")
            or not url.startswith(("http://", "https://"))
        ):
            raise typer.BadParameter(
                f"--site-url {entry!r}: expected PLACEHOLDER=URL, e.g. __SHOPPING__=http://host:7770"
            )
        sites[placeholder] = url
    # Everything the command line names is checked before any directory is touched.
    cfg = _run_config(
        overrides,
        suite=suite,
        model=model,
        tasks_dir=str(tasks_dir) if tasks_dir else None,
        limit_per_task=limit_per_task,
        max_new_tokens=max_new_tokens,
        scoring_mode=scoring_mode,
        exact_mint=exact_mint,
        feedback_model=feedback_model,
        action_representation=action_representation,
        site_urls=sites,
        auth_dir=str(auth_dir) if auth_dir else None,
        judge_model=judge_model,
    )
    suite_tasks(cfg.suite)
    specs = [check_model_spec(model, "--model")]
    if feedback_model is not None:
        specs.append(check_model_spec(feedback_model, "--feedback-model"))
    if preflight:  # a dead server or a wrong #MODEL: one line now, not after the whole suite
        from lemur_bench.preflight import preflight as check_endpoint

        for typed in specs:
            check_endpoint(typed)
    if judge_model is not None:
        check_model_spec(judge_model, "--judge-model")
    incomplete: RunIncompleteError | None = None
    try:
        summary = run_suite(
            cfg.suite,
            model,
            out,
            tasks_dir=Path(cfg.tasks_dir) if cfg.tasks_dir else None,
            limit_per_task=cfg.limit_per_task,
            concurrency=concurrency,
            max_new_tokens=cfg.max_new_tokens,
            scoring_mode=cfg.scoring_mode,
            exact_mint=cfg.exact_mint,
            feedback_model=feedback_model,
            action_representation=cfg.action_representation,
            label=label,
            site_urls=dict(cfg.site_urls),
            auth_dir=Path(cfg.auth_dir) if cfg.auth_dir else None,
            judge_model=judge_model,
            max_consecutive_model_errors=max_model_errors or None,
            force=force,
            verify=verify,
        )
    except RunIncompleteError as exc:  # the partial table first, then the one-line error
        incomplete, summary = exc, exc.summary
    table = Table(title=f"{label or model} on {suite}")
    for col in ("task", "n", "success %", "95% CI"):
        table.add_column(col)
    for name, t in summary["tasks"].items():
        lo, hi = t["ci95"]
        ci = "–" if lo is None else f"[{100 * lo:.0f}, {100 * hi:.0f}]"
        rate = "–" if t["rate"] is None else f"{100 * t['rate']:.1f}"
        table.add_row(name, str(t["n"]), rate, ci)
    console.print(table)
    for name, why in summary["skipped_tasks"].items():
        console.print(f"[yellow]skipped[/] {name}: {why}")
    if incomplete is not None:
        raise incomplete


# Models are named by their options (--model, --feedback-model, --judge-model): the config keeps
# only their identity, so a --set there could not say how to reach the model.
_MODEL_FIELDS = ("model", "feedback_model", "judge_model")


def _run_config(overrides: list[str] | None, **fields: object) -> RunConfig:
    """The run's identity from the command line's options, then its ``--set`` overrides
    (lemur_core.config's dialect); a bad one is a one-line ConfigError (exit 2)."""
    from lemur_core.config import ConfigError

    from lemur_bench.runner import RunConfig

    for item in overrides or ():
        key = item.partition("=")[0].strip()
        if key.split(".")[0] in _MODEL_FIELDS:
            flag = "--" + key.split(".")[0].replace("_", "-")
            raise ConfigError(f"--set {key}: name the model with {flag} SPEC instead")
    cfg = RunConfig.model_validate(fields).with_overrides(overrides or ())
    for name in ("tasks_dir", "auth_dir"):
        value = getattr(cfg, name)
        if value is not None and not Path(value).is_dir():
            raise InputError(
                f"{name} {value} is not a directory", "--set", "give an existing directory"
            )
    return cfg


@app.command("show-config")
def show_config(
    suite: SuiteOption,
    model: ModelOption,
    tasks_dir: TasksDirOption = None,
    limit_per_task: LimitOption = None,
    max_new_tokens: MaxNewTokensOption = 512,
    scoring_mode: ScoringModeOption = "mint",
    overrides: SetOption = None,
) -> None:
    """Print the run config (the run's identity) these options resolve to, as YAML.

    It is what `run` pins in OUT/run_config.json: two runs with the same config into one
    directory are the same run. Transport (concurrency, timeouts, the server's address) is not
    part of it.
    """
    from lemur_bench.registry import suite_tasks

    cfg = _run_config(
        overrides,
        suite=suite,
        model=model,
        tasks_dir=str(tasks_dir) if tasks_dir else None,
        limit_per_task=limit_per_task,
        max_new_tokens=max_new_tokens,
        scoring_mode=scoring_mode,
    )
    suite_tasks(cfg.suite)
    typer.echo(cfg.to_yaml(), nl=False)


@app.command()
def check(
    model: Annotated[str, typer.Option(help="openai:URL#MODEL (hf: and scripted: need no check)")],
) -> None:
    """Check a model endpoint with one tiny request: reachable, serving #MODEL, answering."""
    from lemur_agents.models.spec_check import check_model_spec

    from lemur_bench.preflight import preflight

    found = preflight(check_model_spec(model, "--model"))
    if found is None:
        typer.echo(f"{model}: no server to check (only openai: specs have one)")
        return
    typer.echo(
        f"ok: {found.url} serves '{found.model}' (one-token reply {found.reply!r} "
        f"in {found.seconds:.2f} s)"
    )


@app.command()
def report(
    run_dirs: Annotated[list[Path], typer.Argument(help="one run directory per model")],
    out: Annotated[Path, typer.Option(help="report directory")] = Path("report"),
) -> None:
    """Write paper-style tables (Markdown + HTML) and plots for the runs."""
    from lemur_bench.report import write_report

    for path in write_report(run_dirs, out):
        console.print(str(path))


@app.command()
def view(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    out: Annotated[
        Path | None, typer.Option(help="HTML file (default RUN_DIR/viewer.html)")
    ] = None,
) -> None:
    """Write the single-file HTML trajectory viewer of a run (an unfinished one too)."""
    from lemur_bench.report import write_viewer
    from lemur_bench.run_dir import staging_dir
    from lemur_bench.runner import read_episodes

    default_out = run_dir / "viewer.html"
    staged = staging_dir(run_dir)
    if not (run_dir / "episodes.jsonl").is_file() and (staged / "episodes.jsonl").is_file():
        # An unfinished run keeps its episodes in scratch until it is published; its viewer goes
        # beside RUN_DIR, since a file inside it would make the next run refuse the directory.
        run_dir, default_out = staged, run_dir.with_name(f"{run_dir.name}.viewer.html")
    if not (run_dir / "episodes.jsonl").is_file():
        raise InputError(
            "not a run directory (no episodes.jsonl)",
            run_dir,
            "give the --out directory of a lemur-bench run",
        )
    records = read_episodes(run_dir / "episodes.jsonl")
    if not records:
        raise InputError("the run has no episodes yet", run_dir / "episodes.jsonl", "run it first")
    config_path = run_dir / "run_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.exists() else {}
    gold = _gold_answers({r.benchmark for r in records}, config.get("tasks_dir"))
    path = write_viewer(
        records,
        out or default_out,
        gold=gold,
        max_new_tokens=config.get("max_new_tokens"),
    )
    console.print(str(path))


def _gold_answers(benchmarks: set[str], tasks_dir: str | None) -> dict[tuple[str, str], str]:
    """Gold answers by (benchmark, task_id), read from the run's local data files (a run on
    Hugging Face datasets shows none: the viewer never goes to the network)."""
    from lemur_bench.loaders import load_tasks
    from lemur_bench.registry import get_task

    gold: dict[tuple[str, str], str] = {}
    if not tasks_dir:
        return gold
    for name in sorted(benchmarks):
        try:
            tasks, _ = load_tasks(get_task(name), Path(tasks_dir))
        except Exception:  # a moved or unreadable data file: the viewer still works without it
            continue
        for task in tasks:
            ref = task.reference
            if ref is not None:
                text = (
                    ref
                    if isinstance(ref, str)
                    else json.dumps(ref, ensure_ascii=False, default=str)
                )
                gold[(name, str(task.task_id))] = text
    return gold


@app.command()
def estimate(
    suite: Annotated[str, typer.Option(help="suites or task names, comma-separated")] = "all",
    tasks_dir: Annotated[
        Path | None,
        typer.Option(exists=True, file_okay=False, help="local data/fixtures directory"),
    ] = None,
    limit_per_task: Annotated[
        int | None, typer.Option(min=1, help="first N tasks of each benchmark")
    ] = None,
) -> None:
    """Print the episodes and model requests a suite costs (JSON)."""
    from lemur_bench.estimate import estimate_eval
    from lemur_bench.registry import suite_tasks

    suite_tasks(suite)

    typer.echo(
        json.dumps(
            estimate_eval(suite, tasks_dir=tasks_dir, limit_per_task=limit_per_task), indent=2
        )
    )


import_app = typer.Typer(help="Import another harness's recorded runs as an eval run.")
app.add_typer(import_app, name="import")


@import_app.command("mint")
def import_mint_results(
    results: Annotated[
        list[Path], typer.Argument(help="MINT results.jsonl files (one model; any tasks)")
    ],
    out: Annotated[Path, typer.Option(help="run directory to write")],
    model: Annotated[
        str | None, typer.Option(help="model name (default: read from MINT's output path)")
    ] = None,
    task: Annotated[
        str | None, typer.Option(help="MINT task, when the path does not say (gsm8k, mbpp, ...)")
    ] = None,
    fenced_code: Annotated[
        bool,
        typer.Option(
            "--fenced-code",
            help="the run's harness ran Markdown ```python blocks as code (MINT's Eurus and "
            "OpenCodeInterpreter runs): parse the replies that way",
        ),
    ] = False,
) -> None:
    """Turn MINT's recorded results into episode records (MINT's verdicts kept)."""
    from lemur_bench.importers import import_mint

    summary = import_mint(results, out, model=model, task=task, fenced_code=fenced_code)
    _print_mint_rates(summary, f"imported into {out}")


@app.command()
def rescore(
    run_dir: Annotated[Path, typer.Argument(help="a run directory of imported MINT records")],
    mode: Annotated[str, typer.Option(help="scoring mode: mint or corrected")] = "mint",
    workers: Annotated[int, typer.Option(min=1, help="parallel code checks")] = 4,
) -> None:
    """Re-judge the recorded replies of a run in a scoring mode (no model calls)."""
    from lemur_bench.rescore import rescore_dir

    if mode not in ("mint", "corrected"):
        raise typer.BadParameter("--mode must be 'mint' or 'corrected'")
    try:
        summary = rescore_dir(run_dir, mode, workers=workers)  # type: ignore[arg-type]
    except KeyError as exc:  # a recorded task this version does not know
        raise InputError(str(exc.args[0]) if exc.args else str(exc), run_dir) from None
    _print_mint_rates(summary, f"{run_dir} rescored in {mode} mode")


def _print_mint_rates(summary: dict[str, object], title: str) -> None:
    table = Table(title=title)
    for col in ("task", "n", "SR %", "MINT recorded SR %"):
        table.add_column(col)
    tasks: dict[str, dict[str, object]] = summary["tasks"]  # type: ignore[assignment]
    recorded: dict[str, float] = summary.get("mint_recorded") or {}  # type: ignore[assignment]
    for name, t in tasks.items():
        rate = t.get("rate")
        mint = recorded.get(name)
        table.add_row(
            name,
            str(t.get("n")),
            "–" if rate is None else f"{100 * float(rate):.1f}",  # type: ignore[arg-type]
            "–" if mint is None else f"{100 * mint:.1f}",
        )
    console.print(table)


if __name__ == "__main__":
    app()
