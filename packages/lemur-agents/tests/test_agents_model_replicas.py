"""Several replicas of one served model: the least-outstanding choice and cool-downs of the
replica pool (with a fake clock), the spec syntax, and the client against real loopback servers
of which one dies mid-run."""

from __future__ import annotations

from typing import Any

import pytest
from lemur_agents.models import OpenAIChatModel, OpenAISpec, parse_model_spec
from lemur_agents.models.loopback_server import FaultPlan, LoopbackServer
from lemur_agents.models.replicas import ReplicaPool
from lemur_core import GenerationParams, Message, Role


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _pool(n: int = 3, per: int = 2, clock: _Clock | None = None) -> ReplicaPool:
    return ReplicaPool(
        [f"http://r{i}/v1" for i in range(n)],
        per_replica=per,
        cooldown=1.0,
        max_cooldown=4.0,
        clock=clock or _Clock(),
    )


def test_each_request_goes_to_the_replica_with_the_fewest_outstanding() -> None:
    pool = _pool(per=2)
    picked = [pool.pick() for _ in range(6)]
    urls = [r.url if r else None for r in picked]
    # Ties go to the one listed first; every replica fills evenly, up to 2 each.
    assert urls == [f"http://r{i}/v1" for i in (0, 1, 2, 0, 1, 2)]
    assert pool.pick() is None  # all full: the next request waits
    r1 = next(r for r in pool.replicas if r.url == "http://r1/v1")
    pool.release(r1, ok=True)
    pool.release(r1, ok=True)  # r1 now has 0 outstanding, r0 and r2 have 2
    again = pool.pick()
    assert again is r1 and r1.outstanding == 1
    r0 = pool.replicas[0]
    pool.release(r0, ok=True)  # r0: 1, r1: 1, r2: 2 -> the first of the two least loaded
    assert pool.pick() is r0


def test_a_failed_replica_is_skipped_during_its_cool_down_then_probed_by_one_request() -> None:
    clock = _Clock()
    pool = _pool(per=4, clock=clock)
    r0, r1, r2 = pool.replicas
    first = pool.pick()
    assert first is r0
    pool.release(r0, ok=False)  # refused: cools down for 1 s
    assert pool.another_is_healthy(r0) and pool.another_is_healthy(r1)
    got = [pool.pick() for _ in range(8)]
    assert r0 not in got and got.count(r1) == got.count(r2) == 4
    assert pool.pick() is None  # r0 is cooling: the healthy ones being full, wait
    assert pool.wait_hint(default=5.0) == pytest.approx(1.0)
    clock.now += 1.0
    assert pool.pick() is r0  # the cool-down is over: one probing request
    assert pool.pick() is None  # ... and only one until it answers
    pool.release(r0, ok=False)  # the probe failed too: twice as long (2 s)
    clock.now += 1.5
    assert pool.pick() is None
    clock.now += 0.5
    assert pool.pick() is r0
    pool.release(r0, ok=True)  # healthy again: takes its share
    assert pool.pick() is r0 and r0.outstanding == 1
    assert (r0.sent, r0.failed) == (4, 2)


def test_when_no_replica_is_healthy_requests_still_go_to_the_soonest_back() -> None:
    clock = _Clock()
    pool = _pool(n=2, per=2, clock=clock)
    a, b = pool.replicas
    pool.release(pool.pick() or a, ok=False)  # a: cools until 101
    clock.now += 0.5
    pool.release(pool.pick() or b, ok=False)  # b: cools until 101.5
    assert not pool.another_is_healthy(a) and not pool.another_is_healthy(b)
    assert pool.pick() is a  # nothing healthy: the client's backoff paces these retries
    # A single replica behaves like a plain client: it always takes the request.
    lone = _pool(n=1, per=1, clock=clock)
    only = lone.pick()
    assert only is not None
    lone.release(only, ok=False)
    assert lone.pick() is only


def test_a_pool_refuses_no_urls_and_a_url_listed_twice() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ReplicaPool([], per_replica=1)
    with pytest.raises(ValueError, match="listed twice"):
        ReplicaPool(["http://a/v1", "http://a/v1"], per_replica=1)


def test_the_spec_names_several_replicas_and_they_are_transport_not_identity() -> None:
    text = "openai:http://a:8000/v1,http://b:8000/v1,http://c:8000/v1?concurrency=4#lemur"
    spec = parse_model_spec(text)
    assert isinstance(spec, OpenAISpec)
    assert spec.base_urls == ("http://a:8000/v1", "http://b:8000/v1", "http://c:8000/v1")
    assert spec.transport.concurrency == 4
    assert parse_model_spec(spec.to_string()) == spec
    one = parse_model_spec("openai:http://a:8000/v1#lemur")
    assert spec.identity() == one.identity() == "openai:lemur"
    model = spec.build()
    assert isinstance(model, OpenAIChatModel)
    assert model.base_urls == spec.base_urls and model.pool.per_replica == 4
    with pytest.raises(ValueError, match="listed twice"):
        parse_model_spec("openai:http://a/v1,http://a/v1#m")
    with pytest.raises(ValueError, match="each URL must start with http"):
        parse_model_spec("openai:http://a/v1,b:8000/v1#m")


def _echo(messages: list[dict[str, str]], body: dict[str, Any]) -> str:
    return f"echo {messages[-1]['content']}"


def test_three_replicas_one_killed_mid_batch_every_answer_comes_and_the_load_is_spread() -> None:
    servers = [
        LoopbackServer(_echo, plan=FaultPlan(die_after=5 if i == 1 else None)).start()
        for i in range(3)
    ]
    try:
        model = OpenAIChatModel(
            [s.url for s in servers],
            "lemur",
            timeout=2.0,
            max_retries=2,
            backoff_seconds=0.01,
            concurrency=4,
        )
        asks = [[Message(role=Role.USER, content=f"q{i}")] for i in range(60)]
        answers = model.generate(asks, GenerationParams())
    finally:
        for s in servers:
            s.stop()
    assert answers == [f"echo q{i}" for i in range(60)]
    assert servers[1].completions == 5 and servers[1].dead
    # The two live ones shared the rest.
    assert servers[0].completions + servers[2].completions == 55
    assert min(servers[0].completions, servers[2].completions) >= 15
    assert model.pool.replicas[1].failed >= 1
