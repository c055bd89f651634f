"""A fake Mistral API on loopback, speaking the real HTTP wire protocol.

`FakeMistral` runs a small Starlette app under uvicorn in a background thread, on
127.0.0.1 and a free port, so the real SDKs (mistralai, openai, llama-index) talk to it
exactly as they would to https://api.mistral.ai. Tests see what it received and can make
it fail:

    with FakeMistral(dim=64) as fake:
        embedder = MistralEmbedder(api_key="test", model="mistral-embed", dim=64,
                                   server_url=fake.url)
        ...
        fake.requests            # every request received, in order (path, JSON body)
        fake.fail_next(429, times=3)
        fake.chat_reply = "La mairie délivre l'acte. [1]"

The chat endpoint can also misbehave or answer otherwise, for the generation tests:

    fake.chat_reply = lambda body: ...   # a reply computed from the request's JSON body
    fake.delay_s = 5                     # wait before answering (time-outs)
    fake.break_stream_after = 3          # abort a stream after 3 content chunks
    fake.tool_calls = [ToolCallSpec("search", {"q": "mariage"})]  # answer with a tool call
    fake.judge_reply = '{"1": "non"}'    # the citation judgement's reply (prompts/support)

A citation judgement (prompts/support.v*.md, recognised by its « Phrases à vérifier : »)
is answered apart: `judge_reply` (a string or a function of the body), by default « oui »
for every sentence — a judge that agrees; such calls are in `judge_calls`, not
`chat_calls`.

`reset()` puts every knob back and forgets requests and pending failures.

Endpoints: POST /v1/embeddings (texts under `input`, as both the mistralai and OpenAI
SDKs send them; `inputs` accepted too), POST /v1/chat/completions (plain JSON, or
server-sent events with `"stream": true`), GET /v1/models.

Embeddings are a hashed bag of words: each lowercase word adds 1 at index
`blake2b(word) % dim`, and the vector is L2-normalised. Deterministic across runs and
processes, and texts sharing words get close vectors, so dense search means something.
`HashingEmbedder` computes the same vectors in process, for tests that need no HTTP.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.loopback import LoopbackServer

DEFAULT_DIM = 1024
EMBEDDINGS = "/v1/embeddings"
CHAT = "/v1/chat/completions"
DEFAULT_CHAT_REPLY = "Réponse du modèle de test."

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def hashed_bow(text: str, dim: int = DEFAULT_DIM) -> list[float]:
    """The fake's embedding of `text`: a hashed, L2-normalised bag of words.

    A text without any word gets the unit vector on axis 0 (never a zero vector, which
    cosine similarity cannot handle)."""
    vec = [0.0] * dim
    for word in words(text):
        digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
        vec[int.from_bytes(digest, "big") % dim] += 1.0
    norm = math.sqrt(sum(x * x for x in vec))
    if norm == 0.0:
        vec[0] = 1.0
        return vec
    return [x / norm for x in vec]


class HashingEmbedder:
    """A deterministic in-process `plume.embedding.Embedder` (same vectors as the fake)."""

    def __init__(self, dim: int = DEFAULT_DIM) -> None:
        self.name = f"hashing:{dim}"
        self.dim = dim
        self.calls: list[list[str]] = []  # the texts of each call, in order

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return [hashed_bow(t, self.dim) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        self.calls.append([text])
        return hashed_bow(text, self.dim)


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    body: Any  # the decoded JSON body (None for a GET)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def inputs(self) -> list[str]:
        """The texts of an embeddings request. On the wire the key is `input` (what the
        mistralai 3.x SDK sends, despite its `inputs=` argument, and what the OpenAI SDK
        sends); `inputs` is accepted too."""
        texts = embedding_texts(self.body)
        return texts if texts is not None else []


@dataclass
class _Failure:
    status: int
    times: int
    path: str | None
    retry_after_ms: int | None


ChatReply = str | Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class ToolCallSpec:
    """A function call the fake answers with; `arguments` is sent JSON-encoded, as Mistral
    does. The call's id is `call_<index>` unless given."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def wire(self, index: int) -> dict[str, Any]:
        arguments = (
            self.arguments
            if isinstance(self.arguments, str)
            else json.dumps(self.arguments, ensure_ascii=False)
        )
        return {
            "id": self.id or f"call_{index}",
            "type": "function",
            "function": {"name": self.name, "arguments": arguments},
            "index": index,
        }


class BrokenStream(Exception):
    """Raised inside a streamed reply: uvicorn then drops the connection mid-body, so the
    client's HTTP library sees an incomplete chunked response (no `[DONE]`)."""


def embedding_texts(body: Any) -> list[str] | None:
    """The texts of an embeddings request body, or None when it holds none."""
    if not isinstance(body, dict):
        return None
    texts = body.get("input", body.get("inputs"))
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        return None
    return texts


def message_text(message: dict[str, Any]) -> str:
    """A chat message's text, whether `content` is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


JUDGEMENT = "Phrases à vérifier :"  # what opens the sentences of prompts/support.v*.md


def is_judgement(body: Any) -> bool:
    """A citation judgement's request (prompts/support.v*.md)."""
    users = [m for m in (body or {}).get("messages") or [] if m.get("role") == "user"]
    return bool(users) and JUDGEMENT in message_text(users[-1])


def judged_sentences(body: dict[str, Any]) -> list[str]:
    """The sentences a citation judgement asks about, in order, without their « (cite …) »."""
    users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
    text = message_text(users[-1]).split(JUDGEMENT, 1)[1]
    return re.findall(r"^\d+\. (.*) \(cite : [\d, ]+\)$", text, flags=re.MULTILINE)


def agree(body: dict[str, Any]) -> str:
    """A judge that finds every sentence backed."""
    return json.dumps({str(n): "oui" for n in range(1, len(judged_sentences(body)) + 1)})


class FakeMistral(LoopbackServer):
    name = "fake-mistral"

    """A loopback Mistral-compatible server; a context manager (start on enter)."""

    def __init__(
        self,
        *,
        dim: int = DEFAULT_DIM,
        chat_reply: ChatReply = DEFAULT_CHAT_REPLY,
        api_key: str | None = None,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.chat_reply: ChatReply = chat_reply
        self.api_key = api_key  # when set, other bearer tokens get 401
        self.delay_s = 0.0  # chat: seconds to wait before answering
        self.break_stream_after: int | None = None  # chat stream: content chunks, then abort
        # chat: the finish reason sent ("stop" by default; "length" when cut by max_tokens;
        # "" ends a stream cleanly with [DONE] but without any finish reason)
        self.finish_reason: str | None = None
        self.tool_calls: list[ToolCallSpec] | None = None  # chat: answer with these calls
        self.judge_reply: ChatReply | None = None  # a citation judgement; None: all « oui »
        self._requests: list[ReceivedRequest] = []
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()

    # --- what tests use ----------------------------------------------------------------

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every request received (including those answered with an error), in order."""
        with self._lock:
            return list(self._requests)

    def calls(self, path: str = EMBEDDINGS) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.path == path]

    @property
    def embedding_calls(self) -> list[ReceivedRequest]:
        return self.calls(EMBEDDINGS)

    @property
    def chat_calls(self) -> list[ReceivedRequest]:
        """The chat requests, the citation judgements aside (`judge_calls`)."""
        return [r for r in self.calls(CHAT) if not is_judgement(r.body)]

    @property
    def judge_calls(self) -> list[ReceivedRequest]:
        return [r for r in self.calls(CHAT) if is_judgement(r.body)]

    def clear(self) -> None:
        """Forget the requests received so far (failures still pending stay)."""
        with self._lock:
            self._requests.clear()

    def fail_next(
        self,
        status: int,
        times: int = 1,
        *,
        path: str | None = None,
        retry_after_ms: int | None = None,
    ) -> None:
        """Answer the next `times` calls (to `path`, or to any endpoint) with `status`.

        `retry_after_ms` adds a `retry-after-ms` header, which the Mistral SDK's retry
        loop honours instead of its own backoff."""
        with self._lock:
            self._failures.append(_Failure(status, times, path, retry_after_ms))

    def recover(self) -> None:
        """Cancel the failures still pending."""
        with self._lock:
            self._failures.clear()

    def reset(self) -> None:
        """Back to a well-behaved server: default reply, no delay, no broken stream, no tool
        call, no pending failure, no request recorded (for a fake shared between tests)."""
        self.recover()
        self.clear()
        self.chat_reply = DEFAULT_CHAT_REPLY
        self.delay_s = 0.0
        self.break_stream_after = None
        self.finish_reason = None
        self.tool_calls = None
        self.judge_reply = None

    # --- lifecycle -----------------------------------------------------------------------

    # --- the HTTP app ----------------------------------------------------------------------

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(EMBEDDINGS, self._embeddings, methods=["POST"]),
                Route(CHAT, self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    async def _receive(self, request: Request) -> tuple[Any, Response | None]:
        """Record the request; return its body, or the error response to send instead."""
        body: Any = None
        if request.method == "POST":
            try:
                body = json.loads(await request.body())
            except ValueError:
                body = None
        headers = {k: v for k, v in request.headers.items() if k in ("authorization", "user-agent")}
        path = request.url.path
        with self._lock:
            self._requests.append(ReceivedRequest(request.method, path, body, headers))
            failure = next((f for f in self._failures if f.path in (None, path)), None)
            if failure is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
        if failure is not None:
            extra = {}
            if failure.retry_after_ms is not None:
                extra["retry-after-ms"] = str(failure.retry_after_ms)
            return body, _error(failure.status, _REASONS.get(failure.status, "error"), extra)
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return body, _error(401, "Unauthorized")
        if request.method == "POST" and not isinstance(body, dict):
            return body, _error(400, "Invalid JSON body")
        return body, None

    async def _models(self, request: Request) -> Response:
        _, error = await self._receive(request)
        if error is not None:
            return error
        names = ("mistral-embed", "mistral-small-latest", "mistral-large-latest")
        data = [{"id": n, "object": "model", "created": 0, "owned_by": "mistralai"} for n in names]
        return JSONResponse({"object": "list", "data": data})

    async def _embeddings(self, request: Request) -> Response:
        body, error = await self._receive(request)
        if error is not None:
            return error
        texts = embedding_texts(body)
        if texts is None:
            return _error(422, "input must be a string or a list of strings")
        tokens = sum(len(words(t)) for t in texts)
        return JSONResponse(
            {
                "id": uuid.uuid4().hex,
                "object": "list",
                "model": body.get("model", "mistral-embed"),
                "usage": {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens},
                "data": [
                    {"object": "embedding", "embedding": hashed_bow(t, self.dim), "index": i}
                    for i, t in enumerate(texts)
                ],
            }
        )

    async def _chat(self, request: Request) -> Response:
        body, error = await self._receive(request)
        if error is not None:
            return error
        if self.delay_s > 0:
            await asyncio.sleep(self.delay_s)
        messages = body.get("messages") or []
        tool_calls = [t.wire(i) for i, t in enumerate(self.tool_calls)] if self.tool_calls else None
        if tool_calls is not None:
            reply = ""
        elif is_judgement(body):
            judged = self.judge_reply
            reply = (judged(body) if callable(judged) else judged) if judged else agree(body)
        else:
            reply = self.chat_reply(body) if callable(self.chat_reply) else self.chat_reply
        finish: str | None = "tool_calls" if tool_calls is not None else "stop"
        if self.finish_reason is not None:
            finish = self.finish_reason or None
        prompt_tokens = sum(len(words(message_text(m))) for m in messages if isinstance(m, dict))
        completion_tokens = len(words(reply)) + sum(
            len(words(json.dumps(t["function"]))) for t in tool_calls or []
        )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        ident, model, created = uuid.uuid4().hex, body.get("model", "mistral"), int(time.time())
        if not body.get("stream"):
            return JSONResponse(
                {
                    "id": ident,
                    "object": "chat.completion",
                    "model": model,
                    "created": created,
                    "usage": usage,
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": finish,
                            "message": {
                                "role": "assistant",
                                "content": reply,
                                "tool_calls": tool_calls,
                            },
                        }
                    ],
                }
            )

        def chunk(delta: dict[str, Any], finish: str | None, **extra: Any) -> str:
            data = {
                "id": ident,
                "object": "chat.completion.chunk",
                "model": model,
                "created": created,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

        break_after = self.break_stream_after

        async def events() -> AsyncIterator[str]:
            yield chunk({"role": "assistant", "content": ""}, None)
            for sent, piece in enumerate(re.findall(r"\S+\s*|\s+", reply)):
                if break_after is not None and sent >= break_after:
                    raise BrokenStream(f"stream broken after {sent} chunks")
                yield chunk({"content": piece}, None)
            if break_after is not None:
                raise BrokenStream("stream broken before its end")
            last: dict[str, Any] = {"content": ""}
            if tool_calls is not None:
                last["tool_calls"] = tool_calls
            yield chunk(last, finish, usage=usage)
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")


_REASONS = {
    400: "Bad request",
    401: "Unauthorized",
    429: "Requests rate limit exceeded",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {
        "object": "error",
        "message": message,
        "type": "fake_error",
        "param": None,
        "code": str(status),
    }
    return JSONResponse(body, status_code=status, headers=headers)


@pytest.fixture
def mistral_server() -> Iterator[FakeMistral]:
    """A running fake Mistral server (dimension 1024). Import it into a test module, or
    build `FakeMistral(dim=...)` yourself for another dimension."""
    with FakeMistral() as server:
        yield server
