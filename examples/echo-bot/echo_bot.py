#!/usr/bin/env python3
"""An example bot for inboxd: answers every inbound text of an `ai` conversation with an echo.

inboxd POSTs each inbound message of a conversation in `ai` mode to the workspace's bot URL
(workspace setting `bot: {url, secret}`), signed like an outgoing webhook. This bot checks the
signature and the timestamp, answers 200 at once, and replies through inboxd's send API with an API
key. A message saying "human" makes it hand the conversation over to the agents
(POST /api/conversations/{id}/handover), after which inboxd sends it nothing more from that
conversation. Python 3 standard library only (Debian's python3).

Settings (environment):
  INBOXD_URL      inboxd's base URL                        (http://127.0.0.1:8080)
  INBOXD_API_KEY  an API key of the workspace              (required)
  BOT_SECRET      the workspace's bot secret               (required)
  BOT_ADDR        address to listen on                     (127.0.0.1)
  BOT_PORT        port to listen on                        (8090)
"""

import hashlib
import hmac
import http.server
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

INBOXD_URL = os.environ.get("INBOXD_URL", "http://127.0.0.1:8080").rstrip("/")
API_KEY = os.environ.get("INBOXD_API_KEY", "")
SECRET = os.environ.get("BOT_SECRET", "")
MAX_BODY = 1 << 20
MAX_SKEW_S = 300

seen = set()  # delivery ids already handled (inboxd delivers at least once)
seen_lock = threading.Lock()


def log(*parts):
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


def signature_ok(timestamp, body, signature):
    """X-Inboxd-Signature is sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the secret>."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(time.time() - ts) > MAX_SKEW_S:  # an old delivery replayed by someone else
        return False
    expected = "sha256=" + hmac.new(SECRET.encode(), timestamp.encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def call_api(method, path, payload):
    req = urllib.request.Request(INBOXD_URL + path, data=json.dumps(payload).encode(),
                                 method=method,
                                 headers={"Content-Type": "application/json",
                                          "X-API-Key": API_KEY})
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, res.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return 0, str(e)


def answer(event):
    message = event.get("message") or {}
    if event.get("type") != "message.created" or message.get("direction") != "inbound":
        return
    conversation = message.get("conversationId")
    text = message.get("text") or ""
    if text.strip().lower() == "human":
        status, body = call_api("POST", f"/api/conversations/{conversation}/handover",
                                {"mode": "human"})
        log("handover", conversation, status, body[:200])
        return
    # The delivery id as clientMessageId: a delivery that comes twice sends one reply.
    status, body = call_api("POST", "/api/messages/send",
                            {"conversationId": conversation, "text": "echo: " + text,
                             "clientMessageId": "echo-" + event.get("id", "")})
    log("reply", conversation, status, body[:200])


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        try:
            length = int(self.headers.get("Content-Length", "-1"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            return self.finish_with(413)
        body = self.rfile.read(length)
        if not signature_ok(self.headers.get("X-Inboxd-Timestamp", ""), body,
                            self.headers.get("X-Inboxd-Signature", "")):
            log("refused a delivery with a bad signature or timestamp")
            return self.finish_with(401)
        delivery = self.headers.get("X-Inboxd-Delivery", "")
        with seen_lock:
            repeated = delivery in seen
            seen.add(delivery)
            if len(seen) > 100000:
                seen.clear()
        self.finish_with(200)  # answer at once; the reply goes out meanwhile
        if repeated:
            return
        try:
            event = json.loads(body)
        except ValueError:
            return
        threading.Thread(target=answer, args=(event,), daemon=True).start()

    def finish_with(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    if not API_KEY or not SECRET:
        sys.exit("echo_bot: set INBOXD_API_KEY and BOT_SECRET")
    addr = os.environ.get("BOT_ADDR", "127.0.0.1")
    port = int(os.environ.get("BOT_PORT", "8090"))
    server = http.server.ThreadingHTTPServer((addr, port), Handler)
    log(f"echo bot listening on http://{addr}:{server.server_port}/, answering through {INBOXD_URL}")
    server.serve_forever()


if __name__ == "__main__":
    main()
