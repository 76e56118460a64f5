"""Drives Osprey's A2A door with the official a2a-sdk (0.3) client; prints what it saw as one JSON object.

Usage: client.py BASE_URL TOKEN
"""

import asyncio
import json
import sys
import uuid

import httpx
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.client.errors import A2AClientJSONRPCError
from a2a.types import Message, Part, Role, TaskIdParams, TaskQueryParams, TextPart


def message(text, context_id=None, agent="default"):
    return Message(
        role=Role.user,
        parts=[Part(root=TextPart(text=text))],
        message_id=str(uuid.uuid4()),
        context_id=context_id,
        metadata={"agent": agent},
    )


def artifact_text(task):
    return "\n".join(
        part.root.text for artifact in task.artifacts or [] for part in artifact.parts if part.root.kind == "text"
    )


async def error_code(call):
    try:
        await call
    except A2AClientJSONRPCError as error:
        return error.error.code
    return None


async def main(base, token):
    seen = {}
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers, timeout=60) as http:
        card = await A2ACardResolver(http, base).get_agent_card()
        seen["card"] = {"name": card.name, "skills": [skill.id for skill in card.skills], "url": card.url}

        # Blocking send: the answer is the finished task.
        plain = ClientFactory(ClientConfig(httpx_client=http, streaming=False)).create(card)
        events = [event async for event in plain.send_message(message("What is an osprey?"))]
        task, _ = events[-1]
        seen["send"] = {"state": task.status.state.value, "answer": artifact_text(task), "context": task.context_id}

        # A stream in the same conversation: status updates, the answer as an artifact, a final status.
        streaming = ClientFactory(ClientConfig(httpx_client=http, streaming=True)).create(card)
        kinds, last = [], None
        async for task_now, update in streaming.send_message(message("And where does it live?", task.context_id)):
            kinds.append(update.kind if update is not None else "task")
            last = task_now
        seen["stream"] = {
            "kinds": kinds,
            "state": last.status.state.value,
            "answer": artifact_text(last),
            "context": last.context_id,
        }

        # Polling: a non-blocking send answers at once; tasks/get follows it to the end.
        polling = ClientFactory(ClientConfig(httpx_client=http, streaming=False, polling=True)).create(card)
        events = [event async for event in polling.send_message(message("Polled question"))]
        first, _ = events[-1]
        got = first
        for _ in range(200):
            got = await plain.get_task(TaskQueryParams(id=first.id, history_length=1))
            if got.status.state.value in ("completed", "failed", "canceled"):
                break
            await asyncio.sleep(0.05)
        seen["poll"] = {
            "first": first.status.state.value,
            "state": got.status.state.value,
            "answer": artifact_text(got),
            "history": [entry.role.value for entry in got.history or []],
        }

        # Resubscribing to a finished task gives the task and ends.
        resubscribed = [item async for item in streaming.resubscribe(TaskIdParams(id=task.id))]
        seen["resubscribe"] = [entry[0].status.state.value for entry in resubscribed]

        seen["cancel_finished"] = await error_code(plain.cancel_task(TaskIdParams(id=task.id)))
        seen["get_unknown"] = await error_code(plain.get_task(TaskQueryParams(id="tsk_missing")))
    print(json.dumps(seen))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
