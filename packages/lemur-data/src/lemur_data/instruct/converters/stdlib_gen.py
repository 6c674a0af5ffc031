"""The tiny recipe's instruction data: multi-turn conversations generated from the running
interpreter's standard library sources (real code and docstrings, nothing downloaded).

Candidates are public functions and methods (with a docstring of at least
``min_docstring_chars`` and at most ``max_function_lines`` lines) of the configured modules,
found by parsing the source files with :mod:`ast` (nothing is imported). Three tasks:

* ``explain``: the user shows the function and asks what it does; the assistant answers from
  its docstring; then the user asks for its parameters, answered from the signature.
* ``write``: the user gives the signature and docstring; the assistant writes the real body;
  then the user asks which outside names it relies on (free names, by static analysis).
* ``fix``: a bug is planted (a misspelled name, raising a real ``NameError`` when the function
  runs in an empty namespace with placeholder arguments; or a missing ``:``, raising a real
  ``SyntaxError`` at compile time) and the user shows the real traceback; the assistant
  diagnoses and fixes it; then the user asks why it failed when it did.

Candidates are ordered by (file, line) and shuffled with the task's seed, so the output is a
function of the config and the Python version (recorded in the manifest).
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib.util
import inspect
import linecache
import random
import sys
import textwrap
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lemur_core import InstructExample, Message, Role

from lemur_data.instruct.config import StdlibOptions, StdlibTask

_BUILTINS = frozenset(dir(builtins))


@dataclass(frozen=True)
class StdlibFunction:
    """A function found in a stdlib source file."""

    module: str
    qualname: str
    path: Path
    lineno: int
    source: str  # dedented, decorators dropped
    node: ast.FunctionDef
    docstring: str


def _module_files(name: str) -> list[tuple[str, Path]]:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return []
    origin = Path(spec.origin)
    if origin.name != "__init__.py":
        return [(name, origin)]
    files = []
    for path in sorted(origin.parent.rglob("*.py")):
        rel = path.relative_to(origin.parent).with_suffix("")
        if any(part in ("test", "tests", "idle_test") for part in rel.parts):
            continue
        parts = [p for p in rel.parts if p != "__init__"]
        files.append((".".join([name, *parts]), path))
    return files


def find_functions(options: StdlibOptions) -> list[StdlibFunction]:
    """Every candidate function of ``options.modules``, ordered by (file, line)."""
    return list(_find(options.modules, options.min_docstring_chars, options.max_function_lines))


@functools.lru_cache(maxsize=4)
def _find(modules: tuple[str, ...], min_doc: int, max_lines: int) -> tuple[StdlibFunction, ...]:
    # cached: the three tiny sources parse the same files
    found: list[StdlibFunction] = []
    for module_name in modules:
        for module, path in _module_files(module_name):
            try:
                text = path.read_text(encoding="utf-8")
                tree = ast.parse(text)
            except (OSError, SyntaxError, UnicodeDecodeError):
                continue
            lines = text.splitlines()
            scopes: list[tuple[str, ast.AST]] = [("", tree)]
            scopes += [
                (f"{n.name}.", n)
                for n in tree.body
                if isinstance(n, ast.ClassDef) and not n.name.startswith("_")
            ]
            for prefix, scope in scopes:
                for node in getattr(scope, "body", []):
                    if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
                        continue
                    doc = ast.get_docstring(node)
                    end = node.end_lineno or node.lineno
                    if not doc or len(doc) < min_doc or end - node.lineno + 1 > max_lines:
                        continue
                    source = textwrap.dedent("\n".join(lines[node.lineno - 1 : end]))
                    try:  # a string literal at column 0 inside a method defeats dedent
                        ast.parse(source)
                    except SyntaxError:
                        continue
                    found.append(
                        StdlibFunction(
                            module, prefix + node.name, path, node.lineno, source, node, doc
                        )
                    )
    found.sort(key=lambda f: (str(f.path), f.lineno))
    return tuple(found)


def _signature(node: ast.FunctionDef) -> str:
    return f"{node.name}({ast.unparse(node.args)})"


def _parameters(node: ast.FunctionDef) -> list[str]:
    a = node.args
    lines: list[str] = []
    positional = a.posonlyargs + a.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults)) + list(
        a.defaults
    )
    for i, (arg, default) in enumerate(zip(positional, defaults, strict=True)):
        kind = "positional-only" if i < len(a.posonlyargs) else "positional or keyword"
        tail = f", default `{ast.unparse(default)}`" if default is not None else ", required"
        lines.append(f"- `{arg.arg}`: {kind}{tail}")
    if a.vararg:
        lines.append(f"- `*{a.vararg.arg}`: any number of extra positional arguments")
    for arg, kw_default in zip(a.kwonlyargs, a.kw_defaults, strict=True):
        tail = f", default `{ast.unparse(kw_default)}`" if kw_default is not None else ", required"
        lines.append(f"- `{arg.arg}`: keyword-only{tail}")
    if a.kwarg:
        lines.append(f"- `**{a.kwarg.arg}`: any extra keyword arguments")
    return lines


def _param_names(node: ast.FunctionDef) -> list[str]:
    a = node.args
    names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
    names += [x.arg for x in (a.vararg, a.kwarg) if x is not None]
    return names


def _free_names(node: ast.FunctionDef) -> tuple[list[str], list[str]]:
    """(module-level names, builtins) that the function body reads without defining."""
    bound = set(_param_names(node))
    loaded: list[str] = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            if isinstance(sub.ctx, ast.Store | ast.Del):
                bound.add(sub.id)
            elif sub.id not in loaded:
                loaded.append(sub.id)
        elif (
            isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and sub is not node
        ):
            bound.add(sub.name)
        elif isinstance(sub, ast.alias):
            bound.add((sub.asname or sub.name).split(".")[0])
        elif isinstance(sub, ast.arg):
            bound.add(sub.arg)
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            bound.add(sub.name)
    free = sorted(n for n in loaded if n not in bound)
    return [n for n in free if n not in _BUILTINS], [n for n in free if n in _BUILTINS]


def _explain(fn: StdlibFunction) -> list[Message]:
    params = _parameters(fn.node) or ["It takes no parameters."]
    return [
        Message(
            role=Role.USER,
            content=f"What does `{fn.qualname}` from Python's `{fn.module}` module do?\n\n```python\n{fn.source}\n```",
        ),
        Message(
            role=Role.ASSISTANT,
            content=f"`{_signature(fn.node)}`: {inspect.cleandoc(fn.docstring)}",
        ),
        Message(role=Role.USER, content="What parameters does it take?"),
        Message(role=Role.ASSISTANT, content="\n".join(params)),
    ]


def _write(fn: StdlibFunction) -> list[Message]:
    doc = textwrap.indent('"""' + inspect.cleandoc(fn.docstring) + '\n"""', "    ")
    stub = f"def {_signature(fn.node)}:\n{doc}"
    module_names, builtin_names = _free_names(fn.node)
    parts = []
    if module_names:
        parts.append(
            "Names from its module or imports: " + ", ".join(f"`{n}`" for n in module_names) + "."
        )
    if builtin_names:
        parts.append("Builtins: " + ", ".join(f"`{n}`" for n in builtin_names) + ".")
    answer = " ".join(parts) or "None: it only uses its parameters and its own local variables."
    return [
        Message(
            role=Role.USER,
            content=f"Write this Python function (it lives in `{fn.module}`):\n\n```python\n{stub}\n```",
        ),
        Message(role=Role.ASSISTANT, content=f"```python\n{fn.source}\n```"),
        Message(role=Role.USER, content="Which names from outside the function does it rely on?"),
        Message(role=Role.ASSISTANT, content=answer),
    ]


class _StepBudget(Exception):
    pass


def _run_in_empty_namespace(
    code: str, filename: str, name: str, arity: int
) -> BaseException | None:
    """Define and call the function with placeholder args, no globals and no builtins, under a
    line budget: without builtins or imports the code can reach no file, socket or process."""
    namespace: dict[str, object] = {"__builtins__": {}}
    steps = [0]

    def tracer(frame: object, event: str, arg: object) -> object:
        steps[0] += 1
        if steps[0] > 2000:
            raise _StepBudget
        return tracer

    try:
        exec(compile(code, filename, "exec"), namespace)
        func = namespace[name]
        sys.settrace(tracer)  # type: ignore[arg-type]
        try:
            func(*[object() for _ in range(arity)])  # type: ignore[operator]
        finally:
            sys.settrace(None)
    except _StepBudget:
        return None
    except BaseException as exc:
        return exc
    return None


def _misspell(name: str, taken: set[str]) -> str | None:
    for candidate in (name[:1] + name[2:], name + name[-1], name + "_"):
        if len(candidate) >= 2 and candidate not in taken and candidate.isidentifier():
            return candidate
    return None


def _fix_name_error(fn: StdlibFunction) -> list[Message] | None:
    node = ast.parse(fn.source).body[0]
    assert isinstance(node, ast.FunctionDef)
    node.decorator_list = []
    params = _param_names(node)
    a = node.args
    if (
        (a.kwonlyargs and any(d is None for d in a.kw_defaults))
        or a.defaults
        or (a.kw_defaults and any(a.kw_defaults))
    ):
        return None  # defaults are evaluated at def time and would need module globals
    uses = [
        n
        for n in ast.walk(node)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in params
    ]
    if not uses:
        return None
    target = min(uses, key=lambda n: (n.lineno, n.col_offset))
    taken = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | set(params) | _BUILTINS
    typo = _misspell(target.id, taken)
    if typo is None:
        return None
    lines = ast.unparse(node).splitlines()
    clean = "\n".join(lines)
    buggy_node = ast.parse(clean).body[0]
    for sub in ast.walk(buggy_node):
        if isinstance(sub, ast.Name) and sub.id == target.id and isinstance(sub.ctx, ast.Load):
            sub.id = typo
            break
    buggy = ast.unparse(buggy_node)
    filename = f"{node.name}_buggy.py"
    linecache.cache[filename] = (
        len(buggy),
        None,
        [line + "\n" for line in buggy.splitlines()],
        filename,
    )
    exc = _run_in_empty_namespace(buggy, filename, node.name, len(a.posonlyargs) + len(a.args))
    if not isinstance(exc, NameError) or getattr(exc, "name", None) != typo:
        return None
    tb = traceback.TracebackException.from_exception(exc)
    tb.stack = traceback.StackSummary.from_list([f for f in tb.stack if f.filename == filename])
    text = "".join(tb.format()).rstrip()
    line_no = tb.stack[-1].lineno if tb.stack else 0
    return [
        Message(
            role=Role.USER,
            content=f"I adapted `{fn.qualname}` from `{fn.module}` and calling it fails:\n\n```python\n{buggy}\n```\n\n```\n{text}\n```\n\nWhat is wrong?",
        ),
        Message(
            role=Role.ASSISTANT,
            content=f"Line {line_no} reads `{typo}`, a name defined nowhere: the parameter is called `{target.id}`. Using the parameter's real name fixes it:\n\n```python\n{clean}\n```",
        ),
        Message(
            role=Role.USER, content="Why didn't Python complain when the function was defined?"
        ),
        Message(
            role=Role.ASSISTANT,
            content=f"Python looks a name up only when the line that uses it runs. Defining the function compiled its body without resolving `{typo}`; the lookup failed, with a NameError, the first time line {line_no} executed.",
        ),
    ]


def _fix_syntax_error(fn: StdlibFunction) -> list[Message] | None:
    lines = fn.source.splitlines()
    node = ast.parse(fn.source).body[0]
    headers = [
        n
        for n in ast.walk(node)
        if isinstance(n, ast.If | ast.For | ast.While | ast.With) and n is not node
    ]
    headers = [n for n in headers if lines[n.lineno - 1].rstrip().endswith(":")]
    if not headers:
        return None
    target = min(headers, key=lambda n: n.lineno)
    buggy_lines = list(lines)
    buggy_lines[target.lineno - 1] = buggy_lines[target.lineno - 1].rstrip()[:-1]
    buggy = "\n".join(buggy_lines)
    filename = f"{node.name}_buggy.py"  # type: ignore[attr-defined]
    try:
        compile(buggy, filename, "exec")
    except SyntaxError as exc:
        text = "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
        header = buggy_lines[target.lineno - 1].strip()
        return [
            Message(
                role=Role.USER,
                content=f"Python will not even load my copy of `{fn.qualname}` (from `{fn.module}`):\n\n```python\n{buggy}\n```\n\n```\n{text}\n```\n\nHow do I fix it?",
            ),
            Message(
                role=Role.ASSISTANT,
                content=f"Line {target.lineno}, `{header}`, starts a compound statement, and its header must end with a colon. Adding the `:` back fixes it:\n\n```python\n{fn.source}\n```",
            ),
            Message(role=Role.USER, content="Why did it fail before anything ran?"),
            Message(
                role=Role.ASSISTANT,
                content="A SyntaxError is raised while the source is compiled to bytecode, which happens before any statement executes; the parser stopped at the missing colon, so nothing in the file was defined or run.",
            ),
        ]
    return None


def generate_stdlib(options: StdlibOptions, source: str) -> Iterator[InstructExample]:
    """Yield up to ``options.max_examples`` conversations of ``options.task`` (module docstring)."""
    functions = find_functions(options)
    random.Random(options.seed).shuffle(functions)
    made = 0
    for index, fn in enumerate(functions):
        if made >= options.max_examples:
            return
        messages: list[Message] | None
        if options.task is StdlibTask.EXPLAIN:
            messages = _explain(fn)
        elif options.task is StdlibTask.WRITE:
            messages = _write(fn)
        else:
            messages = _fix_name_error(fn) if index % 2 == 0 else None
            messages = messages or _fix_syntax_error(fn) or _fix_name_error(fn)
        if messages is None:
            continue
        made += 1
        yield InstructExample(
            id=f"{source}/{fn.module}.{fn.qualname}", source=source, messages=tuple(messages)
        )
