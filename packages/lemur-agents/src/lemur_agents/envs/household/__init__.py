"""ALFWorld's text household: world, task generator and oracle, gymnasium env."""

from lemur_agents.envs.household.alfworld import (
    AlfworldDataError,
    AlfworldGameConfig,
    AlfworldGameEnv,
    AlfworldTask,
    alfred_display_names,
    alfworld_tasks,
)
from lemur_agents.envs.household.env import HouseholdConfig, HouseholdEnv
from lemur_agents.envs.household.tasks import (
    TASK_TYPES,
    HouseholdTask,
    fixture_tasks,
    generate_task,
    generate_tasks,
    goal_satisfied,
    load_tasks,
    oracle_plan,
    save_tasks,
)
from lemur_agents.envs.household.world import NOTHING_HAPPENS, HouseholdWorld, SceneSpec

__all__ = [
    "NOTHING_HAPPENS",
    "TASK_TYPES",
    "AlfworldDataError",
    "AlfworldGameConfig",
    "AlfworldGameEnv",
    "AlfworldTask",
    "HouseholdConfig",
    "HouseholdEnv",
    "HouseholdTask",
    "HouseholdWorld",
    "SceneSpec",
    "alfred_display_names",
    "alfworld_tasks",
    "fixture_tasks",
    "generate_task",
    "generate_tasks",
    "goal_satisfied",
    "load_tasks",
    "oracle_plan",
    "save_tasks",
]
