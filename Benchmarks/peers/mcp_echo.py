"""The official Python MCP SDK's client calling `echo` on a stdio server, sequentially: the peer figure of
`osprey-bench mcp`. Prints one JSON line: calls, seconds, p50_ms, p99_ms, cpu_seconds (this process only).

usage: mcp_echo.py CALLS SERVER_COMMAND [ARG ...]
"""
import asyncio
import json
import resource
import sys
import time

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main() -> None:
    calls = int(sys.argv[1])
    params = StdioServerParameters(command=sys.argv[2], args=sys.argv[3:])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            for _ in range(50):  # warm-up
                await session.call_tool("echo", {"text": "warm"})
            cpu_before = resource.getrusage(resource.RUSAGE_SELF)
            times = []
            start = time.perf_counter()
            for index in range(calls):
                began = time.perf_counter()
                result = await session.call_tool("echo", {"text": f"ping {index}"})
                times.append(time.perf_counter() - began)
                assert result.content[0].text == f"ping {index}", result
            elapsed = time.perf_counter() - start
            cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    times.sort()
    print(json.dumps({
        "calls": calls,
        "seconds": elapsed,
        "p50_ms": times[len(times) // 2] * 1000,
        "p99_ms": times[len(times) * 99 // 100] * 1000,
        "cpu_seconds": (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime),
    }))


asyncio.run(main())
