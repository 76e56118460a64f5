"""The official Python MCP SDK's client making sequential calls to an MCP server: the peer figures of
`osprey-bench mcp`. Prints one JSON line: calls, seconds, p50_ms, p99_ms, cpu_seconds (this process only).

usage: mcp_echo.py CALLS echo|ping stdio SERVER_COMMAND [ARG ...]
       mcp_echo.py CALLS echo|ping http URL
"""
import asyncio
import json
import resource
import sys
import time

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client


async def measure(session: ClientSession, calls: int, method: str) -> dict:
    await session.initialize()

    async def call(index: int) -> None:
        if method == "ping":
            await session.send_ping()
            return
        result = await session.call_tool("echo", {"text": f"ping {index}"})
        assert result.content[0].text == f"ping {index}", result

    for index in range(50):  # warm-up
        await call(index)
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    times = []
    start = time.perf_counter()
    for index in range(calls):
        began = time.perf_counter()
        await call(index)
        times.append(time.perf_counter() - began)
    elapsed = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    times.sort()
    return {
        "calls": calls,
        "seconds": elapsed,
        "p50_ms": times[len(times) // 2] * 1000,
        "p99_ms": times[len(times) * 99 // 100] * 1000,
        "cpu_seconds": (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime),
    }


async def main() -> None:
    calls, method, transport = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    if transport == "stdio":
        params = StdioServerParameters(command=sys.argv[4], args=sys.argv[5:])
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                figures = await measure(session, calls, method)
    else:
        async with streamable_http_client(sys.argv[4]) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                figures = await measure(session, calls, method)
    print(json.dumps(figures))


asyncio.run(main())
