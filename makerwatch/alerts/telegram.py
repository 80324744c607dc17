"""The staff chat on Telegram (python-telegram-bot): every alert arrives with buttons to
acknowledge it, switch the machine off or snooze the reminders for an hour, and
`/status` lists the machines that are on. Only members of the configured staff
groups, and the configured users, may act; the person who pressed is who acted.

The bot is one more notification route (safety first, rate-limited) and reaches
the alerts only through `StaffActions`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update, User
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from makerwatch.alerts.notifier import Notification, Route
from makerwatch.core.site_config import Language, TelegramBot
from makerwatch.core.vocabulary import TERMS

__all__ = ["ActionResult", "StaffActions", "StaffChat"]

log = logging.getLogger(__name__)

SNOOZE_MIN = 60  # the chat's "Snooze 1 h" button
RETRY_FIRST_S = 5.0
RETRY_MAX_S = 300.0
ActionResult = str  # a key of REPLIES

# The glossary's words (core/vocabulary.py), as the board's buttons say them.
BUTTONS: dict[str, dict[Language, str]] = {
    "ack": TERMS["acknowledge"],
    "off": TERMS["switch_off"],
    "snooze": TERMS["snooze"],
}
REPLIES: dict[str, dict[Language, str]] = {
    "acknowledged": {"en": "Noted: you are on it.", "ru": "Отмечено: занимаетесь вы.",
                     "kk": "Белгіленді: сіз айналысып жатырсыз."},
    "snoozed": {"en": "Reminders snoozed for 1 h.", "ru": "Напоминания отложены на 1 ч.",
                "kk": "Еске салу 1 сағатқа кейінге қалдырылды."},
    "switching_off": {"en": "Switching it off.", "ru": "Отключаем.", "kk": "Өшіріп жатырмыз."},
    "no_relay": {"en": "This machine has no relay to switch.", "ru": "У этого оборудования нет реле.",
                 "kk": "Бұл жабдықта реле жоқ."},
    "already": {language: on_it + "." for language, on_it in TERMS["on_it"].items()},
    "gone": {"en": "This alert is no longer active.", "ru": "Это оповещение уже неактивно.",
             "kk": "Бұл ескерту енді белсенді емес."},
    "not_staff": {"en": "Only staff can do this.", "ru": "Это могут делать только сотрудники.",
                  "kk": "Мұны тек қызметкерлер жасай алады."},
    "unknown_action": {"en": "This button is not one of the bot's; nothing was done.",
                       "ru": "Это не кнопка бота; ничего не сделано.",
                       "kk": "Бұл боттың батырмасы емес; ештеңе жасалмады."},
    "on_now": {"en": "On now:", "ru": "Сейчас включено:", "kk": "Қазір қосулы:"},
    "nothing_on": {"en": "Nothing is on.", "ru": "Всё выключено.", "kk": "Барлығы өшірулі."},
}  # fmt: skip


class StaffActions(Protocol):
    """What the chat may ask of the alerts; each returns a key of REPLIES (and `who`)."""

    async def acknowledge_from_chat(
        self, alert_id: str, by: str, snooze_min: float | None
    ) -> tuple[ActionResult, str]: ...
    async def switch_off_from_chat(self, alert_id: str, by: str) -> tuple[ActionResult, str]: ...
    def machines_on(self, language: Language) -> list[str]: ...


def person(user: User) -> str:
    """How a staff member is named in the alert history: their Telegram name, which
    anyone can set to anything, then their Telegram id, which nobody else can have.
    The id is always last, so a name that imitates the suffix stays visibly a name."""
    name = " ".join("".join(c if c.isprintable() else " " for c in user.full_name).split())
    return f"{name[:64] or user.username or '?'}, Telegram {user.id}"


class StaffChat:
    def __init__(
        self, settings: TelegramBot, actions: StaffActions, default_language: Language
    ) -> None:
        self._settings = settings
        self._actions = actions
        self.language: Language = settings.language or default_language
        self._app = (
            Application.builder()
            .token(settings.token)
            .base_url(f"{settings.api_url.rstrip('/')}/bot")
            .build()
        )
        self._app.add_handler(CallbackQueryHandler(self._on_button))
        self._app.add_handler(CommandHandler("status", self._on_status))

    @property
    def route(self) -> Route:
        s = self._settings
        return Route("telegram", s.rules, self.language, s.max_per_minute, None, self._send)

    async def run(self) -> None:
        """Connect to the Bot API, retrying with backoff while it cannot be reached (the
        rest of ingest does not wait for it), then poll for updates in the background."""
        delay = RETRY_FIRST_S
        while True:
            try:
                await self._app.initialize()
                await self._app.start()
                assert self._app.updater is not None
                await self._app.updater.start_polling(allowed_updates=["message", "callback_query"])
                log.info("staff chat: polling %s", self._settings.api_url)
                return
            except TelegramError as exc:
                log.warning("staff chat: %s; retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)  # backoff while the Bot API is unreachable
                delay = min(delay * 2, RETRY_MAX_S)

    async def stop(self) -> None:
        if self._app.updater is not None and self._app.updater.running:
            await self._app.updater.stop()
        if self._app.running:
            await self._app.stop()
        with contextlib.suppress(TelegramError, RuntimeError):
            await self._app.shutdown()

    def _t(self, key: str, **fields: str) -> str:
        return REPLIES[key][self.language].format(**fields)

    def _may_act(self, update: Update) -> bool:
        user, chat = update.effective_user, update.effective_chat
        return (user is not None and user.id in self._settings.users) or (
            chat is not None and chat.id in self._settings.chats
        )

    async def _send(self, note: Notification, language: Language) -> bool:
        markup = None
        if note.alert_id is not None:
            markup = InlineKeyboardMarkup([[
                InlineKeyboardButton(BUTTONS[action][language], callback_data=f"{action}:{note.alert_id}")
                for action in ("ack", "off", "snooze")
            ]])  # fmt: skip
        for chat in self._settings.chats:
            await self._app.bot.send_message(chat, note.body(language), reply_markup=markup)
        return True

    async def _on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.data is None:
            return
        if not self._may_act(update):
            await query.answer(self._t("not_staff"), show_alert=True)
            return
        action, _, alert_id = query.data.partition(":")
        if action not in BUTTONS:  # forged data: our buttons carry only these actions
            log.warning("staff chat: refused unknown button action %r from Telegram user %d",
                        query.data[:64], query.from_user.id)  # fmt: skip
            await query.answer(self._t("unknown_action"), show_alert=True)
            return
        by = person(query.from_user)
        if action == "off":
            result, who = await self._actions.switch_off_from_chat(alert_id, by)
        else:
            snooze = SNOOZE_MIN if action == "snooze" else None
            result, who = await self._actions.acknowledge_from_chat(alert_id, by, snooze)
        await query.answer(self._t(result, who=who))

    async def _on_status(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        if not self._may_act(update):
            await message.reply_text(self._t("not_staff"))
            return
        lines = self._actions.machines_on(self.language)
        text = "\n".join([self._t("on_now"), *lines]) if lines else self._t("nothing_on")
        await message.reply_text(text)
