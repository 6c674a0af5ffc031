"""The paper's environments as gymnasium envs, registered under the ``lemur/`` namespace.

Importing this package registers every env by a lazy entry-point string, so it costs no
import of any env module (nor of Playwright, sqlite databases or sandboxes) until
``gymnasium.make("lemur/<Name>-v0", ...)`` is called.

========================  ============================================================  =========
id                        entry point                                                   max turns
========================  ============================================================  =========
lemur/PythonDebug-v0      lemur_agents.envs.python_debug:PythonDebugEnv                 5
lemur/SQL-v0              lemur_agents.envs.sql.env:SqlEnv                              10
lemur/Bash-v0             lemur_agents.envs.bash.env:BashEnv                            10
lemur/CTF-v0              lemur_agents.envs.ctf:CtfEnv                                  10
lemur/RoboticsAPI-v0      lemur_agents.envs.robotics.env:RoboticsApiEnv                 5
lemur/RoboCodeGen-v0      lemur_agents.envs.robotics.robocodegen_env:RoboCodeGenEnv     5
lemur/Household-v0        lemur_agents.envs.household.env:HouseholdEnv                  50
lemur/ALFWorld-v0         lemur_agents.envs.household.alfworld:AlfworldGameEnv          50
lemur/Web-v0              lemur_agents.envs.web.env:WebEnv                              30
========================  ============================================================  =========

``lemur/RoboCodeGen-v0`` needs ``config={"notebook_path": ...}``: the Code-as-Policies notebook
is Google's file and is not shipped. ``lemur/ALFWorld-v0`` needs ``config={"data_dir": ...}``
(ALFWorld's games) and TextWorld's PDDL engine (``textworld[pddl]``).
"""

from __future__ import annotations

import gymnasium

ENV_ENTRY_POINTS: dict[str, str] = {
    "lemur/PythonDebug-v0": "lemur_agents.envs.python_debug:PythonDebugEnv",
    "lemur/SQL-v0": "lemur_agents.envs.sql.env:SqlEnv",
    "lemur/Bash-v0": "lemur_agents.envs.bash.env:BashEnv",
    "lemur/CTF-v0": "lemur_agents.envs.ctf:CtfEnv",
    "lemur/RoboticsAPI-v0": "lemur_agents.envs.robotics.env:RoboticsApiEnv",
    "lemur/RoboCodeGen-v0": "lemur_agents.envs.robotics.robocodegen_env:RoboCodeGenEnv",
    "lemur/Household-v0": "lemur_agents.envs.household.env:HouseholdEnv",
    "lemur/ALFWorld-v0": "lemur_agents.envs.household.alfworld:AlfworldGameEnv",
    "lemur/Web-v0": "lemur_agents.envs.web.env:WebEnv",
}


def register_envs() -> None:
    """Register every Lemur env with gymnasium (idempotent: already registered ids are kept)."""
    for env_id, entry_point in ENV_ENTRY_POINTS.items():
        if env_id not in gymnasium.registry:
            # Turn limits live in each env's config (they differ per benchmark), so no
            # TimeLimit wrapper is added here.
            gymnasium.register(id=env_id, entry_point=entry_point, disable_env_checker=False)


register_envs()

__all__ = ["ENV_ENTRY_POINTS", "register_envs"]
