"""The staff chat on Telegram (python-telegram-bot): every alert arrives with buttons to
acknowledge it, snooze the reminders for an hour and, where Makerwatch may do it,
switch the machine off; `/status` lists the machines that are on, `/start` and
`/help` say what the bot does, and the command menu lists them. One bot serves
several staff groups, each in its own language. Only members of the configured staff
groups, and the configured users, may act; the person who pressed is who acted.

The bot is one more notification route (safety first, rate-limited) and reaches
the alerts only through `StaffActions`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Protocol

from telegram import (
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
    User,
)
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from firmware.core.backoff import Backoff
from makerwatch.alerts.notifier import Notification, Route
from makerwatch.core.site_config import (
    DEFAULT_SEVERITY,
    Device,
    Language,
    RuleName,
    TelegramBot,
    may_switch_off,
)
from makerwatch.core.vocabulary import SNOOZE_MIN, TERMS

__all__ = ["ActionResult", "StaffActions", "StaffChat"]

log = logging.getLogger(__name__)

RETRY_FIRST_MS = 5_000
RETRY_MAX_MS = 300_000
ActionResult = str  # a key of REPLIES

# The glossary's words (core/vocabulary.py), as the board's buttons say them.
BUTTONS: dict[str, dict[Language, str]] = {
    "ack": TERMS["acknowledge"],
    "off": TERMS["switch_off"],
    "snooze": TERMS["snooze"],
    "done": TERMS["maintenance_done"],  # a maintenance alert: its tasks are done
}
# /help: what the bot does, its buttons named as the glossary names them.
HELP: dict[Language, str] = {
    "en": "I post the makerspace's alerts here with buttons: “{ack}” (someone is on it), “{snooze}” "
          "and, for a machine with a relay, “{off}” (never a 3D printer).\n"
          "/status: the machines on now\n/help: this message",
    "ru": "Я присылаю сюда оповещения мастерской с кнопками: «{ack}» (кто-то занимается), «{snooze}» "
          "и, для оборудования с реле, «{off}» (3D-принтеры — никогда).\n"
          "/status — что сейчас включено\n/help — это сообщение",
    "kk": "Мен мұнда шеберхананың ескертулерін батырмалармен жіберемін: «{ack}» (біреу айналысып жатыр), "
          "«{snooze}» және релесі бар жабдыққа «{off}» (3D-принтерлерге ешқашан).\n"
          "/status — қазір қосулы жабдық\n/help — осы хабар",
}  # fmt: skip
REPLIES: dict[str, dict[Language, str]] = {
    "acknowledged": {"en": "Noted: you are on it.", "ru": "Отмечено: занимаетесь вы.",
                     "kk": "Белгіленді: сіз айналысып жатырсыз."},
    "snoozed": {"en": "Reminders snoozed for 1 h.", "ru": "Напоминания отложены на 1 ч.",
                "kk": "Еске салу 1 сағатқа кейінге қалдырылды."},
    "switching_off": {"en": "Switching it off.", "ru": "Отключаем.", "kk": "Өшіріп жатырмыз."},
    # No relay, or one Makerwatch never uses (a 3D printer's: its print would be lost).
    "no_relay": {"en": "Makerwatch does not switch this machine off (no relay, or a 3D printer).",
                 "ru": "Makerwatch не выключает это оборудование (нет реле или это 3D-принтер).",
                 "kk": "Makerwatch бұл жабдықты өшірмейді (релесі жоқ немесе 3D-принтер)."},
    "already": {language: on_it + "." for language, on_it in TERMS["on_it"].items()},
    "maintenance_recorded": {"en": "Recorded: maintenance done by {who}.",
                             "ru": "Записано: обслуживание выполнено ({who}).",
                             "kk": "Жазылды: техникалық қызмет көрсетуді {who} орындады."},
    "gone": {"en": "This alert is no longer active.", "ru": "Это оповещение уже неактивно.",
             "kk": "Бұл ескерту енді белсенді емес."},
    "not_staff": {"en": "Only staff can do this.", "ru": "Это могут делать только сотрудники.",
                  "kk": "Мұны тек қызметкерлер жасай алады."},
    "unknown_action": {"en": "This button is not one of the bot's; nothing was done.",
                       "ru": "Это не кнопка бота; ничего не сделано.",
                       "kk": "Бұл боттың батырмасы емес; ештеңе жасалмады."},
    "on_now": {"en": "On now:", "ru": "Сейчас включено:", "kk": "Қазір қосулы:"},
    "nothing_on": {"en": "Nothing is on.", "ru": "Всё выключено.", "kk": "Барлығы өшірулі."},
    "never_off": {"en": "Makerwatch does not switch this machine off.",
                  "ru": "Makerwatch не выключает это оборудование.",
                  "kk": "Makerwatch бұл жабдықты өшірмейді."},
    "help": {
        language: HELP[language].format(
            ack=TERMS["acknowledge"][language], snooze=TERMS["snooze"][language],
            off=TERMS["switch_off"][language],
        )
        for language in ("kk", "ru", "en")
    },
}  # fmt: skip
# The command menu (Bot API setMyCommands), in each chat's language.
COMMANDS: dict[str, dict[Language, str]] = {
    "status": {"en": "Machines on now", "ru": "Что сейчас включено", "kk": "Қазір қосулы жабдық"},
    "help": {"en": "What the bot does", "ru": "Что умеет бот", "kk": "Бот не істейді"},
}  # fmt: skip


class StaffActions(Protocol):
    """What the chat may ask of the alerts; each returns a key of REPLIES (and `who`)."""

    async def acknowledge_from_chat(
        self, alert_id: str, by: str, snooze_min: float | None
    ) -> tuple[ActionResult, str]: ...
    async def switch_off_from_chat(self, alert_id: str, by: str) -> tuple[ActionResult, str]: ...
    async def maintenance_done_from_chat(
        self, alert_id: str, by: str
    ) -> tuple[ActionResult, str]: ...
    def machines_on(self, language: Language) -> list[str]: ...


def device_of(alert_id: str) -> str:
    """The machine an alert is about: alert ids are "<rule>-<device>" (alerts/engine.py)."""
    for rule in DEFAULT_SEVERITY:  # every rule the site file may name
        if alert_id.startswith(f"{rule}-"):
            return alert_id.removeprefix(f"{rule}-")
    return ""


def person(user: User) -> str:
    """How a staff member is named in the alert history: their Telegram name, which
    anyone can set to anything, then their Telegram id, which nobody else can have.
    The id is always last, so a name that imitates the suffix stays visibly a name."""
    name = " ".join("".join(c if c.isprintable() else " " for c in user.full_name).split())
    return f"{name[:64] or user.username or '?'}, Telegram {user.id}"


class StaffChat:
    def __init__(
        self,
        settings: TelegramBot,
        actions: StaffActions,
        default_language: Language,
        devices: Iterable[Device] = (),
    ) -> None:
        self._settings = settings
        self._actions = actions
        self.language: Language = settings.language or default_language
        self._chats = settings.chat_languages(default_language)  # chat id -> its language
        self._switchable = {d.id for d in devices if may_switch_off(d)}
        self._app = (
            Application.builder()
            .token(settings.token)
            .base_url(f"{settings.api_url.rstrip('/')}/bot")
            .build()
        )
        self._app.add_handler(CallbackQueryHandler(self._on_button))
        self._app.add_handler(CommandHandler("status", self._on_status))
        self._app.add_handler(CommandHandler(["start", "help"], self._on_help))

    @property
    def route(self) -> Route:
        s = self._settings
        return Route("telegram", s.rules, self.language, s.max_per_minute, None, self._send)

    async def run(self) -> None:
        """Connect to the Bot API, retrying with backoff while it cannot be reached (the
        rest of ingest does not wait for it), then poll for updates in the background."""
        backoff = Backoff(first_ms=RETRY_FIRST_MS, max_ms=RETRY_MAX_MS)
        while True:
            try:
                await self._app.initialize()
                await self._set_commands()
                await self._app.start()
                assert self._app.updater is not None
                await self._app.updater.start_polling(allowed_updates=["message", "callback_query"])
                log.info("staff chat: polling %s", self._settings.api_url)
                return
            except TelegramError as exc:
                delay = backoff.next_s()
                log.warning("staff chat: %s; retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)  # backoff while the Bot API is unreachable

    async def stop(self) -> None:
        if self._app.updater is not None and self._app.updater.running:
            await self._app.updater.stop()
        if self._app.running:
            await self._app.stop()
        with contextlib.suppress(TelegramError, RuntimeError):
            await self._app.shutdown()

    async def _set_commands(self) -> None:
        """The command menu: the bot's language by default, each group's in that group."""

        def commands(language: Language) -> list[BotCommand]:
            return [BotCommand(name, texts[language]) for name, texts in COMMANDS.items()]

        bot = self._app.bot
        await bot.set_my_commands(commands(self.language))
        for chat, language in self._chats.items():
            await bot.set_my_commands(commands(language), scope=BotCommandScopeChat(chat))

    def _language_of(self, update: Update) -> Language:
        """A staff group's own language; elsewhere (a private chat) the bot's."""
        chat = update.effective_chat
        return self._chats.get(chat.id, self.language) if chat is not None else self.language

    def _t(self, update: Update, key: str, **fields: str) -> str:
        return REPLIES[key][self._language_of(update)].format(**fields)

    def buttons(self, alert_id: str, language: Language) -> list[str]:
        """The actions offered on an alert: switch-off only where it can work."""
        if alert_id.startswith(f"{RuleName.MAINTENANCE_DUE}-"):
            return ["done", "ack"]  # told once: nothing to snooze, nothing to switch off
        off = ["off"] if device_of(alert_id) in self._switchable else []
        return ["ack", *off, "snooze"]

    def _may_act(self, update: Update) -> bool:
        user, chat = update.effective_user, update.effective_chat
        return (user is not None and user.id in self._settings.users) or (
            chat is not None and chat.id in self._chats
        )

    async def _send(self, note: Notification, language: Language) -> bool:
        for chat, chat_language in self._chats.items():  # each group in its own language
            markup = None
            if note.alert_id is not None:
                markup = InlineKeyboardMarkup([[
                    InlineKeyboardButton(BUTTONS[action][chat_language],
                                         callback_data=f"{action}:{note.alert_id}")
                    for action in self.buttons(note.alert_id, chat_language)
                ]])  # fmt: skip
            await self._app.bot.send_message(chat, note.body(chat_language), reply_markup=markup)
        return True

    async def _on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.data is None:
            return
        if not self._may_act(update):
            await query.answer(self._t(update, "not_staff"), show_alert=True)
            return
        action, _, alert_id = query.data.partition(":")
        if action not in BUTTONS:  # forged data: our buttons carry only these actions
            log.warning("staff chat: refused unknown button action %r from Telegram user %d",
                        query.data[:64], query.from_user.id)  # fmt: skip
            await query.answer(self._t(update, "unknown_action"), show_alert=True)
            return
        by = person(query.from_user)
        if action == "off" and device_of(alert_id) not in self._switchable:
            # Never offered on such an alert; refused here too, whatever the data says.
            await query.answer(self._t(update, "never_off"), show_alert=True)
            return
        result, who = await self._act(action, alert_id, by)
        await query.answer(self._t(update, result, who=who))

    async def _act(self, action: str, alert_id: str, by: str) -> tuple[ActionResult, str]:
        if action == "off":
            return await self._actions.switch_off_from_chat(alert_id, by)
        if action == "done":
            return await self._actions.maintenance_done_from_chat(alert_id, by)
        snooze = SNOOZE_MIN if action == "snooze" else None
        return await self._actions.acknowledge_from_chat(alert_id, by, snooze)

    async def _on_status(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        if not self._may_act(update):
            await message.reply_text(self._t(update, "not_staff"))
            return
        lines = self._actions.machines_on(self._language_of(update))
        on_now, nothing_on = self._t(update, "on_now"), self._t(update, "nothing_on")
        await message.reply_text("\n".join([on_now, *lines]) if lines else nothing_on)

    async def _on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/start and /help: what the bot does, in the chat's language (to anyone: it
        tells nothing about the site)."""
        message = update.effective_message
        if message is not None:
            await message.reply_text(self._t(update, "help"))
