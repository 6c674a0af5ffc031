"""Pre-flight check of a model endpoint: one tiny request before a run's first episode.

A dead server, a wrong URL or a wrong ``#MODEL`` is found in seconds with one clear line
(``ServerError``, exit 4) instead of after the whole suite's retries. Only OpenAI-compatible
specs are checked: a scripted model has no server, and loading an ``hf:`` model is the run's
own first step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from lemur_agents.models.spec import HFSpec, OpenAISpec, ScriptedSpec
from lemur_core import GenerationParams, Message, Role
from lemur_core.cli_errors import ServerError

#: The check's own transport: short, one retry (a run's own retries are for a live server).
PREFLIGHT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class PreflightResult:
    """What the check saw: the served model that answered, the reply, and the round trip."""

    url: str
    model: str
    reply: str
    seconds: float


def preflight(spec: OpenAISpec | HFSpec | ScriptedSpec) -> PreflightResult | None:
    """Send one one-token request to ``spec``'s server (each replica's first address); ``None``
    when ``spec`` has no server. A failure is a one-line :class:`ServerError` naming the URL,
    what went wrong (the server's own names for its models on a wrong ``#MODEL``) and the fix."""
    if not isinstance(spec, OpenAISpec):
        return None
    transport = spec.transport.model_copy(
        update={"timeout": min(spec.transport.timeout, PREFLIGHT_TIMEOUT_S), "max_retries": 1}
    )
    model = spec.model_copy(update={"transport": transport, "replicas": ()}).build()
    ping = [[Message(role=Role.USER, content="Reply with one word: ok")]]
    start = time.perf_counter()
    try:
        reply = model.generate(ping, GenerationParams(max_new_tokens=1, temperature=0.0))[0]
    except Exception as exc:  # any failure of the one request is the server's, said in one line
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ServerError(
            f"model server check failed: {reason}",
            spec.base_url,
            f"start the server or fix the URL and #MODEL ('{spec.model}'); "
            "--no-preflight skips this check",
        ) from exc
    finally:
        close = getattr(model, "close", None)
        if callable(close):
            close()
    return PreflightResult(spec.base_url, spec.model, reply, time.perf_counter() - start)
