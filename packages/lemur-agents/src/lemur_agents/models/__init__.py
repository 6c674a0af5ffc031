"""Model backends implementing lemur-core's ``ChatModel`` (and ``TokenCounter``).

Public API::

    from lemur_agents.models import load_model, OpenAIChatModel, ScriptedChatModel, Script
    model = load_model("openai:http://localhost:8000/v1#lemur-70b-chat")   # vLLM / TGI / ...
    model = load_model("hf:/path/to/hf-dir")     # or "hf:smollm2"; needs lemur-agents[hf]
    model = load_model("scripted:replay.yaml")
    model = load_model(OpenAISpec(base_url="http://h:8000/v1", model="lemur",
                                  transport=HTTPTransport(timeout=60, concurrency=4)))
    parse_model_spec("hf:smollm2#threads=1").identity()   # "hf:smollm2": speed is not identity
    texts = model.generate(conversations, GenerationParams(max_new_tokens=256, stop=("</execute>",)))
    texts = await model.agenerate(conversations, params)
    model.count_tokens(conversation); model.context_window    # used by the episode loop

Failures: a server error after bounded retries is a ``ModelError``; a wrong endpoint (404,
401) a ``ModelEndpointError``; a batch where only some requests failed a ``BatchModelError``
whose ``outputs`` keep the answers that came. ``loopback_server.LoopbackServer`` is a real
local server that injects faults, for tests and benchmarks.

``TransformersChatModel`` lives in :mod:`lemur_agents.models.transformers_local` and is imported
lazily (it pulls torch).
"""

from lemur_agents.models.base import (
    BatchModelError,
    ModelEndpointError,
    ModelError,
    approx_token_count,
)
from lemur_agents.models.openai_http import OpenAIChatModel
from lemur_agents.models.scripted import Script, ScriptedChatModel, ScriptFile
from lemur_agents.models.spec import (
    HFSpec,
    HFSpeed,
    HTTPTransport,
    ModelSpec,
    OpenAISpec,
    ScriptedSpec,
    as_model_spec,
    load_model,
    model_identity,
    parse_model_spec,
)

__all__ = [
    "BatchModelError",
    "HFSpec",
    "HFSpeed",
    "HTTPTransport",
    "ModelEndpointError",
    "ModelError",
    "ModelSpec",
    "OpenAIChatModel",
    "OpenAISpec",
    "Script",
    "ScriptFile",
    "ScriptedChatModel",
    "ScriptedSpec",
    "approx_token_count",
    "as_model_spec",
    "load_model",
    "model_identity",
    "parse_model_spec",
]
