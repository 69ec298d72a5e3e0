"""An OpenAI-compatible chat server on 127.0.0.1 that misbehaves on purpose (stdlib only), for the failure tests.

    python tests/misbehaving_server.py PORT MODE [LATENCY]

MODE: ``ok`` (every chat request answered ``評価：[[4]]``), ``500`` (HTTP 500 to every chat request), ``html`` (200
with an HTML page), ``hang`` (never answers), ``empty`` (``"choices": []``), ``500-turn2`` (HTTP 500 to judge prompts
of a second turn, the rest ``ok``), ``die-after-N`` (``ok`` for N chat requests, then HTTP 500). ``GET /v1/models``
always answers. LATENCY: seconds each chat answer takes. Every chat request is counted in ``PORT.count`` and its
body kept in ``PORT.payloads.jsonl``, in the server's working folder.
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, MODE = int(sys.argv[1]), sys.argv[2]
LATENCY = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
LOCK = threading.Lock()
SEEN = [0]
TURN2 = "<|The Start of Assistant A's Conversation with User|>"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._send(200, json.dumps({"object": "list", "data": [{"id": "judge", "object": "model"}]}).encode())

    def do_POST(self):
        payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        with LOCK:
            SEEN[0] += 1
            seen = SEEN[0]
        with open(f"{PORT}.count", "a", encoding="utf-8") as fh:
            fh.write(f"{seen}\n")
        with open(f"{PORT}.payloads.jsonl", "a", encoding="utf-8") as fh:  # what the client sent, for the tests
            fh.write(json.dumps(payload, ensure_ascii=False) + "\n")
        time.sleep(LATENCY)
        text = json.dumps(payload.get("messages", ""), ensure_ascii=False)
        if MODE == "hang":
            time.sleep(3600)
        if MODE == "500" or (MODE == "500-turn2" and TURN2 in text) or \
                (MODE.startswith("die-after-") and seen > int(MODE.rsplit("-", 1)[1])):
            return self._send(500, b'{"error": "internal error"}')
        if MODE == "html":
            return self._send(200, b"<html><body>Bad Gateway</body></html>", "text/html")
        choices = [] if MODE == "empty" else [
            {"index": 0, "message": {"role": "assistant", "content": "評価：[[4]]"}, "finish_reason": "stop"}]
        self._send(200, json.dumps({"id": "x", "object": "chat.completion", "model": "judge", "choices": choices},
                                   ensure_ascii=False).encode())


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
