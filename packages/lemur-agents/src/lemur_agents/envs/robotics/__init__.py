"""RoboCodeGen-style robotics API problems, checked on seeded inputs in the sandbox."""

from lemur_agents.envs.robotics.api import API_DOC, API_SOURCE, Scene, random_scene
from lemur_agents.envs.robotics.env import RoboticsApiEnv, RoboticsConfig, code_of
from lemur_agents.envs.robotics.problems import (
    RoboticsCase,
    RoboticsTask,
    fixture_tasks,
    make_cases,
    outputs_match,
    reference_outputs,
)
from lemur_agents.envs.robotics.robocodegen import (
    RoboCodeGenNotebookError,
    RoboCodeGenProblem,
    RoboCodeGenSuite,
    check_solution,
    load_notebook,
)
from lemur_agents.envs.robotics.task_file import (
    TASK_FILE_FORMAT,
    RoboticsTaskFileError,
    load_tasks,
    write_tasks,
)

__all__ = [
    "API_DOC",
    "API_SOURCE",
    "TASK_FILE_FORMAT",
    "RoboCodeGenNotebookError",
    "RoboCodeGenProblem",
    "RoboCodeGenSuite",
    "RoboticsApiEnv",
    "RoboticsCase",
    "RoboticsConfig",
    "RoboticsTask",
    "RoboticsTaskFileError",
    "Scene",
    "check_solution",
    "code_of",
    "fixture_tasks",
    "load_notebook",
    "load_tasks",
    "make_cases",
    "outputs_match",
    "random_scene",
    "reference_outputs",
    "write_tasks",
]
