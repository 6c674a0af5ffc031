"""MINT's answer checks (``mint/tasks/reasoning.py``), in two named scoring modes.

``mint`` reproduces MINT's current code decision for decision, because the paper's Tables 4-6
were computed with it:

* **GSM8K, MATH, HotpotQA** (``ReasoningTask``): reference and answer are lower-cased and
  stripped; when *both* parse with Python's ``float`` they match within 5% of the reference,
  otherwise the reference must be a substring of the answer ("4" matches "4*tan(theta)").
* **MMLU** (``MultipleChoiceTask``): the answer counts as option ``a`` when it holds ``a)`` (its
  letter loop returns on its first letter, so no other letter is recognised that way); then the
  reference letter as a substring of the whole answer wins; then option texts decide (any wrong
  option's text in the answer loses, the right one's wins), with MINT's list-mutation quirk.
* **TheoremQA** (``TheoremqaTask``, after TheoremQA's own ``predict_accuracy.py``): the answer is
  normalised (``=``/``≈`` tails, units, ``10^``, options) and evaluated as a Python expression in
  the namespace MINT's module gives ``eval`` (``np`` and ``Rational`` exist, ``math`` does not,
  ``^`` is XOR); booleans are recognised only as ``True``/``False`` with capitals or the exact
  words ``true|yes|false|no``; numbers match within 4% (floats) or after rounding (integers).
  Here the expression is evaluated by a restricted interpreter of that subset, never ``eval``.

``corrected`` fixes each quirk (see docs/scoring-modes.md for a real reply of each): numeric
references need a numeric answer, text references match whole words, MMLU recognises every
option letter and option text, TheoremQA reads booleans in any case, ``10^k`` and ``^`` as
powers.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any, Literal

from lemur_core import ScoreResult

ScoringMode = Literal["mint", "corrected"]
SCORING_MODES: tuple[ScoringMode, ...] = ("mint", "corrected")


def check_mode(mode: str) -> ScoringMode:
    """``mode`` if it is a scoring mode, else ``ValueError`` naming the known ones."""
    if mode not in SCORING_MODES:
        raise ValueError(f"unknown scoring mode '{mode}'; known: {', '.join(SCORING_MODES)}")
    return mode  # type: ignore[return-value]


def _result(ok: bool, mode: ScoringMode, **details: Any) -> ScoreResult:
    return ScoreResult(score=float(ok), correct=ok, details={"mode": mode, **details})


# ---------------------------------------------------------------- GSM8K, MATH, HotpotQA


def _mint_reasoning(answer_text: str, reference: Any) -> bool:
    ref = str(reference).strip().lower()
    ans = answer_text.lower().strip()
    try:
        r, a = float(ref), float(ans)
    except ValueError:
        return ref in ans
    return abs(r - a) <= 0.05 * abs(r)


_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?(?:e[-+]?\d+)?", re.IGNORECASE)
# An expression, not a stated value: operators, LaTeX maths, a sum of numbers or symbols.
_EXPRESSION = re.compile(
    r"[*/^]|\\(?:frac|sqrt|pi|cdot|times)|\d\s*[-+]\s*[\d.]|[a-z]\s*[-+]\s*[a-z\d(]",
    re.IGNORECASE,
)


def _number_of(text: str) -> float | None:
    """The one number an answer states (after its last ``=``, currency signs, thousands
    separators, units and repetitions allowed); ``None`` for an expression, a list, several
    different numbers or none."""
    s = text.replace("$", "").split("=")[-1]
    if _EXPRESSION.search(s):
        return None
    values = {float(n.replace(",", "")) for n in _NUMBER.findall(s)}
    if len(values) != 1:
        return None
    value = values.pop()
    return value if math.isfinite(value) else None


def _tokens(text: str) -> list[str]:
    """Lower-cased words and signed numbers (thousands separators dropped)."""
    return re.findall(r"-?\d+(?:\.\d+)?|[^\W\d_]+", text.lower().replace(",", ""))


def _contains(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return n > 0 and any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def _corrected_reasoning(answer_text: str, reference: Any) -> bool:
    ref = str(reference).strip()
    try:
        r = float(ref)
    except ValueError:
        return _contains(_tokens(answer_text), _tokens(ref))
    a = _number_of(answer_text)
    return a is not None and abs(r - a) <= 0.05 * abs(r)


def score_mint_reasoning(prediction: str, reference: Any, mode: ScoringMode) -> ScoreResult:
    """MINT GSM8K/MATH/HotpotQA verdict of a proposed solution (see the module docstring)."""
    if mode == "mint":
        return _result(_mint_reasoning(prediction, reference), mode)
    return _result(_corrected_reasoning(prediction, reference), mode)


# ---------------------------------------------------------------- MMLU


def mint_options(prompt: str) -> dict[str, str]:
    """MINT's ``extract_options``: ``Options: A ) x , B ) y`` -> ``{'a': 'x', 'b': 'y'}``
    (lower-cased; only the text up to an option's first ``)`` is kept, as MINT keeps it)."""
    options: dict[str, str] = {}
    for part in prompt.split("Options: ")[-1].split(" , "):
        pieces = part.strip("[]' ").split(")")
        if len(pieces) < 2:
            raise ValueError(f"MINT option {part!r} has no ')' after its letter")
        content = (
            pieces[1]
            .lower()
            .strip(".")
            .replace(". Which option is correct?", "")
            .replace(". Which one is correct?", "")
            .strip()
        )
        options[pieces[0].lower().strip()] = content
    return options


def _mc_compare(reference: str, answer: str) -> bool:
    if reference.isdigit() and answer.isdigit():
        return abs(float(reference) - float(answer)) <= 0.05 * float(reference)
    return reference in answer


def _mint_choice(prediction: str, reference: str, options: Mapping[str, str]) -> bool:
    answer = prediction.lower().strip()
    if "a)" in answer or "a )" in answer:  # MINT's letter loop stops at its first letter
        answer = "a"
    ref = reference.strip().lower()
    if _mc_compare(ref, answer):
        return True
    if ref not in options:  # MINT raises KeyError here, which fails the proposal
        return False
    correct = options[ref]
    wrong = list(options.values())
    # MINT removes from the list it iterates over, which skips the element after each removal;
    # the same loop reproduces the same survivors.
    for option in wrong:
        if option in correct:
            wrong.remove(option)
    for option in wrong:
        if _mc_compare(option, answer) or option in answer:
            return False
    return _mc_compare(correct, answer) or correct in answer


_LETTER_FORMS = (
    re.compile(r"^\(?([a-z])\)?[.:]?$"),
    re.compile(r"^(?:the )?(?:answer|option)(?: is)?:?\s*\(?([a-z])\)?\b"),
    re.compile(r"^\(?([a-z])\s?\)"),
    re.compile(r"^([a-z])[.:]\s"),
)


def _corrected_choice(prediction: str, reference: str, options: Mapping[str, str]) -> bool:
    answer = " ".join(prediction.lower().split())
    chosen: str | None = None
    for form in _LETTER_FORMS:
        m = form.search(answer)
        if m and m.group(1) in options:
            chosen = m.group(1)
            break
    if chosen is None:
        # No letter: the answer names an option by its text; exactly one option must fit
        # (an option stated whole beats one that merely occurs inside the answer).
        said = _tokens(answer)
        hits = [k for k, v in options.items() if _contains(said, _tokens(v))]
        exact = [k for k in hits if _tokens(options[k]) == said]
        pick = exact or hits
        chosen = pick[0] if len(pick) == 1 else None
    return chosen == reference.strip().lower()


def score_mint_choice(
    prediction: str, reference: str, options: Mapping[str, str], mode: ScoringMode
) -> ScoreResult:
    """MINT MMLU verdict of a proposed solution (see the module docstring)."""
    if mode == "mint":
        return _result(_mint_choice(prediction, reference, options), mode)
    return _result(_corrected_choice(prediction, reference, options), mode)


# ---------------------------------------------------------------- TheoremQA


class _Unsupported(Exception):
    """An expression MINT's ``eval`` would reject (or that we refuse to compute)."""


_UNITS_AFTER = re.compile(r"([-+]?(?:[\d,]*\.*\d+)) [^0-9 ]+$")
_UNITS_BEFORE = re.compile(r"[^0-9 ]+ ([-+]?(?:[\d,]*\.*\d+))$")
_SHORT_AFTER = re.compile(r"([-+]?(?:[\d,]*\.*\d+))[^\d]{1,2}$")
_SHORT_BEFORE = re.compile(r"[^-+\d]{1,2}((?:[\d,]*\.*\d+))$")
_PLAIN_NUMBER = re.compile(r"^[-+]?(\d{1,3}(,\d{3})*|(\d+))(\.\d+)?$")


def _theoremqa_text(solution: str, mode: ScoringMode) -> str:
    """TheoremQA's string normalisation, step by step as MINT applies it."""
    p = solution
    if "=" in p:
        p = p.split("=")[-1].strip()
    if "≈" in p:
        p = p.split("≈")[-1].strip()
    p = p.replace("`", "").replace("$", "").replace("°", "")
    if mode == "corrected":
        low = p.strip().strip(".").lower()
        if low in ("true", "yes", "false", "no"):
            p = "True" if low in ("true", "yes") else "False"
    elif p in ("true", "yes", "false", "no"):
        p = "True" if p in ("true", "yes") else "False"
    if "True" in p or "False" in p:
        p = "True" if "True" in p else "False"
    if "approximately" in p:
        p = p.replace("approximately", "").strip()
    if " or " in p:
        p = p.split(" or ")[0]
    if re.match(_UNITS_AFTER.pattern, p):
        p = _group(_UNITS_AFTER.search(p))
    if re.match(r"[^0-9 ]+ [-+]?(?:[\d,]*\.*\d+)$", p):
        p = _group(_UNITS_BEFORE.search(p))
    if re.match(_SHORT_AFTER.pattern, p):
        p = _group(_SHORT_AFTER.search(p))
    if re.match(r"[^-+\d]{1,2}(?:[\d,]*\.*\d+)$", p):
        p = _group(_SHORT_BEFORE.search(p))
    if "10^" in p:
        p = re.sub(r"10\^(-?\d+)", r"math.pow(10, \1)", p)
    p = p.replace(" x ", "*").replace(" × ", "*")
    if _PLAIN_NUMBER.match(p):
        p = p.replace(",", "")
    for letter in "abcd":
        if f"{letter})" in p or f"{letter} )" in p or p.lower().strip() == letter:
            p = f"({letter})"
    m = re.search(r"\([a-d]\)", p)
    if m is not None:
        p = f'"{m.group(0)}"'
    return p or "0"


def _group(m: re.Match[str] | None) -> str:
    assert m is not None  # the same pattern matched with re.match just before
    return m.group(1)


_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.BitXor: operator.xor,
    ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_,
    ast.LShift: operator.lshift,
    ast.RShift: operator.rshift,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
    ast.Not: operator.not_,
    ast.Invert: operator.invert,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
# Builtins MINT's eval can reach, and what its module imported (numpy as np, sympy's
# Rational; `math` is *not* imported there, so `math.pow(10, k)` fails as it does in MINT).
_BUILTINS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "sum": sum,
    "pow": pow,
    "int": int,
    "float": float,
    "complex": complex,
    "len": len,
    "list": list,
    "tuple": tuple,
    "set": set,
    "sorted": sorted,
    "bool": bool,
}
_NUMPY_FUNCS: dict[str, Callable[..., Any]] = {
    name: getattr(math, name)
    for name in ("sqrt", "exp", "log", "log2", "log10", "sin", "cos", "tan", "floor", "ceil")
}
_NUMPY_FUNCS.update({"arcsin": math.asin, "arccos": math.acos, "arctan": math.atan})
_NUMPY_CONSTS = {"pi": math.pi, "e": math.e, "inf": math.inf}


def _check_size(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 4096:
        raise _Unsupported("integer too large")
    return value


def _power(base: Any, exp: Any) -> Any:
    if isinstance(exp, int | float) and abs(exp) > 10_000 and abs(base) not in (0, 1):
        raise _Unsupported("exponent too large")
    return operator.pow(base, exp)


class _Evaluator:
    """Evaluates the expression subset MINT's ``eval`` sees in TheoremQA answers."""

    def __init__(self, mode: ScoringMode) -> None:
        self.mode = mode

    def run(self, text: str) -> Any:
        try:
            # Python's eval builtin drops leading spaces and tabs of its string before parsing; ast.parse not.
            tree = ast.parse(text.lstrip(" \t"), mode="eval")
        except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
            raise _Unsupported(str(exc)) from exc
        return self.value(tree.body)

    def value(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            items = [self.value(e) for e in node.elts]
            return (
                tuple(items)
                if isinstance(node, ast.Tuple)
                else (items if isinstance(node, ast.List) else set(items))
            )
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](self.value(node.operand))
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = self.value(node.left), self.value(node.right)
            if isinstance(node.op, ast.Pow) or (
                self.mode == "corrected" and isinstance(node.op, ast.BitXor)
            ):
                return _check_size(_power(left, right))
            return _check_size(_BINOPS[type(node.op)](left, right))
        if isinstance(node, ast.Compare):
            left, ok = self.value(node.left), True
            for op, comparator in zip(node.ops, node.comparators, strict=True):
                if type(op) not in _COMPARE:
                    raise _Unsupported(type(op).__name__)
                right = self.value(comparator)
                ok = ok and bool(_COMPARE[type(op)](left, right))
                left = right
            return ok
        if isinstance(node, ast.Call) and not node.keywords:
            func = self.callable(node.func)
            return _check_size(func(*[self.value(a) for a in node.args]))
        if isinstance(node, ast.Attribute | ast.Name):
            value = self.name(node)
            if callable(value):
                raise _Unsupported("a function is not an answer")
            return value
        raise _Unsupported(type(node).__name__)

    def name(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            owner, attr = node.value.id, node.attr
            if owner == "np" and attr in _NUMPY_CONSTS:
                return _NUMPY_CONSTS[attr]
            if owner == "np" and attr in _NUMPY_FUNCS:
                return _NUMPY_FUNCS[attr]
            if owner == "math" and self.mode == "corrected" and hasattr(math, attr):
                return getattr(math, attr)
        if isinstance(node, ast.Name) and self.mode == "corrected" and node.id in ("pi", "e"):
            return _NUMPY_CONSTS[node.id]
        raise _Unsupported(f"unknown name {ast.unparse(node)}")

    def callable(self, node: ast.AST) -> Callable[..., Any]:
        if isinstance(node, ast.Name) and node.id == "Rational":
            return Fraction
        if isinstance(node, ast.Name) and node.id in _BUILTINS:
            return _BUILTINS[node.id]
        if isinstance(node, ast.Name) and self.mode == "corrected" and node.id in _NUMPY_FUNCS:
            return _NUMPY_FUNCS[node.id]
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in ("np", "math")
        ):
            value = self.name(node)
            if callable(value):
                return value  # type: ignore[no-any-return]
        raise _Unsupported(f"unknown function {ast.unparse(node)}")


def theoremqa_value(solution: str, mode: ScoringMode = "mint") -> Any:
    """The value MINT's ``TheoremqaTask.extract_answer`` gives ``solution`` (``None`` when its
    ``eval`` fails); raises ``ValueError`` where MINT's own code raises (an empty tuple)."""
    text = _theoremqa_text(solution, mode)
    if mode == "corrected":
        text = re.sub(r"math\.pow\(10, (-?\d+)\)", r"10**\1", text)
    try:
        value = _Evaluator(mode).run(text)
    except (_Unsupported, ArithmeticError, TypeError, ValueError, RecursionError):
        return None
    if isinstance(value, set | tuple):
        value = list(value)
        if not value:
            raise ValueError("empty tuple")  # MINT indexes prediction[0] and fails the proposal
        if isinstance(value[0], complex):
            value = [v.real for v in value]
        elif isinstance(value[0], Fraction):
            value = [float(v) for v in value]
    elif isinstance(value, complex):
        value = value.real
    elif isinstance(value, Fraction):
        value = float(value)
    return value


def _compare_numbers(pred: Any, gt: Any) -> bool:
    if isinstance(pred, int | float):
        pass
    elif isinstance(pred, list | bool | str | tuple | complex | dict):
        return False
    else:
        raise ValueError(pred)
    if isinstance(gt, float):
        eps = abs(gt) * 0.04
        return bool(gt - eps <= pred <= gt + eps)
    return bool(round(pred) == gt)


def _compare_lists(pred: Any, gt: Any) -> bool:
    if not isinstance(pred, list) or len(pred) != len(gt):
        return False
    if any(not isinstance(x, int | float) for x in pred):
        return False
    return all(_compare_numbers(p, g) for p, g in zip(sorted(pred), sorted(gt), strict=True))


def _theoremqa_correct(prediction: Any, reference: Any, answer_type: str | None) -> bool:
    if not isinstance(prediction, str | int | float | list):
        return False
    if answer_type in ("bool", "option", "Option"):
        return bool(prediction == f"({reference})" or prediction == reference)
    if answer_type in ("integer", "float"):
        return _compare_numbers(prediction, reference)
    if answer_type in ("list of integer", "list of float"):
        return _compare_lists(prediction, reference)
    return False  # MINT leaves the verdict unset for other types, which it reads as failure


def score_mint_theoremqa(
    prediction: str, reference: Any, answer_type: str | None, mode: ScoringMode
) -> ScoreResult:
    """MINT TheoremQA verdict of a proposed solution (see the module docstring)."""
    try:
        value = theoremqa_value(prediction, mode)
        ok = _theoremqa_correct(value, reference, answer_type)
    except (ValueError, TypeError, ArithmeticError) as exc:  # MINT: a traceback, not a pass
        return _result(False, mode, error=f"{type(exc).__name__}: {exc}")
    return _result(ok, mode, extracted=repr(value))
