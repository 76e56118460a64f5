"""An MCP host for Osprey's interoperability tests: the official Python SDK's client (PyPI `mcp` 2.x) driving
`osprey mcp serve` over stdio. Prints one JSON object with what it saw.

usage: host_client.py stdio OSPREY_BINARY HOME
       host_client.py http URL TOKEN [approval]   (Streamable HTTP, the gateway's /mcp)

`approval` asks an agent whose tool call waits for a human (the test approves it meanwhile), then asks again and
gives up after three seconds, which cancels the call.
"""
import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def texts(result):
    return "".join(item.text for item in result.content if getattr(item, "type", "") == "text")


async def main() -> None:
    if sys.argv[1] == "stdio":
        params = StdioServerParameters(command=sys.argv[2], args=["mcp", "serve", "--home", sys.argv[3]])
        async with stdio_client(params) as (read, write):
            seen = await drive(read, write)
    else:
        client = create_mcp_http_client(headers={"Authorization": f"Bearer {sys.argv[3]}"})
        seen = {}
        try:
            async with client:
                async with streamable_http_client(sys.argv[2], http_client=client) as streams:
                    if sys.argv[4:] == ["approval"]:
                        seen = await approval(streams[0], streams[1])
                    else:
                        seen = await drive(streams[0], streams[1])
        except BaseExceptionGroup as group:
            # The SDK's client fails on the way out when an answer to a request it gave up on arrives after its
            # session closed (its reader is gone); what the host saw before is still the result.
            if not seen:
                raise
            seen["closed_with"] = repr(group.exceptions)
    print(json.dumps(seen))


async def drive(read, write) -> dict:
    seen = {}
    updated = asyncio.Event()
    updates = []

    async def on_message(message) -> None:
        root = getattr(message, "root", message)
        if getattr(root, "method", "") == "notifications/resources/updated":
            updates.append(str(root.params.uri))
            updated.set()

    async with ClientSession(read, write, message_handler=on_message) as session:
        init = await session.initialize()
        seen["server"] = init.server_info.name
        seen["protocol"] = init.protocol_version
        seen["tools"] = sorted(tool.name for tool in (await session.list_tools()).tools)
        progress = []

        async def on_progress(amount, total, message) -> None:
            progress.append(message or str(amount))

        first = await session.call_tool("ask_agent", {"message": "Say hello"}, progress_callback=on_progress)
        seen["progress"] = progress
        answer = json.loads(texts(first))
        seen["answer"] = answer["response"]
        seen["first_error"] = first.is_error
        transcript = f"osprey://sessions/{answer['session_id']}/transcript"
        await session.subscribe_resource(transcript)
        again = await session.call_tool("ask_agent", {"message": "Again", "session": answer["session_id"]})
        seen["same_session"] = json.loads(texts(again))["session_id"] == answer["session_id"]
        try:
            await asyncio.wait_for(updated.wait(), 10)
        except TimeoutError:
            pass
        seen["updates"] = sorted(set(updates))
        seen["transcript_uri"] = transcript
        read = await session.read_resource(transcript)
        seen["transcript"] = "".join(getattr(item, "text", "") for item in read.contents)
        resources = await session.list_resources()
        seen["resources"] = [str(resource.uri) for resource in resources.resources]
        templates = await session.list_resource_templates()
        seen["templates"] = sorted(template.uri_template for template in templates.resource_templates)
        verify = await session.read_resource("osprey://audit/verify")
        seen["verify"] = json.loads(verify.contents[0].text)
        try:
            await session.read_resource("osprey://memory/no_such_memory")
            seen["missing_resource"] = "no error"
        except Exception as error:
            seen["missing_resource"] = str(error)
        wrote = await session.call_tool("write_file", {"path": "mcp-note.txt", "content": "from the host"})
        seen["wrote_error"] = wrote.is_error
        read_back = await session.call_tool("read_file", {"path": "mcp-note.txt"})
        seen["read_back"] = texts(read_back)
        note = await session.read_resource("osprey://workspace/mcp-note.txt")
        seen["note_resource"] = note.contents[0].text
        try:
            await session.read_resource("osprey://workspace/..%2F..%2Fetc%2Fpasswd")
            seen["escape_resource"] = "no error"
        except Exception as error:
            seen["escape_resource"] = str(error)
        escape = await session.call_tool("read_file", {"path": "../../etc/passwd"})
        seen["escape_error"] = escape.is_error
        prompts = await session.list_prompts()
        seen["prompts"] = sorted(prompt.name for prompt in prompts.prompts)
        prompt = await session.get_prompt("default", {"request": "Count the herons"})
        seen["prompt"] = prompt.messages[0].content.text
        stored = await session.call_tool("store_memory", {"content": "The heron nests by the north pond."})
        seen["stored_error"] = stored.is_error
        found = await session.call_tool("search_memory", {"query": "heron north pond"})
        seen["found"] = "north pond" in texts(found)
        bad = await session.call_tool("check_task", {"id": "../../api/tokens"})
        seen["bad_id_error"] = bad.is_error
        seen["bad_id_text"] = texts(bad)
        missing = await session.call_tool("check_task", {"id": "tsk_missing"})
        seen["missing_error"] = missing.is_error
        try:
            await session.call_tool("no_such_tool", {})
            seen["unknown_tool"] = "no error"
        except Exception as error:  # the SDK raises the JSON-RPC error
            seen["unknown_tool"] = str(error)
    return seen


async def approval(read, write) -> dict:
    seen = {}
    async with ClientSession(read, write) as session:
        await session.initialize()
        progress = []

        async def on_progress(amount, total, message) -> None:
            progress.append(message or "")

        try:
            first = await session.call_tool("ask_agent", {"message": "write the note"}, progress_callback=on_progress)
            seen["answer"] = json.loads(texts(first))["response"]
        except Exception as error:  # said in the result, so the test shows which step failed and why
            seen["answer"] = f"failed: {type(error).__name__}: {error}"
        seen["waited"] = any(message.startswith("approval_requested") for message in progress)
        try:
            await session.call_tool("ask_agent", {"message": "write it again"}, read_timeout_seconds=3)
            seen["abandoned"] = "no error"
        except Exception as error:
            seen["abandoned"] = str(error) or type(error).__name__
        try:
            seen["alive"] = len((await session.list_tools()).tools)
        except Exception as error:
            seen["alive"] = f"failed: {type(error).__name__}: {error}"
    return seen


asyncio.run(main())
