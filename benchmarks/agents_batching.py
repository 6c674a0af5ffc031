"""Batched episode loop vs one episode at a time, on the real SmolLM2-135M-Instruct.

The released agent harnesses run episodes one by one; lemur-agents advances every live episode
with one batched model call per turn. Both sides here run the same episodes (same model,
greedy decoding, same env) in the same process; the script prints wall times and the speed-up.

    uv run python benchmarks/agents_batching.py [--episodes 4] [--turns 2] [--max-new-tokens 8] [--json PATH]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import gymnasium as gym
from _results import Results, add_json_option
from gymnasium import spaces
from lemur_agents.loop import EpisodeSpec, run_episodes
from lemur_agents.models.transformers_local import TransformersChatModel
from lemur_core import GenerationParams
from lemur_core.assets import smollm2_hf_dir


class Echo(gym.Env[str, str]):
    """Asks a question per task; never solved, so every episode runs all its turns."""

    def __init__(self) -> None:
        self.observation_space = spaces.Text(10_000)
        self.action_space = spaces.Text(10_000)
        self.question = ""

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        task = int((options or {})["task_id"])
        self.question = f"What is {task} + {task * 3}? Answer briefly."
        return self.question, {}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        return "Please double-check and answer again.", 0.0, False, False, {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--turns", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    add_json_option(parser)
    args = parser.parse_args()
    results = Results("agents_batching", vars(args))
    model = TransformersChatModel(
        smollm2_hf_dir(), batch_size=args.episodes, num_threads=args.threads
    )
    params = GenerationParams(max_new_tokens=args.max_new_tokens)
    specs = [
        EpisodeSpec(episode_id=f"e{i}", env=Echo, task_id=str(i), max_turns=args.turns)
        for i in range(args.episodes)
    ]
    run_episodes(model, specs[:1], params)  # warm-up (first-call allocations)

    started = time.perf_counter()
    one_by_one = [run_episodes(model, [spec], params)[0] for spec in specs]
    sequential_s = time.perf_counter() - started

    started = time.perf_counter()
    batched = run_episodes(model, specs, params)
    batched_s = time.perf_counter() - started

    same = sum(
        [t.raw_output for t in a.turns] == [t.raw_output for t in b.turns]
        for a, b in zip(one_by_one, batched, strict=True)
    )
    turns = sum(len(r.turns) for r in batched)
    print(
        f"episodes={args.episodes} turns/episode={args.turns} max_new_tokens={args.max_new_tokens}"
    )
    print(f"one episode at a time : {sequential_s:7.2f} s  ({turns / sequential_s:6.2f} turns/s)")
    print(f"lemur batched loop    : {batched_s:7.2f} s  ({turns / batched_s:6.2f} turns/s)")
    print(f"speed-up (sequential / batched): {sequential_s / batched_s:.2f}x")
    print(f"episodes with identical greedy transcripts: {same}/{args.episodes}")
    results.add(
        f"batched episode loop ({args.episodes} episodes, SmolLM2-135M)",
        metric="turns/s",
        ours=turns / batched_s,
        peer="one episode at a time",
        peers=turns / sequential_s,
        note=f"identical greedy transcripts {same}/{args.episodes}",
    )
    results.write(args.json)


if __name__ == "__main__":
    main()
