"""A local stand-in for Telegram's Bot API (https://core.telegram.org/bots/api), which the
build machines cannot reach. It serves the methods the staff chat uses, checks each
request against the documented parameters and types (any other parameter, a missing
one or a wrong type is answered 400 and recorded as a mistake), long-polls
getUpdates, and lets a test push the updates people would cause."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

# method -> (required parameters, optional ones), as the Bot API documents them.
METHODS: dict[str, tuple[set[str], set[str]]] = {
    "getMe": (set(), set()),
    "deleteWebhook": (set(), {"drop_pending_updates"}),
    "getUpdates": (set(), {"offset", "limit", "timeout", "allowed_updates"}),
    "sendMessage": ({"chat_id", "text"}, {
        "business_connection_id", "message_thread_id", "direct_messages_topic_id", "parse_mode",
        "entities", "link_preview_options", "disable_notification", "protect_content",
        "allow_paid_broadcast", "message_effect_id", "suggested_post_parameters",
        "reply_parameters", "reply_markup",
    }),
    "answerCallbackQuery": ({"callback_query_id"}, {"text", "show_alert", "url", "cache_time"}),
    "setMyCommands": ({"commands"}, {"scope", "language_code"}),
    "close": (set(), set()),
    "sendDocument": ({"chat_id", "document"}, {
        "business_connection_id", "message_thread_id", "direct_messages_topic_id", "thumbnail",
        "caption", "parse_mode", "caption_entities", "disable_content_type_detection",
        "disable_notification", "protect_content", "allow_paid_broadcast", "message_effect_id",
        "suggested_post_parameters", "reply_parameters", "reply_markup",
    }),
}  # fmt: skip
BOT = {"id": 7000001, "is_bot": True, "first_name": "Makerwatch", "username": "makerwatch_bot",
       "can_join_groups": True, "can_read_all_group_messages": False,
       "supports_inline_queries": False}  # fmt: skip


@dataclass
class BotApi:
    token: str
    port: int
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    mistakes: list[str] = field(default_factory=list)
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _new: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        return [p for m, p in self.calls if m == "sendMessage"
                and (chat_id is None or int(p["chat_id"]) == chat_id)]  # fmt: skip

    def menus(self) -> list[dict[str, Any]]:
        """The command menus set (setMyCommands), in order."""
        return [p for m, p in self.calls if m == "setMyCommands"]

    def documents(self, chat_id: int) -> list[dict[str, Any]]:
        return [p for m, p in self.calls if m == "sendDocument" and int(p["chat_id"]) == chat_id]

    def answers(self) -> list[dict[str, Any]]:
        return [p for m, p in self.calls if m == "answerCallbackQuery"]

    def press(self, user: dict[str, Any], chat: dict[str, Any], message_id: int, data: str) -> str:
        """Someone presses an inline button under message `message_id` in `chat`."""
        query_id = f"q{next(self._ids)}"
        message = {"message_id": message_id, "date": int(time.time()), "chat": chat,
                   "from": BOT, "text": "..."}  # fmt: skip
        self._push({"callback_query": {"id": query_id, "from": user, "message": message,
                                       "chat_instance": "1", "data": data}})  # fmt: skip
        return query_id

    def command(self, user: dict[str, Any], chat: dict[str, Any], text: str) -> None:
        """Someone sends a command ("/status") in `chat`."""
        entity = {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
        self._push({"message": {"message_id": next(self._ids), "date": int(time.time()),
                                "chat": chat, "from": user, "text": text,
                                "entities": [entity]}})  # fmt: skip

    def _push(self, update: dict[str, Any]) -> None:
        self._updates.append({"update_id": 1000 + len(self._updates), **update})
        self._new.set()

    async def handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        if token != self.token:
            return web.json_response({"ok": False, "error_code": 401,
                                      "description": "Unauthorized"}, status=401)  # fmt: skip
        if method not in METHODS:
            self.mistakes.append(f"unknown method {method}")
            return web.json_response({"ok": False, "error_code": 404,
                                      "description": "Not Found"}, status=404)  # fmt: skip
        params = await _parameters(request)
        required, optional = METHODS[method]
        problems = [f"missing {p}" for p in required - params.keys()]
        problems += [f"unknown parameter {p}" for p in params.keys() - required - optional]
        problems += _type_problems(method, params)
        if problems:
            self.mistakes.append(f"{method}: {'; '.join(problems)}")
            return web.json_response({"ok": False, "error_code": 400,
                                      "description": f"Bad Request: {problems[0]}"}, status=400)  # fmt: skip
        self.calls.append((method, params))
        return web.json_response({"ok": True, "result": await self._result(method, params)})

    async def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT
        if method in ("deleteWebhook", "answerCallbackQuery", "setMyCommands", "close"):
            return True
        if method == "getUpdates":
            offset = int(params.get("offset", 0))
            pending = [u for u in self._updates if u["update_id"] >= offset]
            if not pending:
                self._new.clear()
                try:
                    await asyncio.wait_for(self._new.wait(), float(params.get("timeout", 0)))
                except TimeoutError:
                    return []
                pending = [u for u in self._updates if u["update_id"] >= offset]
            return pending
        chat_id = int(params["chat_id"])  # sendMessage, sendDocument
        if method == "sendDocument":
            document = params["document"]
            return {"message_id": next(self._ids), "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "supergroup" if chat_id < 0 else "private"},
                    "from": BOT, "document": {"file_id": f"f{next(self._ids)}",
                    "file_unique_id": "u1", "file_name": document.filename}}  # fmt: skip
        message = {"message_id": next(self._ids), "date": int(time.time()),
                   "chat": {"id": chat_id, "type": "supergroup" if chat_id < 0 else "private"},
                   "from": BOT, "text": params["text"]}  # fmt: skip
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        return message


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    content: bytes


async def _parameters(request: web.Request) -> dict[str, Any]:
    """The Bot API takes a query string, form data or a JSON body; values in forms are
    JSON-serialized where they are not plain strings."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        params.update(await request.json())
        return params
    for key, value in (await request.post()).items():
        if isinstance(value, web.FileField):  # an uploaded file (sendDocument's document)
            params[key] = Upload(value.filename, value.content_type, value.file.read())
            continue
        text = str(value)
        try:
            params[key] = (
                json.loads(text) if text[:1] in "[{" or text in ("true", "false") else text
            )
        except ValueError:
            params[key] = text
    return params


def _type_problems(method: str, params: dict[str, Any]) -> list[str]:
    problems = []
    if "chat_id" in params and not str(params["chat_id"]).lstrip("-").isdigit():
        problems.append("chat_id must be an integer")
    if method == "sendMessage" and not 1 <= len(str(params.get("text", ""))) <= 4096:
        problems.append("text must be 1-4096 characters")
    if method == "answerCallbackQuery" and len(str(params.get("text", ""))) > 200:
        problems.append("text must be at most 200 characters")
    if method == "setMyCommands":
        problems += _command_problems(params)
    markup = params.get("reply_markup")
    if markup is not None:
        rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            problems.append("reply_markup.inline_keyboard must be an array of arrays")
        else:
            for button in (b for row in rows for b in row):
                data = button.get("callback_data", "")
                if not button.get("text") or not 1 <= len(data.encode()) <= 64:
                    problems.append(f"bad button {button}")
    return problems


def _command_problems(params: dict[str, Any]) -> list[str]:
    """setMyCommands: 1-100 commands of 1-32 of a-z, 0-9 and _, descriptions of 1-256
    characters; a scope is an object with a known type (a chat's with its chat_id)."""
    problems = []
    commands = params["commands"]
    if not isinstance(commands, list) or not 1 <= len(commands) <= 100:
        return ["commands must be an array of 1-100 BotCommand"]
    for command in commands:
        name, about = command.get("command", ""), command.get("description", "")
        if not re.fullmatch(r"[a-z0-9_]{1,32}", name) or not 1 <= len(about) <= 256:
            problems.append(f"bad command {command}")
    scope = params.get("scope")
    if scope is not None:
        kinds = {"default", "all_private_chats", "all_group_chats", "all_chat_administrators",
                 "chat", "chat_administrators", "chat_member"}  # fmt: skip
        if not isinstance(scope, dict) or scope.get("type") not in kinds:
            problems.append(f"bad scope {scope}")
        elif scope["type"].startswith("chat") and "chat_id" not in scope:
            problems.append("a chat scope needs chat_id")
    return problems


async def serve(api: BotApi) -> web.AppRunner:
    app = web.Application()
    app.router.add_route("POST", "/bot{token}/{method}", api.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", api.port).start()
    return runner
