"""A Streamable HTTP MCP server whose `tools/call` of `hang` and `stream` never answers (and ignores notifications/cancelled).

Usage: python3 hanging_http_server.py PORT

It speaks just enough of the transport for a client to reach a hung call: `initialize` (JSON, with an
Mcp-Session-Id), notifications (202), `tools/list` (JSON), `tools/call` of `echo` (JSON), of `hang` (the request
is held open, its connection watched for the client closing it) and of `stream` (the same, after an event
stream's head). `GET /mcp` is 405 (no session stream).
`GET /held` answers how many hung calls still hold their connection open, so a test can see whether the client
lets go of the calls it gave up on.
"""

import http.server
import json
import select
import socket
import sys
import threading

held = 0
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, status, value, headers=()):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, content in headers:
            self.send_header(name, content)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/held":
            with lock:
                return self.send_json(200, {"held": held})
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_DELETE(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        global held
        message = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        method = message.get("method")
        if "id" not in message:
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        answer = {"jsonrpc": "2.0", "id": message["id"]}
        if method == "initialize":
            answer["result"] = {
                "protocolVersion": message["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "hanging", "version": "1"},
            }
            return self.send_json(200, answer, [("Mcp-Session-Id", "s1")])
        if method == "tools/list":
            schema = {"type": "object", "properties": {"text": {"type": "string"}}}
            answer["result"] = {
                "tools": [
                    {"name": "echo", "description": "Echoes text.", "inputSchema": schema},
                    {"name": "hang", "description": "Never answers.", "inputSchema": schema},
                    {"name": "stream", "description": "Opens an event stream, never answers.", "inputSchema": schema},
                ]
            }
            return self.send_json(200, answer)
        if method == "tools/call" and message["params"]["name"] == "echo":
            text = message["params"].get("arguments", {}).get("text", "")
            answer["result"] = {"content": [{"type": "text", "text": text}]}
            return self.send_json(200, answer)
        if method == "tools/call":
            # Held until the client closes the connection: nothing is sent, or (`stream`) only an event stream's
            # head.
            if message["params"]["name"] == "stream":
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                self.wfile.flush()
            with lock:
                held += 1
            try:
                while True:
                    readable, _, _ = select.select([self.connection], [], [], 0.1)
                    if readable and self.connection.recv(1, socket.MSG_PEEK) == b"":
                        break
            except OSError:
                pass
            finally:
                with lock:
                    held -= 1
            self.close_connection = True
            return
        answer["error"] = {"code": -32601, "message": "unknown method"}
        self.send_json(200, answer)


http.server.ThreadingHTTPServer.daemon_threads = True
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
