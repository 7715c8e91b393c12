#!/usr/bin/env python3
"""Walks the protocol's Summary Flow against a running server, as a client written only from the
protocol document would: REST to register and get tokens, then the WebSocket frames exactly as the
document spells them. Exits non-zero on the first surprise.

    pip install websockets
    python3 examples/summary_flow.py http://127.0.0.1:8000
"""

import asyncio
import json
import sys
import time
import urllib.request

import websockets


def post(base, path, body):
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def account(base, name):
    creds = {"username": name, "password": "summary-flow-pw"}
    user = post(base, "/api/register/", creds)
    tokens = post(base, "/api/token/", creds)
    return user, tokens["access"]


async def expect(ws, kind):
    frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=5))
    assert frame["type"] == kind, f"expected {kind}, got {frame}"
    print("  <-", json.dumps(frame))
    return frame


async def send(ws, frame):
    print("  ->", json.dumps(frame))
    await ws.send(json.dumps(frame))


async def main(base):
    tag = str(int(time.time() * 1000))
    alice, alice_token = account(base, f"alice{tag}")
    john, john_token = account(base, f"john_doe{tag}")
    ws_base = base.replace("http", "ws", 1)

    # 1. Client connects with token.
    async with websockets.connect(f"{ws_base}/ws/chat/?token={alice_token}") as a, \
            websockets.connect(f"{ws_base}/ws/chat/?token={john_token}") as j:
        # 6. Client searches users.
        await send(a, {"type": "chat.search_user", "keyword": f"john_doe{tag}"})
        found = await expect(a, "chat.search_results")
        assert found["results"] == [{"id": john["id"], "username": john["username"]}], found

        # 7. Client starts new conversation.
        await send(a, {"type": "chat.start_conversation", "receiver_id": john["id"]})
        started = await expect(a, "chat.conversation_started")
        conversation_id = started["conversation"]["id"]

        # 2. Client requests conversations.
        await send(a, {"type": "chat.get_conversations"})
        listed = await expect(a, "chat.conversations")
        item = listed["conversations"][0]
        assert item["id"] == conversation_id, listed
        assert {p["user__id"] for p in item["participants"]} == {alice["id"], john["id"]}, item

        # 3. Client selects a conversation and requests messages.
        await send(a, {"type": "chat.get_messages", "conversation_id": conversation_id})
        history = await expect(a, "chat.messages")
        assert history["messages"] == [], history

        # 4. Client sends messages: echoed to the sender, delivered to the other side.
        await send(a, {"type": "chat.message", "conversation_id": conversation_id, "content": "Hello!"})
        echo = await expect(a, "chat.message")
        received = await expect(j, "chat.message")
        for frame in (echo, received):
            message = frame["message"]
            assert message["content"] == "Hello!" and message["sender"]["id"] == alice["id"], frame
            assert message["timestamp"].endswith("Z") and message["attachment"] is None, frame

        # 5. Client sends typing events.
        await send(a, {"type": "chat.typing", "receiver_id": john["id"], "is_typing": True})
        typing = await expect(j, "chat.typing")
        # The spec's fields, exactly; the server adds the conversation's id (an addition).
        spec = {key: typing[key] for key in ("type", "sender_id", "is_typing")}
        assert spec == {"type": "chat.typing", "sender_id": alice["id"], "is_typing": True}, typing
        assert set(typing) - set(spec) <= {"conversation_id"}, typing

        # Read receipts: john reads, alice is told.
        await send(j, {"type": "chat.read", "conversation_id": conversation_id})
        read = await expect(a, "chat.read")
        assert read["reader_id"] == john["id"] and read["conversation_id"] == conversation_id, read

    print("summary flow: ok")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"))
