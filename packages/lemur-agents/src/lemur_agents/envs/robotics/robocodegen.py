"""RoboCodeGen's original problems, read from the Code-as-Policies notebook the user downloads.

Code as Policies (Liang et al. 2022) published its robotics code-generation benchmark as a
Colab notebook (google-research, ``code_as_policies/Experiment_ Robot Code-Gen
Benchmark.ipynb``, Apache-2.0), not as a data file: the 37 problems are Python dicts in one code
cell (``all_problems = problems_np + problems_ctrl + problems_shapely + problems_api``), each
with ``f_name``, ``f_sig``, a reference ``f_sol``, ``test_input_args`` drawn with
``np.random`` when the cell runs, and ``test_equiv`` (``np.allclose``, ``operator.eq`` or an
area test for shapes). The prompt is the few-shot ``prompt_f_gen`` followed by
``# define function: {f_sig}.``; generated code runs through ``exec_safe``, which refuses code
containing ``import`` or ``__`` and sees the names of ``prompt_f_gen_exec`` (numpy, shapely's
geometry and affinity, a few helpers) plus ``get_obj_outer_pts_np``.

:func:`load_notebook` reads those cells statically (the notebook is data: nothing of it runs
on the host) into :class:`RoboCodeGenProblem` records; :func:`check_solution` runs the problems
cell, the reference and the candidate in the sandbox and applies the notebook's own
``eval_test`` rule. Inputs are drawn when the problems cell runs, so ``input_mode="seeded"``
(the default) seeds numpy's global generator first and a run is reproducible, while
``"official"`` leaves it unseeded as upstream did. Nothing of the notebook is shipped with
Lemur; the upstream problems need ``shapely`` in the sandbox's Python.
"""

from __future__ import annotations

import ast
import json
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lemur_agents.sandbox import Sandbox, SandboxLimits

InputMode = Literal["seeded", "official"]
BANNED_PHRASES = ("import", "__")  # exec_safe's rule
NOTEBOOK_NAME = "Experiment_ Robot Code-Gen Benchmark.ipynb"
UPSTREAM_PROBLEM_COUNT = 37


class RoboCodeGenNotebookError(ValueError):
    """The file is not a RoboCodeGen notebook (or not the structure this loader reads)."""


class RoboCodeGenProblem(BaseModel):
    """One RoboCodeGen problem as the notebook states it (sources are the notebook's text)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    f_name: str
    f_sig: str = Field(description="e.g. 'idx = get_top_most_idx(points_np)'")
    group: str = Field(description="the list it comes from: problems_np, problems_ctrl, ...")
    prompt: str = Field(description="prompt_f_gen + '\\n# define function: {f_sig}.'")
    reference: str = Field(description="source defining f_name as the notebook's f_sol")
    test_inputs: str = Field(description="source of the test_input_args expression")
    test_equiv: str = Field(description="source of the test_equiv expression")


class RoboCodeGenSuite(BaseModel):
    """The problems of a notebook plus the two cells a check needs to run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(description="the notebook path it was read from")
    problems: tuple[RoboCodeGenProblem, ...]
    problems_cell: str = Field(description="the cell defining all_problems")
    context_source: str = Field(description="prompt_f_gen_exec: the names generated code sees")


def _cell_sources(path: Path) -> list[str]:
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RoboCodeGenNotebookError(f"cannot read RoboCodeGen notebook {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise RoboCodeGenNotebookError(
            f"{path} is not a Jupyter notebook (JSON: {exc}); download {NOTEBOOK_NAME!r}"
        ) from exc
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise RoboCodeGenNotebookError(f"{path} has no 'cells' list; it is not a .ipynb file")
    sources = []
    for cell in cells:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            src = cell.get("source", "")
            sources.append("".join(src) if isinstance(src, list) else str(src))
    return sources


def _parse(source: str) -> ast.Module | None:
    # Colab cells may hold shell lines ("! pip install ..."); such a cell is not one we read.
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def _assigned(tree: ast.Module) -> dict[str, ast.expr]:
    out: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                out[target.id] = node.value
    return out


def _string_value(node: ast.expr) -> str | None:
    # prompt_f_gen = '''...'''.strip()
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "strip"
        and isinstance(node.func.value, ast.Constant)
    ):
        value = node.func.value.value
        return value.strip() if isinstance(value, str) else None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _list_names(node: ast.expr) -> list[str]:
    """``a + b + c`` (or ``[...]``-free sums of names) -> ["a", "b", "c"]."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _list_names(node.left) + _list_names(node.right)
    raise RoboCodeGenNotebookError("all_problems is not a sum of named problem lists")


def _definitions(tree: ast.Module, source: str) -> dict[str, tuple[str, set[str]]]:
    """Top-level functions and ``name = lambda ...`` of the cell: name -> (source, names used)."""
    out: dict[str, tuple[str, set[str]]] = {}
    for node in tree.body:
        name: str | None = None
        if isinstance(node, ast.FunctionDef):
            name = node.name
        elif (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Lambda)
        ):
            name = node.targets[0].id
        if name is not None:
            used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            out[name] = (ast.get_source_segment(source, node) or "", used - {name})
    return out


def _context_names(tree: ast.Module, context: str) -> set[str]:
    """Names generated code sees: ``prompt_f_gen_exec``'s top-level definitions and what the
    problems cell adds with ``context_vars['name'] = ...``."""
    names: set[str] = set()
    parsed = _parse(context)
    for node in parsed.body if parsed is not None else []:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if (
                    isinstance(target, ast.Subscript)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == "context_vars"
                    and isinstance(target.slice, ast.Constant)
                    and isinstance(target.slice.value, str)
                ):
                    names.add(target.slice.value)
    return names


def _with_helpers(
    f_name: str, sol: ast.expr, source: str, defs: dict[str, tuple[str, set[str]]]
) -> str:
    """Source that defines ``f_name`` as ``sol`` plus the cell's functions it needs (those the
    check context does not already provide: ``defs`` excludes them)."""
    if isinstance(sol, ast.Name) and sol.id in defs:
        root_src, root_used = defs[sol.id]
        if sol.id != f_name:
            root_src += f"\n{f_name} = {sol.id}"
    else:
        root_src = f"{f_name} = {ast.get_source_segment(source, sol)}"
        root_used = {n.id for n in ast.walk(sol) if isinstance(n, ast.Name)}
    needed: list[str] = []
    todo = sorted(root_used)
    while todo:
        name = todo.pop()
        if name in defs and name not in needed and name != f_name:
            needed.append(name)
            todo.extend(sorted(defs[name][1]))
    # Definition order of the cell, so the text reads like the notebook.
    order = list(defs)
    helpers = [defs[name][0] for name in sorted(needed, key=order.index)]
    return "\n\n".join([*helpers, root_src]) + "\n"


def _problem_dicts(node: ast.expr, list_name: str) -> Iterable[ast.Dict]:
    if not isinstance(node, ast.List):
        raise RoboCodeGenNotebookError(f"{list_name} is not a list literal of problem dicts")
    for item in node.elts:
        if not isinstance(item, ast.Dict):
            raise RoboCodeGenNotebookError(f"{list_name} holds something other than a dict")
        yield item


def load_notebook(path: str | Path) -> RoboCodeGenSuite:
    """Read the RoboCodeGen problems, prompt and check context from the notebook at ``path``.

    Raises :class:`RoboCodeGenNotebookError` naming what is missing when the file is not the
    notebook (a JSON .ipynb whose code cells define ``prompt_f_gen``, ``prompt_f_gen_exec``
    and ``all_problems``).
    """
    nb = Path(path)
    prompt: str | None = None
    context: str | None = None
    problems_cell: tuple[str, ast.Module] | None = None
    for source in _cell_sources(nb):
        tree = _parse(source)
        if tree is None:
            continue
        assigned = _assigned(tree)
        if "prompt_f_gen" in assigned:
            prompt = _string_value(assigned["prompt_f_gen"])
        if "prompt_f_gen_exec" in assigned:
            context = _string_value(assigned["prompt_f_gen_exec"])
        if "all_problems" in assigned:
            problems_cell = (source, tree)
    missing = [
        name
        for name, value in (
            ("prompt_f_gen", prompt),
            ("prompt_f_gen_exec", context),
            ("all_problems", problems_cell),
        )
        if value is None
    ]
    if missing or prompt is None or context is None or problems_cell is None:
        raise RoboCodeGenNotebookError(
            f"{nb}: no code cell defines {', '.join(missing)}; expected the Code-as-Policies "
            f"notebook {NOTEBOOK_NAME!r} (google-research/google-research, code_as_policies/)"
        )
    source, tree = problems_cell
    assigned = _assigned(tree)
    provided = _context_names(tree, context)
    defs = {k: v for k, v in _definitions(tree, source).items() if k not in provided}
    problems: list[RoboCodeGenProblem] = []
    for list_name in _list_names(assigned["all_problems"]):
        if list_name not in assigned:
            raise RoboCodeGenNotebookError(f"{nb}: all_problems names {list_name!r}, undefined")
        for item in _problem_dicts(assigned[list_name], list_name):
            fields = {
                k.value: v
                for k, v in zip(item.keys, item.values, strict=True)
                if isinstance(k, ast.Constant) and isinstance(k.value, str)
            }
            absent = {"f_name", "f_sig", "f_sol", "test_input_args"} - set(fields)
            if absent:
                raise RoboCodeGenNotebookError(
                    f"{nb}: a problem of {list_name} lacks {', '.join(sorted(absent))}"
                )
            f_name = fields["f_name"]
            f_sig = fields["f_sig"]
            if not (isinstance(f_name, ast.Constant) and isinstance(f_sig, ast.Constant)):
                raise RoboCodeGenNotebookError(f"{nb}: f_name/f_sig of {list_name} not strings")
            name, sig = str(f_name.value), str(f_sig.value)
            equiv = fields.get("test_equiv")
            problems.append(
                RoboCodeGenProblem(
                    f_name=name,
                    f_sig=sig,
                    group=list_name,
                    prompt=f"{prompt}\n# define function: {sig}.",
                    reference=_with_helpers(name, fields["f_sol"], source, defs),
                    test_inputs=ast.get_source_segment(source, fields["test_input_args"]) or "",
                    test_equiv=(
                        ast.get_source_segment(source, equiv) or "None"
                        if equiv is not None
                        else "None"
                    ),
                )
            )
    names = [p.f_name for p in problems]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RoboCodeGenNotebookError(f"{nb}: problems {duplicates} appear twice")
    return RoboCodeGenSuite(
        source=str(nb), problems=tuple(problems), problems_cell=source, context_source=context
    )


def instruction_of(problem: RoboCodeGenProblem) -> str:
    """What an agent is shown: the notebook's prompt, and the rules its code runs under."""
    return (
        "Complete the program below: write the Python function it asks for next.\n"
        "Your code runs with the names the program defines (numpy as np, shapely's geometry and "
        "affinity functions, the helpers shown, get_obj_outer_pts_np); it may not contain "
        "'import' or '__'. Answer with the function's code.\n\n"
        f"{problem.prompt}"
    )


class CheckResult(BaseModel):
    """The verdict of :func:`check_solution` (``eval_test`` semantics) and what it ran on."""

    model_config = ConfigDict(frozen=True)

    passed: bool
    total: int = Field(description="test inputs the problem has")
    feedback: str = Field(description="empty when passed; else the first failure")
    input_mode: InputMode
    seed: int | None


# Runs in the sandbox: the notebook's problems cell, then its eval_test rule on one problem.
_HARNESS = r"""
import contextlib, io, json, sys, traceback
_req = json.load(sys.stdin)
import numpy as np
if _req["seed"] is not None:
    np.random.seed(_req["seed"])
_context = {}
_cell = {"context_vars": _context}
with contextlib.redirect_stdout(io.StringIO()):
    exec(compile(_req["context"], "<prompt_f_gen_exec>", "exec"), _context)
    exec(compile(_req["cell"], "<problems cell>", "exec"), _cell)
_problem = next(p for p in _cell["all_problems"] if p["f_name"] == _req["f_name"])
_inputs = _problem["test_input_args"]
_equiv = _problem.get("test_equiv") or (lambda a, b: np.allclose(a, b))

def _trace():
    # The answer's own frames only: the harness's frames name a per-call scratch path, which
    # would make the same answer's feedback differ from run to run.
    _type, _exc, _tb = sys.exc_info()
    _frames = [f for f in traceback.extract_tb(_tb) if f.filename != __file__][-2:]
    _head = "Traceback (most recent call last):\n" if _frames else ""
    return (_head + "".join(traceback.format_list(_frames))
            + "".join(traceback.format_exception_only(_type, _exc)))

def _done(passed, feedback=""):
    print(json.dumps({"passed": bool(passed), "total": len(_inputs), "feedback": feedback}))
    raise SystemExit(0)

_code = _req["code"]
for _phrase in _req["banned"]:
    if _phrase in _code:
        _done(False, f"The code contains {_phrase!r}, which RoboCodeGen does not allow.")
_gvars = dict(_context)
_gvars.update({"exec": lambda *a, **k: None, "eval": lambda *a, **k: None})
try:
    exec(compile(_code, "<solution>", "exec"), _gvars)
    _f_gen = _gvars[_problem["f_name"]]
except BaseException:
    _done(False, "Error:\n" + _trace())
for _args in _inputs:
    try:
        _expected = _problem["f_sol"](*_args)
    except BaseException:
        _done(False, "The reference solution failed on this input (so no solution can pass "
                     "it):\n" + _trace())
    try:
        _got = _f_gen(*_args)
        _ok = _equiv(_expected, _got)
    except BaseException:
        _done(False, f"{_problem['f_name']}(*{_args!r}) raised:\n"
                     + _trace())
    if not _ok:
        _done(False, f"Test failed: {_problem['f_name']}(*{_args!r})\n"
                     f"expected: {_expected!r}\ngot: {_got!r}")
_done(True)
"""


def check_solution(
    suite: RoboCodeGenSuite,
    problem: RoboCodeGenProblem,
    code: str,
    *,
    input_mode: InputMode = "seeded",
    seed: int = 0,
    sandbox: Sandbox | None = None,
    timeout_s: float = 30.0,
) -> CheckResult:
    """Check ``code`` (defining ``problem.f_name``) the way the notebook's ``eval_problems`` does.

    The problems cell runs first (``np.random.seed(seed)`` before it when ``input_mode`` is
    ``"seeded"``), then the code under ``exec_safe``'s rules (no ``import`` or ``__``; ``exec``
    and ``eval`` do nothing) with the ``prompt_f_gen_exec`` names; every test input must give
    ``test_equiv(f_sol(*args), f(*args))``. One namespace holds the whole answer, so helper
    functions it defines are in scope (upstream generated such helpers recursively into the
    same globals). All of it runs in the sandbox.
    """
    box = sandbox or Sandbox(SandboxLimits())
    used_seed = seed if input_mode == "seeded" else None
    work = box.scratch_dir(prefix="lemur-robocodegen-")
    (work / "harness.py").write_text(_HARNESS)
    (work / "harness.py").chmod(0o644)
    request = {
        "seed": used_seed,
        "context": suite.context_source,
        "cell": suite.problems_cell,
        "f_name": problem.f_name,
        "code": code,
        "banned": list(BANNED_PHRASES),
    }
    try:
        result = box.run(
            [sys.executable, "harness.py"],
            cwd=work,
            stdin=json.dumps(request),
            timeout=timeout_s,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if sandbox is None:
            box.close()
    if result.timed_out:
        return CheckResult(
            passed=False,
            total=0,
            feedback="Execution timed out.",
            input_mode=input_mode,
            seed=used_seed,
        )
    lines = result.stdout.strip().splitlines()
    try:
        report: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        report = {}
    if "passed" not in report:
        output = result.combined_output().replace(f"{work}/", "")
        if "No module named 'shapely'" in output:
            raise RuntimeError(
                "RoboCodeGen's problems cell needs shapely in the sandbox's Python: "
                "pip install shapely (or uv pip install shapely)"
            )
        raise RuntimeError(
            f"the RoboCodeGen problems cell of {suite.source} did not run: {output[-1500:]}"
        )
    return CheckResult(
        passed=report["passed"],
        total=report["total"],
        feedback=report["feedback"],
        input_mode=input_mode,
        seed=used_seed,
    )


def write_fixture_notebook(path: str | Path, cells: list[str]) -> Path:
    """Write ``cells`` as the code cells of a minimal .ipynb (the notebook's structure)."""
    from lemur_core import atomic_write_text

    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": cell.splitlines(keepends=True),
            }
            for cell in cells
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 0,
    }
    return atomic_write_text(path, json.dumps(notebook, indent=1))
