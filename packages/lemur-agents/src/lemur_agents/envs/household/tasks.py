"""Household tasks: ALFWorld's six task types, procedurally generated scenes, an oracle planner.

Task types and goal wording follow ALFWorld: ``pick_and_place_simple`` ("put a mug in
cabinet."), ``look_at_obj_in_light`` ("look at book under the desklamp."),
``pick_clean_then_place_in_recep`` ("put a clean ..."), ``pick_heat_then_place_in_recep``
("put a hot ..."), ``pick_cool_then_place_in_recep`` ("put a cool ..."),
``pick_two_obj_and_place`` ("put two ... in ..."). Generation is a pure function of
``(task_type, seed)``: the same arguments always give the same scene and goal.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import Field

from lemur_agents.envs.base import EnvTask
from lemur_agents.envs.household.world import (
    APPLIANCE_EFFECT,
    OPENABLE,
    HouseholdWorld,
    ReceptacleSpec,
    SceneSpec,
    kind_of,
)

TaskType = Literal[
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
]
TASK_TYPES: tuple[TaskType, ...] = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)
_STATE_OF: dict[str, str] = {
    "pick_clean_then_place_in_recep": "clean",
    "pick_heat_then_place_in_recep": "hot",
    "pick_cool_then_place_in_recep": "cool",
}
_APPLIANCE_FOR = {"clean": "sinkbasin", "hot": "microwave", "cool": "fridge"}
_FOOD = ("apple", "bread", "egg", "lettuce", "potato", "tomato")
_DISHES = ("cup", "mug", "plate", "bowl", "pan")
_SMALL = ("book", "cd", "pen", "cellphone", "keychain", "creditcard", "pencil")
_SURFACES = ("countertop", "diningtable", "shelf", "sidetable", "desk", "stoveburner")
_CONTAINERS = ("cabinet", "drawer", "garbagecan")


class HouseholdTask(EnvTask):
    """A scene and a goal of one of ALFWorld's six types."""

    task_type: TaskType
    obj: str = Field(description="the object type to act on, e.g. 'apple'")
    target: str | None = Field(None, description="receptacle type to place it in, e.g. 'fridge'")
    lamp: str | None = None
    scene: SceneSpec


def goal_satisfied(task: HouseholdTask, world: HouseholdWorld) -> bool:
    """Whether ``world`` meets ``task``'s goal (ALFWorld's ``won``)."""
    if task.task_type == "look_at_obj_in_light":
        return (
            world.holding is not None
            and kind_of(world.holding) == task.obj
            and world.lamp_on_at is not None
            and world.lamp_on_at == world.location
        )
    state = _STATE_OF.get(task.task_type)
    need = 2 if task.task_type == "pick_two_obj_and_place" else 1
    for recep, objs in world.contents.items():
        if kind_of(recep) != task.target:
            continue
        good = [
            o
            for o in objs
            if kind_of(o) == task.obj and (state is None or state in world.states.get(o, set()))
        ]
        if len(good) >= need:
            return True
    return False


def _goal_text(task_type: TaskType, obj: str, target: str | None, lamp: str | None) -> str:
    prep = "in" if target in OPENABLE or target in APPLIANCE_EFFECT else "on"
    if task_type == "look_at_obj_in_light":
        return f"look at {obj} under the {lamp}."
    if task_type == "pick_two_obj_and_place":
        return f"put two {obj} {prep} {target}."
    state = _STATE_OF.get(task_type)
    adjective = {"clean": "clean ", "hot": "hot ", "cool": "cool "}.get(state or "", "")
    return f"put a {adjective}{obj} {prep} {target}."


def generate_task(task_type: TaskType, seed: int) -> HouseholdTask:
    """A solvable task of ``task_type`` whose goal does not hold at the start."""
    rng = random.Random(f"{task_type}/{seed}")
    kinds: dict[str, int] = {}
    for kind in rng.sample(_CONTAINERS, 2) + rng.sample(_SURFACES, 3):
        kinds[kind] = rng.randint(1, 3) if kind in ("cabinet", "drawer", "shelf") else 1
    kinds.update({"fridge": 1, "microwave": 1, "sinkbasin": 1, "countertop": rng.randint(1, 2)})
    receptacles = [f"{k} {i}" for k, n in kinds.items() for i in range(1, n + 1)]
    rng.shuffle(receptacles)
    contents: dict[str, list[str]] = {r: [] for r in receptacles}
    counter: dict[str, int] = {}

    def place(kind: str, where: list[str]) -> None:
        counter[kind] = counter.get(kind, 0) + 1
        recep = rng.choice(where)
        contents[recep].append(f"{kind} {counter[kind]}")

    lamp: str | None = None
    appliances = {r for r in receptacles if kind_of(r) in APPLIANCE_EFFECT}
    if task_type == "look_at_obj_in_light":
        obj = rng.choice(_SMALL)
        target = None
        lamp = "desklamp"
        lamp_home = [r for r in receptacles if kind_of(r) in ("sidetable", "desk", "shelf")]
        lamp_home = lamp_home or [r for r in receptacles if kind_of(r) == "countertop"]
        lamp_at = rng.choice(lamp_home)
        contents[lamp_at].append("desklamp 1")
        sources = [r for r in receptacles if r != lamp_at and r not in appliances]
    else:
        obj = rng.choice(_FOOD + _DISHES if task_type in _STATE_OF else _FOOD + _DISHES + _SMALL)
        choices = [k for k in kinds if k not in ("microwave", "sinkbasin")]
        if task_type == "pick_cool_then_place_in_recep":
            choices = [k for k in choices if k != "fridge"]
        target = rng.choice(choices)
        sources = [r for r in receptacles if kind_of(r) != target and r not in appliances]
    for _ in range(2 if task_type == "pick_two_obj_and_place" else rng.randint(1, 2)):
        place(obj, sources)
    for _ in range(rng.randint(3, 6)):  # distractors never of the goal's object type
        place(rng.choice([k for k in _FOOD + _DISHES + _SMALL if k != obj]), receptacles)
    scene = SceneSpec(
        receptacles=tuple(ReceptacleSpec(name=r, contents=tuple(contents[r])) for r in receptacles)
    )
    return HouseholdTask(
        task_id=f"{task_type}/{seed}",
        instruction=_goal_text(task_type, obj, target, lamp),
        task_type=task_type,
        obj=obj,
        target=target,
        lamp=lamp,
        scene=scene,
    )


def generate_tasks(per_type: int = 2, seed: int = 0) -> list[HouseholdTask]:
    """``per_type`` tasks of each of the six types, seeds ``seed .. seed + per_type - 1``."""
    return [generate_task(t, seed + i) for t in TASK_TYPES for i in range(per_type)]


def fixture_tasks() -> list[HouseholdTask]:
    """The default offline task set: two generated tasks of every type."""
    return generate_tasks(per_type=2, seed=0)


def save_tasks(tasks: Iterable[HouseholdTask], path: str | Path) -> Path:
    """Write tasks as JSON lines (the format :func:`load_tasks` reads)."""
    from lemur_core import atomic_write_text

    text = "".join(t.model_dump_json() + "\n" for t in tasks)
    return atomic_write_text(path, text)


def load_tasks(path: str | Path) -> list[HouseholdTask]:
    """Read tasks written by :func:`save_tasks` (one :class:`HouseholdTask` JSON per line)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [HouseholdTask.model_validate(json.loads(line)) for line in lines if line.strip()]


def oracle_plan(task: HouseholdTask) -> list[str]:
    """A command sequence that solves ``task`` (computed on a simulated copy of the scene)."""
    world = HouseholdWorld.from_scene(task.scene)
    plan: list[str] = []

    def do(command: str) -> None:
        answer = world.execute(command)
        if answer == "Nothing happens.":
            raise AssertionError(f"oracle command {command!r} failed in {task.task_id}")
        plan.append(command)

    def visit(recep: str) -> None:
        if world.location != recep:
            do(f"go to {recep}")
        if not world.is_open[recep]:
            do(f"open {recep}")

    def fetch(exclude: set[str]) -> str:
        for recep in world.order:
            for item in world.contents[recep]:
                if kind_of(item) == task.obj and item not in exclude:
                    visit(recep)
                    do(f"take {item} from {recep}")
                    return item
        raise AssertionError(f"no {task.obj} left in {task.task_id}")

    if task.task_type == "look_at_obj_in_light":
        item = fetch(set())
        lamp_at = world.lamp_objects["desklamp 1"]
        visit(lamp_at)
        do("use desklamp 1")
        return plan
    target = next(r for r in world.order if kind_of(r) == task.target)
    placed: set[str] = set()
    for _ in range(2 if task.task_type == "pick_two_obj_and_place" else 1):
        item = fetch(placed)
        state = _STATE_OF.get(task.task_type)
        if state is not None:
            appliance = next(r for r in world.order if kind_of(r) == _APPLIANCE_FOR[state])
            do(f"go to {appliance}")
            verb = {"clean": "clean", "hot": "heat", "cool": "cool"}[state]
            do(f"{verb} {item} with {appliance}")
        visit(target)
        do(f"put {item} in/on {target}")
        placed.add(item)
    return plan
