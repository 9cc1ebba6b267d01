"""The official `openai` Python SDK's Chat Completions and Responses calls, served by
Anthropic-kind (`claude-chat`) and Gemini-kind (`gemini-chat`) upstreams through translation,
and Responses also by an OpenAI-kind one (`mock-chat`).

Driven by `crates/switchyard/tests/sdk.rs` (see `test_openai_sdk.py` for the environment).
"""

import json
import os

import openai
import pytest

BASE_URL = os.environ["SWITCHYARD_BASE_URL"]
API_KEY = os.environ["SWITCHYARD_API_KEY"]
MARKER = os.environ["SWITCHYARD_MARKER"]

TRANSLATED = ["claude-chat", "gemini-chat"]
EVERY_KIND = ["mock-chat", "claude-chat", "gemini-chat"]

WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
CHAT_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": WEATHER_PARAMETERS,
    },
}
RESPONSES_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The current weather in a city.",
    "parameters": WEATHER_PARAMETERS,
}


def client() -> openai.OpenAI:
    return openai.OpenAI(base_url=BASE_URL + "/v1", api_key=API_KEY, max_retries=0)


@pytest.mark.parametrize("model", TRANSLATED)
def test_chat_create(model):
    completion = client().chat.completions.create(
        model=model,
        messages=[
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": f"hello {MARKER} friend"},
        ],
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content.startswith("Mock answer to:")
    assert MARKER in choice.message.content
    usage = completion.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


@pytest.mark.parametrize("model", TRANSLATED)
def test_chat_stream(model):
    chunks = list(
        client().chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "hello streaming world"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(
        c.choices[0].delta.content or "" for c in chunks if c.choices
    )
    assert text.startswith("Mock answer to:")
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0


@pytest.mark.parametrize("model", TRANSLATED)
def test_chat_tools_round_trip(model):
    c = client()
    question = {"role": "user", "content": "what is the weather in Oslo"}
    first = c.chat.completions.create(model=model, messages=[question], tools=[CHAT_TOOL])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Oslo"}
    second = c.chat.completions.create(
        model=model,
        tools=[CHAT_TOOL],
        messages=[
            question,
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "3 degrees"},
        ],
    )
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content


@pytest.mark.parametrize("model", EVERY_KIND)
def test_responses_create(model):
    response = client().responses.create(
        model=model,
        instructions="Answer briefly.",
        input=f"hello {MARKER} friend",
    )
    assert response.status == "completed"
    assert response.output_text.startswith("Mock answer to:")
    assert MARKER in response.output_text
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0


@pytest.mark.parametrize("model", EVERY_KIND)
def test_responses_stream(model):
    with client().responses.stream(model=model, input="hello streaming world") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert len(deltas) > 1
    assert "".join(deltas) == final.output_text
    assert final.status == "completed"
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("model", EVERY_KIND)
def test_responses_tools_round_trip(model):
    c = client()
    first = c.responses.create(
        model=model, input="what is the weather in Oslo", tools=[RESPONSES_TOOL]
    )
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1
    call = calls[0]
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Oslo"}
    second = c.responses.create(
        model=model,
        tools=[RESPONSES_TOOL],
        input=[
            {"role": "user", "content": "what is the weather in Oslo"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "3 degrees"},
        ],
    )
    assert second.status == "completed"
    assert second.output_text
