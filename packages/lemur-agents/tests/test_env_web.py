"""lemur/Web-v0: WebArena actions in a real headless Chromium against the project's test site."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import lemur_agents.envs  # noqa: F401 - registers the envs
import pytest
from gymnasium.utils.env_checker import check_env
from lemur_agents.envs.web import (
    WebArenaEval,
    WebEnv,
    clean_answer,
    evaluate,
    find_element_id,
    load_tasks,
    must_include,
    url_score,
)
from lemur_agents.envs.web.browser import find_chromium

REPO_ROOT = Path(__file__).resolve().parents[3]
WEBARENA = REPO_ROOT.parent / "shared" / "benchmarks" / "webarena" / "test.raw.json"
needs_chromium = pytest.mark.skipif(
    find_chromium("/usr/bin/chromium") is None, reason="no Chromium installed"
)


@pytest.fixture(scope="module")
def env() -> Iterator[WebEnv]:
    environment = WebEnv()
    yield environment
    environment.close()


def _with_ids(action: str, observation: str) -> str:
    """Replace the element name in a fixture's reference action by its current id."""
    match = re.match(r"(click|type|hover) \[([^\]]*)\](.*)", action)
    if not match:
        return action
    element = find_element_id(observation, match.group(2), role="textbox")
    element = element or find_element_id(observation, match.group(2))
    assert element is not None, f"{match.group(2)!r} not on the page:\n{observation}"
    return f"{match.group(1)} [{element}]{match.group(3)}"


@needs_chromium
def test_web_env_passes_gymnasium_check_env() -> None:
    environment = gym.make("lemur/Web-v0")
    check_env(environment.unwrapped)
    environment.close()


@needs_chromium
def test_oracle_clicks_and_types_in_chromium_and_solves_every_fixture_task(env: WebEnv) -> None:
    for task in env.tasks:
        observation, info = env.reset(options={"task_id": task.task_id})
        assert info["engine"].startswith("playwright+chromium")
        assert "OBJECTIVE: " + task.instruction in observation
        reward, terminated = 0.0, False
        for action in task.reference_actions:
            observation, reward, terminated, _, info = env.step(_with_ids(action, observation))
            assert info["action_executed"], observation
        assert (reward, terminated) == (1.0, True), task.task_id


@needs_chromium
def test_wrong_answers_and_untouched_pages_score_zero(env: WebEnv) -> None:
    env.reset(options={"task_id": "shop/price"})
    assert env.step("stop [$19.99]")[1] == 0.0
    env.reset(options={"task_id": "shop/bio"})  # bio unchanged -> program_html fails
    assert env.step("stop [done]")[1] == 0.0


@needs_chromium
def test_python_call_representation_drives_the_same_browser(env: WebEnv) -> None:
    observation, _ = env.reset(options={"task_id": "shop/search"})
    box = find_element_id(observation, "Search products", role="textbox")
    observation, *_ = env.step(f'type(id={box}, content="lemur", press_enter_after=True)')
    assert "URL: " in observation and "search?q=lemur" in observation
    assert "Lemur Plush Toy" in observation and "Trail Running Shoes" not in observation
    assert env.step('stop(answer="N/A")')[1] == 1.0


@needs_chromium
def test_unparsable_action_leaves_the_page_and_says_why(env: WebEnv) -> None:
    before, _ = env.reset(options={"task_id": "shop/price"})
    after, reward, terminated, _, info = env.step("please click the mug")
    assert not info["action_executed"] and reward == 0.0 and not terminated
    assert "invalid action" in after
    assert after.split("PREVIOUS ACTION")[0] == before.split("PREVIOUS ACTION")[0]


def test_string_evaluators_follow_webarena_cleaning_and_tokenizing() -> None:
    assert clean_answer(' "Quest Lumaflex Band" ') == "quest lumaflex band"
    spec = WebArenaEval(eval_types=("string_match",), reference_answers={"must_include": ["3"]})
    score = lambda answer: evaluate(spec, answer=answer, page_url="", read_page=lambda url, loc: "")  # noqa: E731
    assert score("There are 3 orders") == 1.0
    assert score("There are 13 orders") == 0.0  # a one-character answer must be a whole token
    assert must_include("lumaflex", "Quest LUMAFLEX band") == 1.0


def test_url_match_is_gold_in_pred_with_or_alternatives() -> None:
    spec = WebArenaEval(
        eval_types=("url_match",),
        reference_url="http://h:1/search?q=lemur |OR| http://h:1/catalog?q=lemur",
    )
    assert url_score(spec, "http://h:1/search?q=lemur&page=2") == 1.0
    assert url_score(spec, "http://h:1/search?q=cat") == 0.0
    assert url_score(spec, "http://h:1/other") == 0.0


@pytest.mark.shared_data
def test_every_webarena_task_config_loads() -> None:
    if not WEBARENA.exists():
        pytest.skip(f"{WEBARENA} is absent")
    tasks = load_tasks(WEBARENA)
    assert len(tasks) == 812
    assert {kind for t in tasks for kind in t.eval.eval_types} == {
        "string_match",
        "url_match",
        "program_html",
    }
    assert all(t.start_url.startswith("__") for t in tasks)


@needs_chromium
def test_several_web_envs_in_one_thread_share_chromium_but_not_sessions() -> None:
    # The episode loop plays many web episodes at once in one thread; Playwright's sync API
    # allows one driver per thread, so the envs must share it (and stay isolated).
    first, second = WebEnv(), WebEnv()
    try:
        obs_a, _ = first.reset(options={"task_id": "shop/search"})
        obs_b, _ = second.reset(options={"task_id": "shop/price"})
        box = find_element_id(obs_a, "Search products", role="textbox")
        obs_a, *_ = first.step(f"type [{box}] [lemur] [1]")
        assert "search?q=lemur" in obs_a
        assert "search?q=lemur" not in second.step("scroll [down]")[0]  # its own tab
        first.close()  # the other env keeps working after one closes
        mug = find_element_id(obs_b, "Harmonizing Code Mug")
        second.step(f"click [{mug}]")
        assert second.step("stop [$12.50]")[1] == 1.0
    finally:
        first.close()
        second.close()
    third = WebEnv()  # after all closed, a new one starts a fresh driver
    try:
        assert "OBJECTIVE" in third.reset(options={"task_id": "shop/price"})[0]
    finally:
        third.close()


@needs_chromium
def test_the_local_site_is_shown_under_a_stable_name_that_goto_accepts() -> None:
    first, second = WebEnv(), WebEnv()
    try:
        obs_a, _ = first.reset(options={"task_id": "shop/price"})
        obs_b, _ = second.reset(options={"task_id": "shop/price"})
        assert first._site is not None and second._site is not None
        assert first._site.url != second._site.url  # two servers, two ports ...
        assert obs_a == obs_b  # ... one observation
        assert "URL: http://lemur-shop.localhost" in obs_a and "127.0.0.1" not in obs_a
        after, *_ = first.step("goto [http://lemur-shop.localhost/search?q=lemur]")
        assert "URL: http://lemur-shop.localhost/search?q=lemur" in after
        assert "Lemur Plush Toy" in after
    finally:
        first.close()
        second.close()
