"""RoboCodeGen-style problems: a function to write, a reference, and its test inputs.

A built-in problem's inputs are drawn from ``random.Random(f"{task_id}/{seed}")`` together with
a random scene, so a task's test cases are fixed by its seed; a task may instead list explicit
``test_cases`` (scene and arguments), which is how a task file adds a function that has no
built-in input generator. Expected outputs come from running the reference solution against
:data:`~lemur_agents.envs.robotics.api.API_SOURCE`: :func:`reference_outputs` does it on the
host for the project's own problems; the env runs references read from a task file in the
sandbox, like the agent's code.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lemur_agents.envs.base import EnvTask
from lemur_agents.envs.robotics.api import API_DOC, API_SOURCE, Scene, random_scene

Point = list[float]


class RoboticsCase(BaseModel):
    """One explicit test case: the objects on the table and the function's arguments (lists of
    numbers arrive as numpy arrays, as in the seeded cases)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scene: Scene
    args: tuple[Any, ...]


class RoboticsTask(EnvTask):
    """One function to write over the robotics API, checked on ``cases`` seeded inputs or on
    the given ``test_cases``."""

    entry_point: str
    signature: str
    reference: str = Field(description="a correct implementation over the robotics API")
    seed: int = Field(0, description="seeds the built-in input generator")
    cases: int = Field(8, ge=1, description="seeded cases (when test_cases is not given)")
    test_cases: tuple[RoboticsCase, ...] | None = Field(
        None, min_length=1, description="explicit cases instead of the seeded ones"
    )

    @model_validator(mode="after")
    def _has_inputs(self) -> RoboticsTask:
        if not self.entry_point.isidentifier():
            raise ValueError(f"entry_point {self.entry_point!r} is not a Python identifier")
        if self.test_cases is None and self.entry_point not in _INPUTS:
            raise ValueError(
                f"entry_point {self.entry_point!r} has no built-in input generator (those are "
                f"{', '.join(sorted(_INPUTS))}); give test_cases"
            )
        return self


def _pt(rng: random.Random) -> Point:
    return [round(rng.uniform(0, 1), 4), round(rng.uniform(0, 1), 4)]


def _obj(rng: random.Random, scene: Scene) -> str:
    return rng.choice(scene.objects).name


_INPUTS: dict[str, Callable[[random.Random, Scene], list[Any]]] = {
    "get_midpoint": lambda r, s: [_pt(r), _pt(r)],
    "rotate_point": lambda r, s: [_pt(r), round(r.uniform(-180, 180), 2), _pt(r)],
    "get_closest_obj": lambda r, s: [_pt(r)],
    "get_objs_left_of": lambda r, s: [_obj(r, s)],
    "get_pts_on_circle": lambda r, s: [_pt(r), round(r.uniform(0.05, 0.3), 3), r.randint(3, 8)],
    "is_pt_in_obj_bbox": lambda r, s: [
        r.choice([_pt(r), [p + r.uniform(-0.02, 0.02) for p in s.objects[0].pos]]),
        s.objects[0].name,
    ],
    "get_dist_to_nearest_corner": lambda r, s: [_obj(r, s)],
    "interpolate_pts": lambda r, s: [_pt(r), _pt(r), r.randint(2, 6)],
}

_PROBLEMS: list[tuple[str, str, str, str]] = [
    (
        "get_midpoint",
        "def get_midpoint(p1, p2):",
        "Return the midpoint of two 2D points (numpy arrays) as a numpy array.",
        "def get_midpoint(p1, p2):\n    return (np.asarray(p1) + np.asarray(p2)) / 2",
    ),
    (
        "rotate_point",
        "def rotate_point(pt, angle_deg, origin):",
        "Rotate the 2D point pt counter-clockwise by angle_deg degrees about origin; "
        "return a numpy array.",
        "def rotate_point(pt, angle_deg, origin):\n"
        "    a = np.deg2rad(angle_deg)\n"
        "    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])\n"
        "    return rot @ (np.asarray(pt) - origin) + origin",
    ),
    (
        "get_closest_obj",
        "def get_closest_obj(pos):",
        "Return the name of the object on the table whose centre is closest to pos.",
        "def get_closest_obj(pos):\n"
        "    names = get_obj_names()\n"
        "    return min(names, key=lambda n: np.linalg.norm(get_obj_pos(n) - pos))",
    ),
    (
        "get_objs_left_of",
        "def get_objs_left_of(name):",
        "Return the names of the objects whose centre is left of (smaller x than) the named "
        "object's centre, sorted from left to right.",
        "def get_objs_left_of(name):\n"
        "    x = get_obj_pos(name)[0]\n"
        "    left = [n for n in get_obj_names() if get_obj_pos(n)[0] < x]\n"
        "    return sorted(left, key=lambda n: get_obj_pos(n)[0])",
    ),
    (
        "get_pts_on_circle",
        "def get_pts_on_circle(center, radius, n):",
        "Return an (n, 2) numpy array of n points evenly spaced on the circle, the first at "
        "angle 0 (center + [radius, 0]), going counter-clockwise.",
        "def get_pts_on_circle(center, radius, n):\n"
        "    angles = np.arange(n) * 2 * np.pi / n\n"
        "    return np.stack([center[0] + radius * np.cos(angles),\n"
        "                     center[1] + radius * np.sin(angles)], axis=1)",
    ),
    (
        "is_pt_in_obj_bbox",
        "def is_pt_in_obj_bbox(pt, name):",
        "Return True when the 2D point lies inside or on the named object's bounding box.",
        "def is_pt_in_obj_bbox(pt, name):\n"
        "    x0, y0, x1, y1 = get_bbox(name)\n"
        "    return bool(x0 <= pt[0] <= x1 and y0 <= pt[1] <= y1)",
    ),
    (
        "get_dist_to_nearest_corner",
        "def get_dist_to_nearest_corner(name):",
        "Return the distance from the named object's centre to the nearest table corner.",
        "def get_dist_to_nearest_corner(name):\n"
        "    pos = get_obj_pos(name)\n"
        "    return float(min(np.linalg.norm(get_table_corner(c) - pos) for c in CORNER_NAMES))",
    ),
    (
        "interpolate_pts",
        "def interpolate_pts(p1, p2, n):",
        "Return an (n, 2) numpy array of n evenly spaced points from p1 to p2, both included.",
        "def interpolate_pts(p1, p2, n):\n    return np.linspace(p1, p2, n)",
    ),
]


def fixture_tasks(seed: int = 0, cases: int = 8) -> list[RoboticsTask]:
    """The eight built-in problems, their tests drawn with ``seed``."""
    return [
        RoboticsTask(
            task_id=f"robotics/{name}",
            instruction=f'{API_DOC}\n\nWrite the function\n\n{signature}\n    """{doc}"""',
            entry_point=name,
            signature=signature,
            reference=reference,
            seed=seed,
            cases=cases,
        )
        for name, signature, doc, reference in _PROBLEMS
    ]


def make_cases(task: RoboticsTask) -> list[dict[str, Any]]:
    """The task's cases, ``{"scene": ..., "args": [...]}`` (JSON-ready): its ``test_cases``
    when given, else ``cases`` seeded ones."""
    if task.test_cases is not None:
        return [{"scene": c.scene.as_api_state(), "args": list(c.args)} for c in task.test_cases]
    rng = random.Random(f"{task.task_id}/{task.seed}")
    make = _INPUTS[task.entry_point]
    out = []
    for _ in range(task.cases):
        scene = random_scene(rng)
        out.append({"scene": scene.as_api_state(), "args": make(rng, scene)})
    return out


def reference_outputs(task: RoboticsTask, cases: list[dict[str, Any]]) -> list[Any]:
    """Run the reference solution on the host over ``cases`` (see the module docstring)."""
    namespace: dict[str, Any] = {}
    exec(compile(API_SOURCE, "<robotics-api>", "exec"), namespace)  # our own code only
    exec(compile(task.reference, "<reference>", "exec"), namespace)
    np = namespace["np"]
    outputs = []
    for case in cases:
        namespace["_SCENE"].clear()
        namespace["_SCENE"].update(case["scene"])
        args = [_as_array(np, a) for a in case["args"]]
        outputs.append(encode(namespace[task.entry_point](*args)))
    return outputs


def _as_array(np: Any, value: Any) -> Any:
    if isinstance(value, list) and value and all(isinstance(v, int | float) for v in value):
        return np.array(value, dtype=float)
    return value


def encode(value: Any) -> Any:
    """A JSON-ready form of an output: arrays and numpy scalars become lists and floats."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


def outputs_match(expected: Any, actual: Any, tol: float = 1e-4) -> bool:
    """Equality with numeric tolerance (``tol`` absolute and relative), shapes included."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(expected, actual, rel_tol=tol, abs_tol=tol)
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            outputs_match(e, a, tol) for e, a in zip(expected, actual, strict=True)
        )
    return bool(expected == actual)
