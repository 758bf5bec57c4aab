"""A real HTTP server on 127.0.0.1 that speaks OpenAI's chat/completions protocol with scripted replies
and failures, for testing the LLM paths without a network or an account."""

import json
import math
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def chat_completion(content: str, *, logprobs: list | None = None, model: str = "scripted-model") -> dict:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
                "logprobs": {"content": logprobs} if logprobs is not None else None,
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def digit_logprobs(distributions: list[dict[int, float]]) -> tuple[str, list]:
    """The text and logprobs of a reply writing one number per line, each drawn from a distribution
    {activation: probability}; the written number is the most likely one."""
    content, text = [], []
    for distribution in distributions:
        written = max(distribution, key=distribution.get)
        content.append(
            {
                "token": str(written),
                "logprob": math.log(distribution[written]),
                "top_logprobs": [{"token": str(v), "logprob": math.log(p)} for v, p in distribution.items()],
            }
        )
        content.append({"token": "\n", "logprob": 0.0, "top_logprobs": []})
        text.append(str(written))
    return "\n".join(text), content


class ScriptedLLMServer:
    """Each request takes the next scripted action: a reply, an HTTP error, a raw body or a stall."""

    def __init__(self) -> None:
        self.script: deque = deque()
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                server.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "json": json.loads(body or b"null")}
                )
                action = (
                    server.script.popleft()
                    if server.script
                    else ("status", 500, {"error": {"message": "script exhausted"}}, {})
                )
                kind = action[0]
                if kind == "stall":
                    time.sleep(action[1])
                    action = ("status", 200, chat_completion("too late"), {})
                _, status, payload, headers = action
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting, as a timeout test wants

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def reply(
        self, content: str, *, logprobs: list | None = None, model: str = "scripted-model"
    ) -> "ScriptedLLMServer":
        self.script.append(("status", 200, chat_completion(content, logprobs=logprobs, model=model), {}))
        return self

    def fail(self, status: int, message: str = "scripted failure", *, code: str | None = None, headers=None):
        error = {"message": message, "type": "error", "code": code}
        self.script.append(("status", status, {"error": error}, headers or {}))
        return self

    def raw(self, status: int, body: str):
        self.script.append(("status", status, body, {}))
        return self

    def stall(self, seconds: float):
        self.script.append(("stall", seconds))
        return self

    def __enter__(self) -> "ScriptedLLMServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
