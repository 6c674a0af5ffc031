"""Web tasks: WebArena's task-config format, and fixture tasks over the project's test site.

WebArena configs name their sites by placeholders (``__SHOPPING__``, ``__REDDIT__`` ...) in
``start_url`` and evaluator URLs; :func:`load_tasks` keeps them, and the env substitutes the
deployment's base URLs (``site_urls``) when an episode starts. The fixture tasks use the
placeholder ``__LEMUR_SHOP__`` for :class:`lemur_agents.envs.web.site.LocalSite`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lemur_agents.envs.base import EnvTask

LOCAL_SITE = "__LEMUR_SHOP__"
EvalType = Literal["string_match", "url_match", "program_html"]


class WebArenaEval(BaseModel):
    """A task's ``eval`` block, as WebArena writes it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    eval_types: tuple[EvalType, ...]
    reference_answers: dict[str, Any] | None = None
    reference_url: str = ""
    program_html: tuple[dict[str, Any], ...] = ()
    url_note: str | None = None
    string_note: str | None = None


class WebTask(EnvTask):
    """One WebArena-style task: where to start, what to do, how it is judged."""

    start_url: str
    sites: tuple[str, ...] = ()
    require_login: bool = False
    storage_state: str | None = None
    require_reset: bool = False
    eval: WebArenaEval
    reference_actions: tuple[str, ...] = Field(
        default=(), description="a known solution (symbolic actions with ids), for fixtures"
    )


def substitute(text: str, site_urls: dict[str, str]) -> str:
    """Replace every ``__SITE__`` placeholder in ``text`` by its base URL."""
    for placeholder, url in site_urls.items():
        text = text.replace(placeholder, url.rstrip("/"))
    return text


def _task_from_config(config: dict[str, Any]) -> WebTask:
    return WebTask(
        task_id=str(config["task_id"]),
        instruction=config["intent"],
        start_url=config["start_url"],
        sites=tuple(config.get("sites", ())),
        require_login=bool(config.get("require_login", False)),
        storage_state=config.get("storage_state"),
        require_reset=bool(config.get("require_reset", False)),
        eval=WebArenaEval.model_validate(
            {
                **config["eval"],
                "program_html": config["eval"].get("program_html") or (),
                "reference_url": config["eval"].get("reference_url") or "",
            }
        ),
    )


def load_tasks(path: str | Path) -> list[WebTask]:
    """Read WebArena task configs: ``test.raw.json`` (a list) or a directory of ``<id>.json``."""
    source = Path(path)
    if source.is_dir():
        configs = [json.loads(p.read_text()) for p in sorted(source.glob("*.json"))]
    else:
        loaded = json.loads(source.read_text(encoding="utf-8"))
        configs = loaded if isinstance(loaded, list) else [loaded]
    return [_task_from_config(c) for c in configs]


def fixture_tasks() -> list[WebTask]:
    """Tasks over the project's Lemur Shop, one per WebArena evaluator kind."""
    shop = LOCAL_SITE
    return [
        WebTask(
            task_id="shop/price",
            instruction="What is the price of the Harmonizing Code Mug?",
            start_url=shop,
            sites=("lemur_shop",),
            eval=WebArenaEval(
                eval_types=("string_match",), reference_answers={"must_include": ["12.50"]}
            ),
            reference_actions=("click [Harmonizing Code Mug]", "stop [$12.50]"),
        ),
        WebTask(
            task_id="shop/search",
            instruction="Search the shop for lemur products.",
            start_url=shop,
            sites=("lemur_shop",),
            eval=WebArenaEval(
                eval_types=("url_match",),
                reference_url=f"{shop}/search?q=lemur",
                url_note="GOLD in PRED",
            ),
            reference_actions=("type [Search products] [lemur] [1]", "stop [N/A]"),
        ),
        WebTask(
            task_id="shop/bio",
            instruction='Change my profile bio to "Pro Python Developer"',
            start_url=shop,
            sites=("lemur_shop",),
            require_reset=True,
            eval=WebArenaEval(
                eval_types=("program_html",),
                program_html=(
                    {
                        "url": f"{shop}/profile",
                        "locator": "document.querySelector('.user-bio__biography').outerText",
                        "required_contents": {"exact_match": "Pro Python Developer"},
                    },
                ),
            ),
            reference_actions=(
                "click [My Profile]",
                "type [Biography] [Pro Python Developer] [0]",
                "click [Save]",
                "stop [done]",
            ),
        ),
    ]
