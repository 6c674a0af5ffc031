"""A real headless Chromium driven by Playwright, executing WebArena's actions.

Actions are the typed :class:`lemur_agents.actions.Action` values of ``WEBARENA_SCHEMA``.
Element actions address the ids of the last observation; they act through the DOM node's
box (scrolled into view, then a mouse event at its centre), as WebArena does.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lemur_agents.actions import Action
from lemur_agents.envs.web.accessibility import AxTree, render_ax_tree

CHROMIUM_ARGS = ("--no-sandbox", "--disable-background-networking", "--disable-gpu")


class BrowserActionError(RuntimeError):
    """An action that cannot be carried out on the current page (the message says why)."""


def find_chromium(preferred: str | None = None) -> str | None:
    """The Chromium executable to use: ``preferred`` if it exists, else one on ``PATH``."""
    if preferred and Path(preferred).exists():
        return preferred
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class _Driver:
    playwright: Any
    chromium: Any
    users: int = 0


# Playwright's sync API allows one driver per thread: a second ``sync_playwright().start()``
# in a thread fails. Browsers made in the same thread (the episode loop plays many web
# episodes at once) share that thread's driver and Chromium process, each in its own context
# (its own cookies, storage and tabs, as separate browsers would have); the last to close
# stops them.
_DRIVERS = threading.local()


def _acquire(executable: str) -> _Driver:
    drivers: dict[str, _Driver] = _DRIVERS.__dict__.setdefault("by_executable", {})
    driver = drivers.get(executable)
    if driver is None:
        from playwright.sync_api import sync_playwright

        if drivers:  # one driver per thread: reuse it for another Chromium build
            playwright = next(iter(drivers.values())).playwright
        else:
            playwright = sync_playwright().start()
        chromium = playwright.chromium.launch(
            executable_path=executable, args=list(CHROMIUM_ARGS), headless=True
        )
        driver = drivers[executable] = _Driver(playwright, chromium)
    driver.users += 1
    return driver


def _release(driver: _Driver, executable: str) -> None:
    driver.users -= 1
    if driver.users > 0:
        return
    drivers: dict[str, _Driver] = _DRIVERS.__dict__.get("by_executable", {})
    drivers.pop(executable, None)
    driver.chromium.close()
    if not any(d.playwright is driver.playwright for d in drivers.values()):
        driver.playwright.stop()


class Browser:
    """A Chromium session; :meth:`new_session` opens a fresh context (cookies, tabs).

    Browsers created in one thread share that thread's Chromium process (see ``_DRIVERS``);
    use a browser only from the thread that created it, as Playwright's sync API requires.
    """

    def __init__(
        self,
        executable_path: str | None = None,
        *,
        viewport: tuple[int, int] = (1280, 720),
        timeout_ms: int = 15_000,
        settle_ms: int = 300,
    ) -> None:
        executable = find_chromium(executable_path)
        if executable is None:
            raise FileNotFoundError(
                "no Chromium found: install it (apt-get install -y chromium) or set "
                "chromium_path in the web env config"
            )
        self._executable = executable
        self._driver: _Driver | None = _acquire(executable)
        self._browser: Any = self._driver.chromium
        self.version = self._browser.version
        self.viewport: Any = {"width": viewport[0], "height": viewport[1]}
        self.timeout_ms = timeout_ms
        self.settle_ms = settle_ms
        self._context: Any = None
        self.pages: list[Any] = []
        self.active = 0
        self.tree = AxTree(text="")

    # -- sessions ---------------------------------------------------------------------------

    def new_session(self, start_url: str, storage_state: str | None = None) -> None:
        """Close the previous context and open ``start_url`` in a fresh one."""
        if self._context is not None:
            self._context.close()
        self._context = self._browser.new_context(
            viewport=self.viewport, storage_state=storage_state
        )
        self._context.set_default_timeout(self.timeout_ms)
        self.pages = []
        for url in start_url.split(" |AND| "):  # WebArena opens one tab per start URL
            page = self._context.new_page()
            page.goto(url.strip(), wait_until="load")
            self.pages.append(page)
        self.active = 0

    @property
    def page(self) -> Any:
        """The focused tab (a Playwright ``Page``)."""
        return self.pages[self.active]

    def observe(self) -> AxTree:
        """The accessibility tree of the focused tab (also kept for id lookups)."""
        page = self.page
        # A click or Enter may start a navigation after the action returned; until the new
        # document is in, the root reports busy or still carries the old URL: poll past that.
        deadline = time.monotonic() + self.timeout_ms / 1000
        while True:
            page.wait_for_load_state("load")
            client = page.context.new_cdp_session(page)
            try:
                nodes = client.send("Accessibility.getFullAXTree")["nodes"]
            finally:
                client.detach()
            props = {
                p.get("name"): p.get("value", {}).get("value")
                for p in (nodes[0].get("properties", []) if nodes else [])
            }
            # The tree may still be the previous document's (its root's url says so).
            stale = props.get("url") not in (None, page.url)
            if not (props.get("busy") or stale) or time.monotonic() > deadline:
                break
            page.wait_for_timeout(50)
        self.tree = render_ax_tree(nodes)
        return self.tree

    def tabs(self) -> str:
        """WebArena's tab header: ``Tab 0 (current): Title`` ..."""
        parts = []
        for index, page in enumerate(self.pages):
            mark = " (current)" if index == self.active else ""
            parts.append(f"Tab {index}{mark}: {page.title()}")
        return " | ".join(parts)

    # -- actions ----------------------------------------------------------------------------

    def _center(self, element_id: int) -> tuple[float, float]:
        backend = self.tree.backend_ids.get(element_id)
        if backend is None or backend < 0:
            raise BrowserActionError(f"there is no element with id [{element_id}] on this page")
        client = self.page.context.new_cdp_session(self.page)
        try:
            client.send("DOM.getDocument", {"depth": 0})
            client.send("DOM.scrollIntoViewIfNeeded", {"backendNodeId": backend})
            quad = client.send("DOM.getBoxModel", {"backendNodeId": backend})["model"]["content"]
        except Exception as err:  # CDP reports a vanished or box-less node as a protocol error
            raise BrowserActionError(f"element [{element_id}] is not visible: {err}") from err
        finally:
            client.detach()
        xs, ys = quad[0::2], quad[1::2]
        return sum(xs) / 4, sum(ys) / 4

    def execute(self, action: Action) -> None:
        """Carry out one WebArena action (``stop`` is the env's business, not the browser's)."""
        name, args = action.name, action.args
        page = self.page
        if name == "click":
            page.mouse.click(*self._center(int(args["id"])))
        elif name == "hover":
            page.mouse.move(*self._center(int(args["id"])))
        elif name == "type":
            page.mouse.click(*self._center(int(args["id"])))
            page.keyboard.type(str(args["content"]))
            if args.get("press_enter_after", True):
                page.keyboard.press("Enter")
        elif name == "press":
            keys = str(args["key_comb"]).replace("Ctrl", "Control").replace("Cmd", "Meta")
            page.keyboard.press(keys)
        elif name == "scroll":
            sign = "-" if args["direction"] == "up" else ""
            page.evaluate(f"window.scrollBy(0, {sign}window.innerHeight)")
        elif name == "goto":
            page.goto(str(args["url"]), wait_until="load")
        elif name == "go_back":
            page.go_back(wait_until="load")
        elif name == "go_forward":
            page.go_forward(wait_until="load")
        elif name == "new_tab":
            self.pages.append(self._context.new_page())
            self.active = len(self.pages) - 1
        elif name == "tab_focus":
            index = int(args["tab_index"])
            if not 0 <= index < len(self.pages):
                raise BrowserActionError(f"there is no tab {index} (tabs 0..{len(self.pages) - 1})")
            self.active = index
            self.page.bring_to_front()
        elif name == "close_tab":
            self.pages.pop(self.active).close()
            if not self.pages:
                self.pages.append(self._context.new_page())
            self.active = min(self.active, len(self.pages) - 1)
        else:
            raise BrowserActionError(f"unsupported action {name!r}")
        if name in ("click", "type", "press"):
            # An event may start a navigation a moment later (form submit, link); give it
            # time to begin so the next observation waits for the new page, not the old one.
            self.page.wait_for_timeout(self.settle_ms)
        try:
            self.page.wait_for_load_state("load", timeout=self.timeout_ms)
        except Exception as err:  # a slow page is an observation, not a crash
            raise BrowserActionError(f"the page did not finish loading: {err}") from err

    def close(self) -> None:
        """Close the browser and Playwright (idempotent)."""
        if self._context is not None:
            self._context.close()
            self._context = None
        if self._driver is not None:
            _release(self._driver, self._executable)
            self._driver = None
            self._browser = None
