"""``lemur/Web-v0``: WebArena's action space and evaluators on a real headless Chromium.

Observation (WebArena's prompt fields): the tab bar, the accessibility tree of the focused tab,
``URL:``, ``OBJECTIVE:`` and ``PREVIOUS ACTION:``. Actions are accepted in both of the paper's
representations (Fig. 5): WebArena's symbolic ``type [12] [foo] [1]`` or the Python call
``type(id=12, content="foo", press_enter_after=True)``; a text that is neither leaves the page
unchanged and says why. ``stop [answer]`` ends the episode and runs the task's evaluators
(:mod:`lemur_agents.envs.web.evaluators`); reaching the turn limit evaluates too, with an
empty answer, as WebArena scores every finished trajectory.

Sites: the project's Lemur Shop (:mod:`lemur_agents.envs.web.site`) is served on loopback
for the fixture tasks; a WebArena deployment is used by mapping its placeholders in
``site_urls`` (``{"__SHOPPING__": "http://host:7770", ...}``) and pointing ``tasks_path`` at
its ``test.raw.json`` (``auth_dir`` holds the ``.auth/*_state.json`` login states).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lemur_core import ActionParseError
from pydantic import BaseModel, ConfigDict, Field

from lemur_agents.actions import WEBARENA_SCHEMA, Action, PythonCallMapper, SymbolicMapper
from lemur_agents.envs.base import TextTaskEnv
from lemur_agents.envs.web.browser import Browser, BrowserActionError
from lemur_agents.envs.web.evaluators import FuzzyJudge, UnscorableTaskError, evaluate
from lemur_agents.envs.web.site import LocalSite
from lemur_agents.envs.web.tasks import LOCAL_SITE, WebTask, fixture_tasks, load_tasks, substitute

_SYMBOLIC_START = re.compile(r"^\s*[a-z_]+\s*(\[|$)")
# The Lemur Shop listens on a free loopback port, different in every run; the agent sees (and
# may `goto`) this stable name instead, so equal episodes give equal observations.
LOCAL_SITE_SHOWN = "http://lemur-shop.localhost"


class WebEnvConfig(BaseModel):
    """Configuration of :class:`WebEnv`; without ``tasks_path`` it runs the Lemur Shop tasks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tasks_path: Path | None = Field(None, description="WebArena test.raw.json or config dir")
    site_urls: dict[str, str] = Field(
        default_factory=dict, description="placeholder -> base URL of a WebArena deployment"
    )
    auth_dir: Path | None = Field(None, description="directory holding WebArena's .auth/")
    chromium_path: str = "/usr/bin/chromium"
    viewport: tuple[int, int] = (1280, 720)
    max_turns: int = Field(30, ge=1, description="WebArena's default step budget")
    page_timeout_ms: int = Field(15_000, ge=100)
    settle_ms: int = Field(300, ge=0, description="wait after click/type/press for navigation")
    max_tree_chars: int = Field(30_000, ge=100)
    judge_model: str | None = Field(
        None, description="model spec of the LLM judge for fuzzy_match/ua_match (WebArena: GPT-4)"
    )
    judge_cache: Path | None = Field(
        None, description="judge replies (JSON lines); default $LEMUR_CACHE/webarena_judge.jsonl"
    )


class WebEnv(TextTaskEnv[WebTask]):
    """WebArena-style browsing; see the module docstring."""

    engine = "playwright+chromium"
    isolation = "headless chromium, loopback sites, --disable-background-networking"
    # Playwright's sync API binds a browser to the thread that made it: loops must step this
    # env in the thread that reset it (see lemur_agents.loop.arun_episodes).
    thread_affine = True

    def __init__(
        self,
        config: WebEnvConfig | Mapping[str, Any] | None = None,
        *,
        tasks: Sequence[WebTask] | None = None,
        fuzzy_judge: FuzzyJudge | None = None,
    ) -> None:
        cfg = config if isinstance(config, WebEnvConfig) else WebEnvConfig(**(config or {}))
        self.config = cfg
        if tasks is None:
            tasks = load_tasks(cfg.tasks_path) if cfg.tasks_path else fixture_tasks()
        super().__init__(tasks, cfg.max_turns)
        if fuzzy_judge is None and cfg.judge_model:
            from lemur_core.assets import cache_dir

            from lemur_agents.envs.web.judge import LLMJudge

            cache = cfg.judge_cache or cache_dir() / "webarena_judge.jsonl"
            fuzzy_judge = LLMJudge.from_spec(cfg.judge_model, cache)
        self.fuzzy_judge = fuzzy_judge
        self._symbolic = SymbolicMapper(WEBARENA_SCHEMA)
        self._python = PythonCallMapper(WEBARENA_SCHEMA)
        self._browser: Browser | None = None
        self._site: LocalSite | None = None
        self._previous = "None"

    # -- plumbing -------------------------------------------------------------------------

    def _urls(self) -> dict[str, str]:
        urls = dict(self.config.site_urls)
        if self._site is not None:
            urls[LOCAL_SITE] = self._site.url
        return urls

    def _ensure_running(self, task: WebTask) -> Browser:
        if LOCAL_SITE in task.start_url and self._site is None:
            self._site = LocalSite().start()
        if self._browser is None:
            self._browser = Browser(
                self.config.chromium_path,
                viewport=self.config.viewport,
                timeout_ms=self.config.page_timeout_ms,
                settle_ms=self.config.settle_ms,
            )
            self.engine = f"playwright+chromium {self._browser.version}"
        return self._browser

    def _observation(self) -> str:
        assert self._browser is not None and self.task is not None
        tree = self._browser.observe().text[: self.config.max_tree_chars]
        text = (
            f"{self._browser.tabs()}\n\n{tree}\n\nURL: {self._browser.page.url}\n"
            f"OBJECTIVE: {self.task.instruction}\nPREVIOUS ACTION: {self._previous}"
        )
        if self._site is not None:
            text = text.replace(self._site.url.rstrip("/"), LOCAL_SITE_SHOWN)
        return text

    def parse_action(self, text: str) -> Action:
        """Parse either representation of a WebArena action (symbolic first when it looks
        symbolic); raise :class:`ActionParseError` naming both failures otherwise."""
        first, second = (
            (self._symbolic, self._python)
            if _SYMBOLIC_START.match(text)
            else (self._python, self._symbolic)
        )
        try:
            return first.parse(text)
        except ActionParseError as err_first:
            try:
                return second.parse(text)
            except ActionParseError:
                raise err_first from None

    # -- episode --------------------------------------------------------------------------

    def _start(self, task: WebTask) -> str:
        browser = self._ensure_running(task)
        if task.require_reset and self._site is not None:
            self._site.reset()
        storage = None
        if task.storage_state and self.config.auth_dir is not None:
            storage = str(self.config.auth_dir / Path(task.storage_state).name)
        browser.new_session(substitute(task.start_url, self._urls()), storage_state=storage)
        self._previous = "None"
        return self._observation()

    def _read_page(self, url: str, locator: str) -> str:
        assert self._browser is not None
        if url == "last":
            page, temporary = self._browser.page, False
        else:
            page, temporary = self._browser.page.context.new_page(), True
            page.goto(substitute(url, self._urls()), wait_until="load")
        try:
            if not locator.strip():
                return str(page.content())
            value = page.evaluate(f"() => {locator}")
            return "" if value is None else str(value)
        except Exception:  # a locator that finds nothing selects nothing, as upstream
            return ""
        finally:
            if temporary:
                page.close()

    def _score(self, answer: str) -> tuple[float, dict[str, Any]]:
        assert self.task is not None and self._browser is not None
        urls = self._urls()
        spec = self.task.eval.model_copy(
            update={
                "reference_url": substitute(self.task.eval.reference_url, urls),
                "program_html": tuple(
                    {**t, "url": substitute(str(t.get("url", "last")), urls)}
                    for t in self.task.eval.program_html
                ),
            }
        )
        try:
            reward = evaluate(
                spec,
                answer=answer,
                page_url=self._browser.page.url,
                read_page=self._read_page,
                intent=self.task.instruction,
                fuzzy_judge=self.fuzzy_judge,
            )
            return reward, {"answer": answer, **self._judgements()}
        except UnscorableTaskError as err:
            return 0.0, {"answer": answer, "unscorable": str(err), **self._judgements()}

    def _judgements(self) -> dict[str, Any]:
        take = getattr(self.fuzzy_judge, "take_judgements", None)
        judged = take() if take is not None else []
        return {"judgements": judged} if judged else {}

    def _act(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        assert self._browser is not None
        try:
            parsed = self.parse_action(action)
        except ActionParseError as err:
            self._previous = f"{action.strip()[:200]} (invalid action: {err})"
            return self._finish_or_continue({"action_executed": False})
        if parsed.name == "stop":
            reward, info = self._score(str(parsed.args.get("answer", "")))
            self._previous = self._symbolic.render(parsed)
            return self._observation(), reward, True, {"action_executed": True, **info}
        if parsed.name == "goto" and self._site is not None:  # the shown name -> the real port
            url = str(parsed.args["url"]).replace(LOCAL_SITE_SHOWN, self._site.url.rstrip("/"))
            parsed = parsed.model_copy(update={"args": {**parsed.args, "url": url}})
        try:
            self._browser.execute(parsed)
            self._previous = self._symbolic.render(parsed)
            executed = True
        except BrowserActionError as err:
            self._previous = f"{self._symbolic.render(parsed)} (failed: {err})"
            executed = False
        return self._finish_or_continue({"action_executed": executed})

    def _finish_or_continue(self, info: dict[str, Any]) -> tuple[str, float, bool, dict[str, Any]]:
        observation = self._observation()
        if self.turn >= self.max_turns:  # scored as a finished trajectory without an answer
            reward, extra = self._score("")
            return observation, reward, False, {**info, **extra}
        return observation, 0.0, False, info

    def close(self) -> None:
        """Close the browser and stop the local site (idempotent)."""
        if self._browser is not None:
            self._browser.close()
            self._browser = None
        if self._site is not None:
            self._site.stop()
            self._site = None
