"""One agent run after another against an OpenAI-compatible server, as a peer of `osprey-bench gateway`.

Each run is what the Osprey benchmark asks of the gateway: a user message, one `list_dir` tool call the model asks
for, the tool's result sent back, the model's answer (two LLM round trips), using the framework's own agent loop.
Prints one JSON line: CPU milliseconds of this process per LLM round trip (median of the repetitions), the resident
set after setup, and the wall time per run.

  python3 agent_step.py --framework openai-agents|pydantic-ai|bare --base-url http://127.0.0.1:PORT/v1 --runs 200
"""

import argparse
import asyncio
import json
import os
import statistics
import time


def resident_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def list_dir_result():
    return "\n".join(sorted(os.listdir(".")))[:2000]


def openai_agents_runner(base_url, model):
    from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool, set_tracing_disabled
    from openai import AsyncOpenAI

    set_tracing_disabled(True)

    @function_tool
    def list_dir() -> str:
        """Lists the current directory."""
        return list_dir_result()

    client = AsyncOpenAI(base_url=base_url, api_key="bench")
    agent = Agent(
        name="bench",
        instructions="You are a careful assistant.",
        model=OpenAIChatCompletionsModel(model=model, openai_client=client),
        tools=[list_dir],
    )

    async def run_once():
        result = Runner.run_streamed(agent, "go")
        async for _ in result.stream_events():
            pass
        return result.final_output

    return run_once


def pydantic_ai_runner(base_url, model):
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    agent = Agent(
        OpenAIChatModel(model, provider=OpenAIProvider(base_url=base_url, api_key="bench")),
        instructions="You are a careful assistant.",
    )

    @agent.tool_plain
    def list_dir() -> str:
        """Lists the current directory."""
        return list_dir_result()

    async def run_once():
        async with agent.run_stream("go") as result:
            async for _ in result.stream_text():
                pass
        return "done"

    return run_once


def bare_runner(base_url, model):
    """The primitive: the same two streamed requests with aiohttp and no framework."""
    import aiohttp

    session_holder = {}

    async def request(messages):
        if "session" not in session_holder:
            session_holder["session"] = aiohttp.ClientSession()
        body = {"model": model, "stream": True, "messages": messages}
        async with session_holder["session"].post(base_url + "/chat/completions", json=body) as response:
            calls = []
            async for line in response.content:
                if line.startswith(b"data: {"):
                    chunk = json.loads(line[6:])
                    for choice in chunk.get("choices", []):
                        calls += choice.get("delta", {}).get("tool_calls", [])
            return calls

    async def run_once():
        messages = [{"role": "system", "content": "You are a careful assistant."}, {"role": "user", "content": "go"}]
        calls = await request(messages)
        if calls:
            call = {"id": calls[0]["id"], "type": "function", "function": {"name": "list_dir", "arguments": "{}"}}
            messages += [
                {"role": "assistant", "content": "", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": call["id"], "content": list_dir_result()},
            ]
            await request(messages)
        return "done"

    async def close():
        if "session" in session_holder:
            await session_holder["session"].close()

    run_once.close = close
    return run_once


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--framework", required=True, choices=["openai-agents", "pydantic-ai", "bare"])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", default="bench-2")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--repetitions", type=int, default=3)
    arguments = parser.parse_args()
    make = {"openai-agents": openai_agents_runner, "pydantic-ai": pydantic_ai_runner, "bare": bare_runner}
    run_once = make[arguments.framework](arguments.base_url, arguments.model)
    close = getattr(run_once, "close", None)
    for _ in range(arguments.warmup):
        await run_once()
    rss = resident_mb()
    round_trips = 2 * arguments.runs
    cpu, wall = [], []
    for _ in range(arguments.repetitions):
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        for _ in range(arguments.runs):
            await run_once()
        cpu.append((time.process_time() - cpu_start) * 1000 / round_trips)
        wall.append((time.perf_counter() - wall_start) * 1000 / arguments.runs)
    if close:
        await close()
    print(
        json.dumps(
            {
                "framework": arguments.framework,
                "cpu_ms_per_round_trip": statistics.median(cpu),
                "wall_ms_per_run": statistics.median(wall),
                "rss_mb_after_warmup": rss,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
