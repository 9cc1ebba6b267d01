"""The official `openai` Python SDK against a running Switchyard.

Driven by `crates/switchyard/tests/sdk.rs`, which starts the real server (SQLite or
PostgreSQL, with the testkit's mock upstream and the offline demo provider) and passes:

- `SWITCHYARD_BASE_URL`: the server, e.g. `http://127.0.0.1:PORT`
- `SWITCHYARD_API_KEY`: a key allowed every model
- `SWITCHYARD_LIMITED_KEY`: a key whose allowlist is only `demo-chat`
- `SWITCHYARD_MARKER`: a unique string sent in prompts; the Rust side then proves that it was
  stored nowhere (the request log keeps metadata only).

Models: `mock-*` and `fault-*` go to the mock upstream (the `fault-*` names select its fault
modes), `demo-*` to the built-in deterministic demo provider.
"""

import json
import math
import os
import uuid

import openai
import pytest

BASE_URL = os.environ["SWITCHYARD_BASE_URL"]
API_KEY = os.environ["SWITCHYARD_API_KEY"]
LIMITED_KEY = os.environ["SWITCHYARD_LIMITED_KEY"]
MARKER = os.environ["SWITCHYARD_MARKER"]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def client(api_key: str = API_KEY) -> openai.OpenAI:
    """An SDK client pointed at the gateway, without the SDK's own retries."""
    return openai.OpenAI(base_url=BASE_URL + "/v1", api_key=api_key, max_retries=0)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def assert_usage_adds_up(usage) -> None:
    assert usage is not None
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def collect_stream(**kwargs) -> list:
    """Every chunk of a streamed chat completion, in order."""
    with client().chat.completions.create(stream=True, **kwargs) as stream:
        return list(stream)


def content_of(chunks) -> str:
    return "".join(
        choice.delta.content or "" for chunk in chunks for choice in chunk.choices
    )


# ---------------------------------------------------------------------------------------------
# Models


def test_models_list_contains_the_configured_models():
    ids = {model.id for model in client().models.list()}
    assert {"mock-chat", "demo-chat", "demo-embed", "mock-embed"} <= ids


def test_models_retrieve_one():
    model = client().models.retrieve("demo-chat")
    assert model.id == "demo-chat"
    assert model.object == "model"


def test_limited_key_lists_only_its_models():
    ids = [model.id for model in client(LIMITED_KEY).models.list()]
    assert ids == ["demo-chat"]


# ---------------------------------------------------------------------------------------------
# Chat completions


@pytest.mark.parametrize("model", ["mock-chat", "demo-chat"])
def test_chat_non_stream(model):
    completion = client().chat.completions.create(
        model=model, messages=user("Say hello to the SDK test")
    )
    assert completion.object == "chat.completion"
    assert completion.model
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert choice.finish_reason == "stop"
    assert_usage_adds_up(completion.usage)


def test_chat_mock_answer_passes_through():
    completion = client().chat.completions.create(
        model="mock-chat", messages=user("alpha beta gamma delta epsilon zeta")
    )
    assert completion.choices[0].message.content == (
        "Mock answer to: alpha beta gamma delta epsilon"
    )
    # The mock counts words: 6 in the prompt, 8 in the answer.
    assert completion.usage.prompt_tokens == 6
    assert completion.usage.completion_tokens == 8


@pytest.mark.parametrize(
    ("model", "answered_as"),
    [
        # The demo provider answers under the name the client asked for.
        ("demo-chat", "demo-chat"),
        # An upstream's answer passes through verbatim: the mock names its own model.
        ("mock-chat", "mock-gpt"),
    ],
)
def test_chat_response_model_field(model, answered_as):
    completion = client().chat.completions.create(
        model=model, messages=user("Which model are you?")
    )
    assert completion.model == answered_as


@pytest.mark.parametrize("model", ["demo-chat", "mock-chat"])
def test_stream_without_usage_request_matches_non_stream_and_hides_usage(model):
    prompt = "Tell me about streaming in three sentences"
    whole = client().chat.completions.create(model=model, messages=user(prompt))
    chunks = collect_stream(model=model, messages=user(prompt))
    assert len(chunks) > 2
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert content_of(chunks) == whole.choices[0].message.content
    # The gateway asks upstreams for usage; the client did not, so it must not see it.
    assert [c for c in chunks if c.usage is not None] == []
    assert [c for c in chunks if c.choices == []] == []
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert len({chunk.id for chunk in chunks}) == 1


@pytest.mark.parametrize("model", ["mock-chat", "demo-chat"])
def test_stream_with_usage_request_ends_with_one_usage_chunk(model):
    chunks = collect_stream(
        model=model,
        messages=user("Count the words of this prompt please"),
        stream_options={"include_usage": True},
    )
    with_usage = [i for i, chunk in enumerate(chunks) if chunk.usage is not None]
    assert with_usage == [len(chunks) - 1], "exactly one usage chunk, and it is last"
    last = chunks[-1]
    assert last.choices == []
    assert_usage_adds_up(last.usage)
    assert all(chunk.choices for chunk in chunks[:-1])
    assert content_of(chunks)
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_stream_tool_call_arguments_accumulate_to_json():
    with client().chat.completions.stream(
        model="mock-chat",
        messages=user("What is the weather in Oslo?"),
        tools=[WEATHER_TOOL],
    ) as stream:
        events = list(stream)
        final = stream.get_final_completion()
    assert any(event.type == "tool_calls.function.arguments.done" for event in events)
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert len(calls) == 1
    assert calls[0].type == "function"
    assert calls[0].id
    assert calls[0].function.name == "get_weather"
    arguments = json.loads(calls[0].function.arguments)
    assert isinstance(arguments, dict)


# ---------------------------------------------------------------------------------------------
# Embeddings


@pytest.mark.parametrize("model", ["demo-embed", "mock-embed"])
def test_embeddings_default_base64_decodes_to_floats(model):
    response = client().embeddings.create(model=model, input=["alpha", "beta gamma"])
    assert response.object == "list"
    assert [item.index for item in response.data] == [0, 1]
    vectors = [item.embedding for item in response.data]
    assert len(vectors) == 2
    assert all(isinstance(x, float) for v in vectors for x in v)
    assert len(vectors[0]) == len(vectors[1]) > 0
    assert vectors[0] != vectors[1]
    assert response.usage.prompt_tokens > 0
    assert response.usage.total_tokens >= response.usage.prompt_tokens


@pytest.mark.parametrize("model", ["demo-embed", "mock-embed"])
def test_embeddings_float_equals_default(model):
    inputs = ["alpha", "beta gamma"]
    default = client().embeddings.create(model=model, input=inputs)
    floats = client().embeddings.create(
        model=model, input=inputs, encoding_format="float"
    )
    assert len(floats.data) == len(default.data) == 2
    for a, b in zip(default.data, floats.data):
        assert len(a.embedding) == len(b.embedding)
        assert all(
            math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-6)
            for x, y in zip(a.embedding, b.embedding)
        )


# ---------------------------------------------------------------------------------------------
# Errors: the SDK's own exception classes, from the OpenAI error shape


def test_bad_key_is_authentication_error():
    with pytest.raises(openai.AuthenticationError) as raised:
        client("sk-not-a-real-key").chat.completions.create(
            model="demo-chat", messages=user("hi")
        )
    assert raised.value.status_code == 401
    assert raised.value.request_id


def test_unknown_model_is_not_found():
    with pytest.raises(openai.NotFoundError) as raised:
        client().chat.completions.create(
            model="no-such-model", messages=user("hi")
        )
    assert raised.value.status_code == 404
    assert raised.value.code == "model_not_found"


def test_empty_messages_is_bad_request_saying_why():
    with pytest.raises(openai.BadRequestError) as raised:
        client().chat.completions.create(model="demo-chat", messages=[])
    error = raised.value
    assert error.status_code == 400
    assert error.type == "invalid_request_error"
    assert error.param == "messages"
    # `error.message` is the SDK's summary; `error.body` is the server's error object.
    message = error.body["message"]
    assert "messages" in message
    assert "at least one" in message


def test_limited_key_on_other_model_is_permission_denied():
    with pytest.raises(openai.PermissionDeniedError) as raised:
        client(LIMITED_KEY).chat.completions.create(
            model="mock-chat", messages=user("hi")
        )
    assert raised.value.status_code == 403


def test_limited_key_on_its_model_succeeds():
    completion = client(LIMITED_KEY).chat.completions.create(
        model="demo-chat", messages=user("hi")
    )
    assert completion.choices[0].message.content


def test_upstream_400_passes_its_message_through():
    with pytest.raises(openai.BadRequestError) as raised:
        client().chat.completions.create(model="fault-400", messages=user("hi"))
    assert raised.value.status_code == 400
    assert raised.value.body["message"] == "mock: this model rejects the request"


def test_upstream_500_is_internal_server_error_502():
    with pytest.raises(openai.InternalServerError) as raised:
        client().chat.completions.create(model="fault-500", messages=user("hi"))
    assert raised.value.status_code == 502


def test_upstream_429_is_rate_limit_error():
    with pytest.raises(openai.RateLimitError) as raised:
        client().chat.completions.create(model="fault-429", messages=user("hi"))
    assert raised.value.status_code == 429


def test_raw_response_carries_request_id():
    raw = client().chat.completions.with_raw_response.create(
        model="demo-chat", messages=user("hi")
    )
    assert raw.status_code == 200
    request_id = raw.headers.get("x-request-id")
    assert request_id
    uuid.UUID(request_id)
    assert raw.parse().choices[0].message.content


# ---------------------------------------------------------------------------------------------
# Marker traffic: the Rust side proves the marker was stored nowhere.


def test_marker_in_non_stream_chat():
    completion = client().chat.completions.create(
        model="mock-chat", messages=user(f"secret {MARKER} please keep it")
    )
    # The mock echoes the prompt's first words, so the marker is in the answer too.
    assert MARKER in completion.choices[0].message.content


def test_marker_in_stream_chat():
    chunks = collect_stream(
        model="mock-chat",
        messages=user(f"secret {MARKER} please keep it"),
        stream_options={"include_usage": True},
    )
    assert MARKER in content_of(chunks)


def test_marker_in_demo_chat():
    completion = client().chat.completions.create(
        model="demo-chat", messages=user(f"secret {MARKER} please keep it")
    )
    assert completion.choices[0].message.content


def test_marker_in_embeddings_input():
    response = client().embeddings.create(model="mock-embed", input=[MARKER, "plain"])
    assert len(response.data) == 2


def test_marker_in_failed_requests():
    with pytest.raises(openai.NotFoundError):
        client().chat.completions.create(
            model="no-such-model", messages=user(f"secret {MARKER}")
        )
    with pytest.raises(openai.BadRequestError):
        client().chat.completions.create(
            model="fault-400", messages=user(f"secret {MARKER}")
        )
