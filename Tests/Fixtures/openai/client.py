"""The official OpenAI Python SDK against Osprey's OpenAI-compatible door.

    client.py BASE_URL TOKEN

Prints one JSON object of what it saw; a step that fails is recorded in "problems" with its reason.
"""
import json
import sys

from openai import AuthenticationError, BadRequestError, NotFoundError, OpenAI, RateLimitError

BASE, TOKEN = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=BASE + "/v1", api_key=TOKEN, max_retries=0, timeout=30)
seen = {"problems": []}


def step(name, work):
    try:
        work()
    except Exception as error:  # said in the result, so the test shows which step failed and why
        seen["problems"].append(f"{name}: {type(error).__name__}: {error}")


def models():
    seen["models"] = [model.id for model in client.models.list()]


def plain():
    raw = client.chat.completions.with_raw_response.create(
        model="osprey/default", messages=[{"role": "user", "content": "Say hello"}]
    )
    completion = raw.parse()
    seen["answer"] = completion.choices[0].message.content
    seen["finish"] = completion.choices[0].finish_reason
    seen["usage"] = completion.usage.total_tokens
    seen["session"] = raw.headers.get("x-osprey-session")
    seen["extension_session"] = (completion.model_extra or {}).get("osprey", {}).get("session")
    again = client.chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": "And again"}],
        extra_headers={"X-Osprey-Session": seen["session"]},
    )
    seen["again"] = again.choices[0].message.content


def streamed():
    stream = client.chat.completions.create(
        model="osprey/default",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is in notes.txt?"},
        ],
        stream=True,
        stream_options={"include_usage": True},
    )
    parts, usage, finish = [], None, None
    for chunk in stream:
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage.total_tokens
    seen["streamed"] = "".join(parts)
    seen["stream_usage"] = usage
    seen["stream_finish"] = finish


def unknown_model():
    try:
        client.chat.completions.create(model="osprey/nobody", messages=[{"role": "user", "content": "hi"}])
        seen["not_found"] = "no error"
    except NotFoundError as error:
        seen["not_found"] = {"status": error.status_code, "code": error.code, "type": error.type}


def client_tools():
    # Tools the client defines and expects back as tool_calls: refused, not silently ignored.
    weather = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    try:
        client.chat.completions.create(
            model="osprey/default", messages=[{"role": "user", "content": "Weather?"}], tools=[weather]
        )
        seen["client_tools"] = "no error"
    except BadRequestError as error:
        seen["client_tools"] = {"status": error.status_code, "message": error.message}


def bad_key():
    wrong = OpenAI(base_url=BASE + "/v1", api_key="osp_wrong", max_retries=0, timeout=30)
    try:
        wrong.models.list()
        seen["bad_key"] = "no error"
    except AuthenticationError as error:
        seen["bad_key"] = {"status": error.status_code, "type": error.type}
    # Keep failing: the address is locked out, and the SDK reads 429 with Retry-After.
    for _ in range(20):
        try:
            wrong.models.list()
        except AuthenticationError:
            continue
        except RateLimitError as error:
            seen["locked_out"] = {"status": error.status_code, "retry_after": error.response.headers.get("retry-after")}
            break


for name, work in [("models", models), ("plain", plain), ("streamed", streamed), ("unknown model", unknown_model),
                   ("client tools", client_tools), ("bad key", bad_key)]:
    step(name, work)
print(json.dumps(seen))
