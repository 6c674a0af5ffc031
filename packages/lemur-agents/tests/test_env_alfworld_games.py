"""AlfworldGameEnv on ALFWorld-format games through TextWorld's PDDL engine.

The test writes one game in ALFWorld's layout (``json_2.1.1/valid_unseen/<task>/<trial>/``
with ``game.tw-pddl`` and ``traj_data.json``; the domain, grammar and scene are this file's own,
in ALFRED's shape: mangled AI2-THOR ids, an ``alfred`` domain, a TextWorld grammar) and plays it
with the expert plan to ``won``. With ``LEMUR_ALFWORLD_DATA`` pointing at real ALFWorld data
(for example ``data/processed/alfworld`` of a ``git clone xingyaoww/mint-bench``), MINT's
recorded ground-truth trajectories are replayed on the real games and their observations must
match the engine's word for word.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path

import pytest
from lemur_agents.envs.household.alfworld import (
    ALFWORLD_MAX_ENV_STEPS,
    MINT_GAME_COUNT,
    AlfworldDataError,
    AlfworldGameEnv,
    alfred_display_names,
    alfworld_tasks,
    mint_observation,
)


def _engine_missing() -> bool:
    return importlib.util.find_spec("textworld") is None or (
        importlib.util.find_spec("fast_downward") is None
    )


needs_engine = pytest.mark.skipif(
    _engine_missing(), reason="needs TextWorld's PDDL engine: pip install 'textworld[pddl]'"
)

DOMAIN = """
(define (domain alfred)
 (:requirements :adl :typing)
 (:types agent location receptacle object rtype otype)
 (:predicates
    (atLocation ?a - agent ?l - location)
    (receptacleAtLocation ?r - receptacle ?l - location)
    (objectAtLocation ?o - object ?l - location)
    (openable ?r - receptacle)
    (opened ?r - receptacle)
    (inReceptacle ?o - object ?r - receptacle)
    (receptacleType ?r - receptacle ?t - rtype)
    (objectType ?o - object ?t - otype)
    (holds ?a - agent ?o - object)
    (holdsAny ?a - agent)
    (pickupable ?o - object)
    (toggleable ?o - object)
    (isOn ?o - object)
    (isToggled ?o - object)
 )
 (:action GotoLocation
    :parameters (?a - agent ?lStart - location ?lEnd - location ?r - receptacle)
    :precondition (and (atLocation ?a ?lStart) (receptacleAtLocation ?r ?lEnd))
    :effect (and (not (atLocation ?a ?lStart)) (atLocation ?a ?lEnd))
 )
 (:action OpenObject
    :parameters (?a - agent ?l - location ?r - receptacle)
    :precondition (and (openable ?r) (atLocation ?a ?l) (receptacleAtLocation ?r ?l)
                       (not (opened ?r)))
    :effect (opened ?r)
 )
 (:action PickupObject
    :parameters (?a - agent ?l - location ?o - object ?r - receptacle)
    :precondition (and (pickupable ?o) (atLocation ?a ?l) (receptacleAtLocation ?r ?l)
                       (inReceptacle ?o ?r) (not (holdsAny ?a))
                       (or (not (openable ?r)) (opened ?r)))
    :effect (and (not (inReceptacle ?o ?r)) (holds ?a ?o) (holdsAny ?a)
                 (not (objectAtLocation ?o ?l)))
 )
 (:action PutObject
    :parameters (?a - agent ?l - location ?o - object ?r - receptacle)
    :precondition (and (holds ?a ?o) (atLocation ?a ?l) (receptacleAtLocation ?r ?l)
                       (or (not (openable ?r)) (opened ?r)))
    :effect (and (inReceptacle ?o ?r) (objectAtLocation ?o ?l) (not (holds ?a ?o))
                 (not (holdsAny ?a)))
 )
 (:action ToggleObject
    :parameters (?a - agent ?l - location ?o - object ?r - receptacle)
    :precondition (and (toggleable ?o) (atLocation ?a ?l) (receptacleAtLocation ?r ?l)
                       (inReceptacle ?o ?r))
    :effect (and (when (isOn ?o) (not (isOn ?o))) (when (not (isOn ?o)) (isOn ?o))
                 (isToggled ?o))
 )
 (:action inventory
    :parameters (?a - agent)
    :precondition (and)
    :effect (and)
 )
)
"""

# TextWorld's grammar format (.twl2): a JSON grammar block, then one block per PDDL action with
# its command template and feedback rule.
_RULES = {
    "intro": [{"rhs": "-= Welcome to TextWorld, ALFRED! =-\n\n#look.feedback#\n\n#task#"}],
    "task": [{"rhs": "Your task is to: examine the book with the desklamp."}],
    "look.feedback": [
        {
            "rhs": "You are in the middle of a room. Looking quickly around you, you see "
            "[{r.indefinite + ' ' + r.name | receptacleatlocation(r:receptacle, l:location)}]."
        }
    ],
    "contents": [
        {
            "condition": "openable(r:receptacle) & opened(r:receptacle)",
            "rhs": "The {r.name} is open. In it, you see "
            "[{o.indefinite + ' ' + o.name | inreceptacle(o:object, r:receptacle)}].",
        },
        {"condition": "openable(r:receptacle)", "rhs": "The {r.name} is closed."},
        {
            "rhs": "On the {r.name}, you see "
            "[{o.indefinite + ' ' + o.name | inreceptacle(o:object, r:receptacle)}]."
        },
    ],
    "GotoLocation.feedback": [{"rhs": "You arrive at {lend.name}. #contents#"}],
    "OpenObject.feedback": [{"rhs": "You open the {r.name}. #contents#"}],
    "PickupObject.feedback": [{"rhs": "You pick up the {o.name} from the {r.name}."}],
    "PutObject.feedback": [{"rhs": "You put the {o.name} in/on the {r.name}."}],
    "ToggleObject.feedback": [
        {
            "condition": "toggleable(o:object) & istoggled(o:object)",
            "rhs": "You turn on the {o.name}.",
        },
        {"rhs": "You turn off the {o.name}."},
    ],
    "inventory.feedback": [
        {
            "condition": "holdsany(a:agent)",
            "rhs": "You are carrying: [{o.indefinite + ' ' + o.name | holds(a:agent, o:object)}].",
        },
        {"rhs": "You are not carrying anything."},
    ],
    "list_empty": [{"rhs": "nothing"}],
    "list_separator": [{"rhs": ", "}],
    "list_last_separator": [{"rhs": ", and "}],
}
_ACTIONS = {
    "GotoLocation": "go to [{r.name | receptacleatlocation(r:receptacle, lend:location)}]",
    "OpenObject": "open {r}",
    "PickupObject": "take {o} from {r}",
    "PutObject": "put {o} in/on {r}",
    "ToggleObject": "use {o}",
    "inventory": "inventory",
}
GRAMMAR = f'grammar :: """\n{json.dumps(_RULES, indent=4)}\n""";\n\n' + "\n".join(
    f'action {name} {{\n    template :: "{template}";\n    feedback :: "#{name}.feedback#";\n}}\n'
    for name, template in _ACTIONS.items()
)

# AI2-THOR ids in ALFWorld's escaped form; two drawers check the display numbering.
BED = "Bed_bar__plus_01_dot_23_bar__plus_00_dot_00_bar__plus_01_dot_67"
DESK = "Desk_bar__minus_01_dot_58_bar__plus_00_dot_02_bar__plus_00_dot_67"
DRAWER_A = "Drawer_bar__minus_00_dot_51_bar__plus_00_dot_47_bar__minus_00_dot_85"
DRAWER_B = "Drawer_bar__plus_02_dot_07_bar__plus_00_dot_21_bar__plus_00_dot_73"
BOOK = "Book_bar__plus_01_dot_12_bar__plus_00_dot_57_bar__plus_01_dot_87"
LAMP = "DeskLamp_bar__minus_02_dot_30_bar__plus_00_dot_87_bar__plus_00_dot_75"
PEN = "Pen_bar__minus_00_dot_62_bar__plus_00_dot_48_bar__minus_00_dot_88"
LOCS = {
    "start": "loc_bar_0_bar_0_bar_0_bar_0",
    BED: "loc_bar_4_bar_6_bar_0_bar_30",
    DESK: "loc_bar__minus_5_bar_3_bar_3_bar_45",
    DRAWER_A: "loc_bar__minus_1_bar__minus_2_bar_2_bar_60",
    DRAWER_B: "loc_bar__minus_7_bar_1_bar_3_bar_60",
}
PROBLEM = f"""
(define (problem plan_trial_T20190908_000000_000000)
 (:domain alfred)
 (:objects
    agent1 - agent
    {" ".join(LOCS.values())} - location
    {BED} {DESK} {DRAWER_A} {DRAWER_B} - receptacle
    {BOOK} {LAMP} {PEN} - object
    BedType DeskType DrawerType - rtype
    BookType DeskLampType PenType - otype
 )
 (:init
    (atLocation agent1 {LOCS["start"]})
    {" ".join(f"(receptacleAtLocation {r} {loc})" for r, loc in LOCS.items() if r != "start")}
    (receptacleType {BED} BedType) (receptacleType {DESK} DeskType)
    (receptacleType {DRAWER_A} DrawerType) (receptacleType {DRAWER_B} DrawerType)
    (openable {DRAWER_A}) (openable {DRAWER_B})
    (objectType {BOOK} BookType) (objectType {LAMP} DeskLampType) (objectType {PEN} PenType)
    (inReceptacle {BOOK} {BED}) (objectAtLocation {BOOK} {LOCS[BED]}) (pickupable {BOOK})
    (inReceptacle {LAMP} {DESK}) (objectAtLocation {LAMP} {LOCS[DESK]}) (toggleable {LAMP})
    (inReceptacle {PEN} {DRAWER_A}) (objectAtLocation {PEN} {LOCS[DRAWER_A]}) (pickupable {PEN})
 )
 (:goal
    (and
        (exists (?ot - object ?r - receptacle ?a - agent ?l - location)
            (and (objectType ?ot DeskLampType) (toggleable ?ot) (isToggled ?ot)
                 (receptacleAtLocation ?r ?l) (atLocation ?a ?l) (inReceptacle ?ot ?r)))
        (exists (?o - object ?a - agent) (and (objectType ?o BookType) (holds ?a ?o)))
    )
 )
)
"""
TASK_DIR = "look_at_obj_in_light-Book-None-DeskLamp-308"
TRIAL = "trial_T20190908_000000_000000"
EXPERT_PLAN = ["go to bed 1", "take book 1 from bed 1", "go to desk 1", "use desklamp 1"]


def write_game(root: Path, *, solvable: bool = True, task_dir: str = TASK_DIR) -> Path:
    trial = root / "json_2.1.1" / "valid_unseen" / task_dir / TRIAL
    trial.mkdir(parents=True)
    game = {
        "pddl_domain": DOMAIN,
        "grammar": GRAMMAR,
        "pddl_problem": PROBLEM,
        "solvable": solvable,
    }
    (trial / "game.tw-pddl").write_text(json.dumps(game))
    (trial / "traj_data.json").write_text(json.dumps({"task_type": "look_at_obj_in_light"}))
    return trial / "game.tw-pddl"


def test_display_names_follow_alfworlds_numbering() -> None:
    ids = [s.lower() for s in (DRAWER_A, DRAWER_B, BED, "sink_bar_+00.1_bar_sinkbasin")]
    names = alfred_display_names([*ids, "agent1"])
    # Ascending ids count down: the '_minus_' drawer sorts first and is drawer 2.
    assert names[DRAWER_A.lower()] == "drawer 2" and names[DRAWER_B.lower()] == "drawer 1"
    assert names[BED.lower()] == "bed 1" and names["sink_bar_+00.1_bar_sinkbasin"] == "sinkbasin 1"
    assert names["agent1"] == "agent1 "


def test_mint_observation_drops_the_arrival_sentence_only() -> None:
    assert mint_observation("You arrive at loc 4. On the bed 1, you see a book 1.") == (
        "On the bed 1, you see a book 1."
    )
    assert mint_observation("You open the drawer 1.") == "You open the drawer 1."


def test_games_are_sorted_unsolvable_ones_skipped_and_an_order_file_is_followed(
    tmp_path: Path,
) -> None:
    write_game(tmp_path, task_dir="pick_and_place_simple-Pen-None-Desk-308")
    write_game(tmp_path)
    write_game(tmp_path, task_dir="pick_clean_then_place_in_recep-Pen-None-Desk-1", solvable=False)
    tasks = alfworld_tasks(tmp_path)
    assert [t.instruction for t in tasks] == [TASK_DIR, "pick_and_place_simple-Pen-None-Desk-308"]
    assert {t.task_type for t in tasks} == {"look_at_obj_in_light"}  # from traj_data.json
    order = tmp_path / "gamefile_id.txt"
    order.write_text(f"pick_and_place_simple-Pen-None-Desk-308/{TRIAL}\n{TASK_DIR}/{TRIAL}\n")
    picked = alfworld_tasks(tmp_path, order_file=order)
    assert [t.instruction for t in picked] == ["pick_and_place_simple-Pen-None-Desk-308", TASK_DIR]
    order.write_text("no-such-task/trial_T1\n")
    with pytest.raises(AlfworldDataError, match="names 1 games not under"):
        alfworld_tasks(tmp_path, order_file=order)


@needs_engine
def test_expert_plan_wins_a_real_format_game(tmp_path: Path) -> None:
    write_game(tmp_path)
    env = AlfworldGameEnv(alfworld_tasks(tmp_path))
    try:
        observation, info = env.reset()
        assert observation.startswith("-= Welcome to TextWorld, ALFRED! =-")
        assert observation.endswith("Your task is to: examine the book with the desklamp.")
        assert "a drawer 2" in observation and "go to bed 1" in info["admissible_commands"]
        assert info["admissible_commands"] == sorted(info["admissible_commands"])
        assert info["won"] is False
        rewards = []
        for command in EXPERT_PLAN:
            assert command in info["admissible_commands"], (command, info["admissible_commands"])
            observation, reward, terminated, _, info = env.step(command)
            rewards.append(reward)
        assert observation == "You turn on the desklamp 1."
        assert rewards == [0.0, 0.0, 0.0, 1.0] and terminated and info["won"] is True
    finally:
        env.close()


@needs_engine
def test_toggle_is_not_a_game_command_and_mint_mode_processes_text(tmp_path: Path) -> None:
    write_game(tmp_path)
    env = AlfworldGameEnv(alfworld_tasks(tmp_path), mint=True)
    try:
        observation, info = env.reset()
        assert observation.startswith("You are in the middle of a room.")  # banner dropped
        observation, *_ = env.step("go to desk 1")
        assert observation == "On the desk 1, you see a desklamp 1."
        # MINT's toggle() tool sends 'toggle X'; the game's switch command is 'use X'.
        observation, reward, terminated, _, info = env.step("toggle desklamp 1")
        assert (observation, reward, terminated) == ("Nothing happens.", 0.0, False)
        assert info["mint_success"] is False and info["env_steps"] == 2
        observation, *_ = env.step("go to drawer 2")
        assert observation == "The drawer 2 is closed."
    finally:
        env.close()


@needs_engine
def test_mint_counts_the_50th_command_as_success_while_the_reward_stays_won(
    tmp_path: Path,
) -> None:
    write_game(tmp_path)
    env = AlfworldGameEnv(alfworld_tasks(tmp_path), max_turns=60, mint=True)
    try:
        env.reset()
        for step in range(1, ALFWORLD_MAX_ENV_STEPS + 1):
            _, reward, terminated, _, info = env.step("inventory")
            assert terminated == (step == ALFWORLD_MAX_ENV_STEPS)
        assert (reward, info["won"], info["mint_success"]) == (0.0, False, True)
    finally:
        env.close()


_DATA = os.environ.get("LEMUR_ALFWORLD_DATA")
_CALL = re.compile(r"^(\w+)\((.*)\)$")


def _mint_command(line: str) -> str:
    """One of MINT's tool calls in gt_traj.txt as the game command its tool sends."""
    match = _CALL.match(line.strip())
    assert match, line
    tool, args = match.group(1), [a.strip().strip('"') for a in match.group(2).split(",") if a]
    forms = {
        "goto": "go to {}",
        "take": "take {} from {}",
        "take_from": "take {} from {}",
        "put": "put {} in/on {}",
        "open": "open {}",
        "open_receptacle": "open {}",
        "close": "close {}",
        "close_receptacle": "close {}",
        "toggle": "toggle {}",
        "use": "use {}",
        "clean": "clean {} with {}",
        "heat": "heat {} with {}",
        "cool": "cool {} with {}",
        "look": "look",
    }
    return forms[tool].format(*args)


def _replay(gt_traj: str) -> tuple[list[str], list[str]]:
    commands: list[str] = []
    observations: list[str] = []
    for block in gt_traj.split("Assistant:")[1:]:
        code = block.split("<execute>")[1].split("</execute>")[0]
        commands += [_mint_command(line) for line in code.strip().splitlines() if line.strip()]
        observations += block.split("Observation:")[1].strip().splitlines()
    return commands, observations


@pytest.mark.slow
@needs_engine
@pytest.mark.skipif(not _DATA, reason="set LEMUR_ALFWORLD_DATA to ALFWorld data (json_2.1.1/)")
def test_mint_ground_truth_trajectories_win_the_real_games_word_for_word() -> None:
    assert _DATA is not None
    root = Path(_DATA)
    order = root / "gamefile_id.txt"
    tasks = alfworld_tasks(root, order_file=order if order.is_file() else None)
    if order.is_file():
        assert len(tasks) == MINT_GAME_COUNT
    with_traj = [t for t in tasks if (t.game_file.parent / "gt_traj.txt").is_file()]
    assert with_traj, "no gt_traj.txt beside the games"
    env = AlfworldGameEnv(with_traj[:6], max_turns=200, mint=True)
    try:
        for task in env.tasks:
            commands, expected = _replay((task.game_file.parent / "gt_traj.txt").read_text())
            env.reset(options={"task_id": task.task_id})
            seen = [env.step(command)[0] for command in commands]
            assert seen == expected, task.task_id
            assert env._won, task.task_id
    finally:
        env.close()


@needs_engine
def test_alfworld_game_env_passes_gymnasium_check_env(tmp_path: Path) -> None:
    from gymnasium.utils.env_checker import check_env

    write_game(tmp_path)
    env = AlfworldGameEnv(alfworld_tasks(tmp_path))
    try:
        check_env(env)
    finally:
        env.close()


@needs_engine
def test_registered_alfworld_env_loads_its_games_from_config(tmp_path: Path) -> None:
    import gymnasium as gym
    import lemur_agents.envs  # noqa: F401 - registers the envs

    write_game(tmp_path)
    env = gym.make("lemur/ALFWorld-v0", config={"data_dir": tmp_path, "mint": True})
    try:
        observation, info = env.reset(seed=0)
        assert observation.startswith("You are in the middle of a room.")
        game = env.unwrapped
        assert isinstance(game, AlfworldGameEnv) and game.task is not None
        assert info["admissible_commands"] and game.task.task_type == "look_at_obj_in_light"
    finally:
        env.close()


def test_alfworld_env_without_games_names_what_to_pass() -> None:
    with pytest.raises(ValueError, match="config=\\{'data_dir': PATH\\}"):
        AlfworldGameEnv()
