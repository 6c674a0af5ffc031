"""Model specs: which model a run talks to, as typed values; strings only at the CLI edge.

A spec is one of three frozen models, each split into what decides the answers (its
*identity*: the served model name, the weights' path, the script file) and how fast or by
which road they arrive (its *transport*: timeouts, retries, concurrency, the server's address,
threads, batch size). Changing the transport of an interrupted run does not make it another
run, so ``identity()`` leaves it out.

* :class:`OpenAISpec` — an OpenAI-compatible server;
* :class:`HFSpec` — a local Hugging Face directory (``"smollm2"`` is the bundled SmolLM2-135M);
* :class:`ScriptedSpec` — completions replayed from a JSON/YAML script file.

The string syntax the command lines accept (:func:`parse_model_spec`, :meth:`to_string`)::

    openai:URL#MODEL         openai:http://h:8000/v1?concurrency=4&timeout=60#lemur
    openai:URL,URL,...#MODEL openai:http://a:8000/v1,http://b:8000/v1?concurrency=4#lemur
    hf:PATH                  hf:smollm2, hf:/models/x#threads=1&batch_size=4
    scripted:FILE            scripted:replay.yaml

Several comma-separated URLs are data-parallel replicas of one served model (vLLM behind no
load balancer): requests go to the replica with the fewest outstanding, ``concurrency`` per
replica, a failing one is skipped for a while. The options after ``?`` apply to every replica.
The replica list is transport: a run resumed against another set of replicas is the same run.

``load_model`` accepts either form and builds the backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from lemur_core import ChatModel
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

_FORMS = "openai:URL#MODEL (or openai:URL,URL,...#MODEL), hf:PATH (or hf:smollm2) or scripted:FILE"


class HTTPTransport(BaseModel):
    """How requests reach an OpenAI-compatible server; none of it changes an answer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout: float = Field(default=120.0, gt=0, description="seconds per request attempt")
    concurrency: int = Field(default=8, ge=1, description="requests in flight per replica")
    max_retries: int = Field(default=4, ge=0, description="retries of a failed request")
    backoff_seconds: float = Field(default=0.5, ge=0, description="first retry's delay")
    max_backoff_seconds: float = Field(default=30.0, ge=0, description="cap on any delay")
    replica_cooldown_seconds: float = Field(
        default=2.0, ge=0, description="first pause of a replica after it failed (doubles)"
    )


class OpenAISpec(BaseModel):
    """A model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    Identity: ``model`` (the served name) and ``context_window`` (it decides how histories
    are trimmed). Transport: ``base_url`` (the server's address), ``replicas`` (more addresses
    serving the same model) and ``transport``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: Literal["openai"] = "openai"
    base_url: str = Field(pattern=r"^https?://", description="API root, e.g. http://h:8000/v1")
    model: str = Field(min_length=1, description="the served model name")
    context_window: int | None = Field(default=None, ge=16)
    transport: HTTPTransport = HTTPTransport()
    replicas: tuple[Annotated[str, Field(pattern=r"^https?://")], ...] = Field(
        default=(), description="more API roots serving the same model (data-parallel replicas)"
    )

    @model_validator(mode="after")
    def _distinct_urls(self) -> OpenAISpec:
        urls = [u.rstrip("/") for u in self.base_urls]
        if len(set(urls)) != len(urls):
            raise ValueError(f"a base URL is listed twice: {', '.join(self.base_urls)}")
        return self

    @property
    def base_urls(self) -> tuple[str, ...]:
        """Every replica's API root, ``base_url`` first."""
        return (self.base_url, *self.replicas)

    def identity(self) -> str:
        """What decides the answers, as a stable string (``openai:MODEL``)."""
        suffix = f"?context_window={self.context_window}" if self.context_window else ""
        return f"openai:{self.model}{suffix}"

    def to_string(self) -> str:
        """The CLI form; :func:`parse_model_spec` reads it back to an equal spec."""
        options: dict[str, object] = {
            k: v
            for k, v in self.transport.model_dump().items()
            if v != HTTPTransport.model_fields[k].default
        }
        if self.context_window is not None:
            options["context_window"] = self.context_window
        query = f"?{urlencode(options)}" if options else ""
        return f"openai:{','.join(self.base_urls)}{query}#{self.model}"

    def build(self) -> ChatModel:
        """The backend (:class:`~lemur_agents.models.openai_http.OpenAIChatModel`)."""
        from lemur_agents.models.openai_http import OpenAIChatModel

        return OpenAIChatModel(
            list(self.base_urls),
            self.model,
            context_window=self.context_window,
            **self.transport.model_dump(),
        )


class HFSpeed(BaseModel):
    """Speed knobs of a local model (taken as not changing an answer)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threads: int | None = Field(default=None, ge=1, description="torch CPU threads")
    batch_size: int = Field(default=8, ge=1, description="conversations per forward pass")


class HFSpec(BaseModel):
    """A local Hugging Face model directory; ``path="smollm2"`` is the bundled SmolLM2-135M."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: Literal["hf"] = "hf"
    path: str = Field(min_length=1)
    speed: HFSpeed = HFSpeed()

    def identity(self) -> str:
        """``hf:PATH`` (the weights decide the answers, not the threads)."""
        return f"hf:{self.path}"

    def to_string(self) -> str:
        """The CLI form; :func:`parse_model_spec` reads it back to an equal spec."""
        options = {
            k: v for k, v in self.speed.model_dump().items() if v != HFSpeed.model_fields[k].default
        }
        return f"hf:{self.path}" + (f"#{urlencode(options)}" if options else "")

    def build(self) -> ChatModel:
        """The backend (``TransformersChatModel``; needs ``lemur-agents[hf]``)."""
        from lemur_agents.models.transformers_local import TransformersChatModel

        threads, batch = self.speed.threads, self.speed.batch_size
        if self.path == "smollm2":
            from lemur_core.assets import smollm2_hf_dir

            return TransformersChatModel(
                smollm2_hf_dir(),
                name="hf:SmolLM2-135M-Instruct",
                num_threads=threads,
                batch_size=batch,
            )
        return TransformersChatModel(Path(self.path), num_threads=threads, batch_size=batch)


class ScriptedSpec(BaseModel):
    """Completions replayed from a script file (tests, demos, replays)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: Literal["scripted"] = "scripted"
    path: str = Field(min_length=1)

    def identity(self) -> str:
        """``scripted:FILE``."""
        return f"scripted:{self.path}"

    def to_string(self) -> str:
        """The CLI form."""
        return f"scripted:{self.path}"

    def build(self) -> ChatModel:
        """The backend (:class:`~lemur_agents.models.scripted.ScriptedChatModel`)."""
        from lemur_agents.models.scripted import ScriptedChatModel

        return ScriptedChatModel.from_file(Path(self.path))


ModelSpec = Annotated[OpenAISpec | HFSpec | ScriptedSpec, Field(discriminator="backend")]
"""Any model spec; a pydantic field of this type reads ``{"backend": "openai", ...}``."""

_ADAPTER: TypeAdapter[OpenAISpec | HFSpec | ScriptedSpec] = TypeAdapter(ModelSpec)


def _numbers(spec: str, options: dict[str, str], known: dict[str, type]) -> dict[str, int | float]:
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} in {spec!r}; known: {sorted(known)}")
    out: dict[str, int | float] = {}
    for key, text in options.items():
        try:
            out[key] = known[key](text)
        except ValueError:
            raise ValueError(
                f"option {key}={text!r} in {spec!r} is not a {known[key].__name__}"
            ) from None
    return out


def parse_model_spec(spec: str) -> OpenAISpec | HFSpec | ScriptedSpec:
    """The typed spec that the string ``spec`` names (see the module docstring); a
    ``ValueError`` naming the accepted forms when it is malformed. Reads no files."""
    scheme, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise ValueError(f"model spec {spec!r} has no scheme; expected {_FORMS}")
    try:
        if scheme == "openai":
            url, hash_sep, model = rest.partition("#")
            if not hash_sep or not model:
                raise ValueError(
                    f"model spec {spec!r} names no model: write openai:URL#MODEL, "
                    "e.g. openai:http://localhost:8000/v1#my-model"
                )
            # The options follow the last URL and apply to all: "A,B?timeout=60#M".
            addresses, _, query = url.partition("?")
            roots: list[str] = []
            for address in addresses.split(","):
                parts = urlsplit(address.strip())
                if parts.scheme not in ("http", "https") or not parts.netloc:
                    raise ValueError(
                        f"model spec {spec!r}: each URL must start with http:// or https://, "
                        "e.g. openai:http://localhost:8000/v1#my-model or "
                        "openai:http://a:8000/v1,http://b:8000/v1#my-model"
                    )
                roots.append(urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")))
            known = {k: type(v) for k, v in HTTPTransport().model_dump().items()}
            values = _numbers(spec, dict(parse_qsl(query)), {**known, "context_window": int})
            window = values.pop("context_window", None)
            return OpenAISpec(
                base_url=roots[0],
                replicas=tuple(roots[1:]),
                model=model,
                context_window=int(window) if window is not None else None,
                transport=HTTPTransport.model_validate(values),
            )
        if scheme == "hf":
            path, _, query = rest.partition("#")
            values = _numbers(spec, dict(parse_qsl(query)), {"threads": int, "batch_size": int})
            return HFSpec(path=path, speed=HFSpeed.model_validate(values))
        if scheme == "scripted":
            return ScriptedSpec(path=rest)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(f"model spec {spec!r}: {problems}") from None
    raise ValueError(f"unknown model backend {scheme!r} in {spec!r}; expected {_FORMS}")


def as_model_spec(
    spec: str | OpenAISpec | HFSpec | ScriptedSpec | dict[str, object],
) -> OpenAISpec | HFSpec | ScriptedSpec:
    """``spec`` as a typed spec: strings are parsed, dicts validated, specs returned as is."""
    if isinstance(spec, str):
        return parse_model_spec(spec)
    if isinstance(spec, dict):
        return _ADAPTER.validate_python(spec)
    return spec


def model_identity(spec: str | OpenAISpec | HFSpec | ScriptedSpec) -> str:
    """What decides a model's answers (see :meth:`OpenAISpec.identity`); a string that is not a
    spec (a label given with a prebuilt model) is its own identity."""
    try:
        return as_model_spec(spec).identity()
    except ValueError:
        return str(spec)


def load_model(spec: str | OpenAISpec | HFSpec | ScriptedSpec) -> ChatModel:
    """Build the ``ChatModel`` that ``spec`` names (a string is parsed first); a
    ``ValueError`` naming the accepted forms when the spec is malformed."""
    return as_model_spec(spec).build()
