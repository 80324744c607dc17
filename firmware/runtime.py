# The board's main loop: settings -> drivers -> agent -> MQTT (docs/firmware.md).
#
# One loop, one place for failures: every network problem is an OSError caught
# in _network_step, after which the board keeps sampling into its buffer and
# reconnects with jittered backoff. The watchdog resets a board that hangs anyway.
#
# Longer than 400 lines on purpose: every module costs the board RAM when it is
# imported, and the loop's steps (network, sampling, cards, commands, updates) share
# one state; the logic that can be tested apart lives in firmware/core/.
import gc
import json
import random
import socket

import machine
import network
import ntptime

from firmware.core import config as board_settings
from firmware.core import update as ota
from firmware.core.agent import FW_VERSION, Agent, one_line
from firmware.core.backoff import Backoff
from firmware.core.faults import SensorFault
from firmware.ticks import Monotonic, epoch_ms, sleep_ms

MYPY = False
if MYPY:  # the type checker's view only: MicroPython has no typing module
    from typing import Any  # noqa: F401  (used in type comments)

SETTINGS_PATH = "settings.json"
WATCHDOG_MS = 30000
NTP_RETRY_MS = 3600000
SOCKET_TIMEOUT_S = 5
# The card reader is asked for a card this often, and tried again this long after it
# failed to answer (unplugged, miswired).
CARD_POLL_MS = 200
CARD_RETRY_MS = 10000


def log(message):
    print("makerwatch: " + message)


def load_settings(path=SETTINGS_PATH):
    """Settings and the problems found in them; bad or missing values fall back to defaults."""
    try:
        with open(path) as f:
            raw = json.load(f)
    except OSError:
        return board_settings.validate({})[0], [path + ": missing; running on defaults"]
    except ValueError as exc:
        return board_settings.validate({})[0], [
            path + ": not valid JSON (%s); running on defaults" % exc
        ]
    return board_settings.validate(raw)


def make_sensors(settings):
    """(power sensor or None, temperature sensor or None) from the settings."""
    power = None  # type: Any
    temperature = None  # type: Any
    if settings["power_sensor"] == "ct":
        from firmware.drivers.ct_clamp import CTClamp

        power = CTClamp(settings)
    elif settings["power_sensor"] == "pzem":
        from firmware.drivers.pzem_uart import PZEM

        power = PZEM(settings)
    if settings["temp_sensor"] == "ds18b20":
        from firmware.drivers.ds18b20 import DS18B20

        temperature = DS18B20(settings)
    elif settings["temp_sensor"] in ("max6675", "max31855"):
        from firmware.drivers.thermocouple import Thermocouple

        temperature = Thermocouple(settings)
    return power, temperature


class Board:
    def __init__(self, settings, problems=(), settings_path=SETTINGS_PATH):
        from firmware.drivers.pins import Button, Output

        self.settings = settings
        self.settings_path = settings_path  # where a calibration is kept
        self.power, self.temperature = make_sensors(settings)
        names = [s.name for s in (self.power, self.temperature) if s is not None]
        if settings["card_reader"] != "none" and settings["card_secret"]:
            names.append(settings["card_reader"])  # the server learns a reader is fitted
        self.agent = Agent(settings, names)
        for problem in problems:
            log("settings: " + problem)
            self.agent.event("config_rejected", problem)
        self.agent.event("boot", "firmware " + FW_VERSION)
        self.relay = (
            Output(settings["relay_pin"], settings["relay_active_high"])
            if settings["relay_pin"] >= 0
            else None
        )
        self.led = Output(settings["led_pin"]) if settings["led_pin"] >= 0 else None
        self.button = Button(settings["button_pin"]) if settings["button_pin"] >= 0 else None
        self.buzzer = Output(settings["buzzer_pin"]) if settings["buzzer_pin"] >= 0 else None
        self.cards, self.reader = self._make_reader()
        self._reader_up = False
        self._reader_checked_ms = 0
        self._next_card_ms = 0
        self._signal = None  # (since ms, pattern) of the last card's LED and buzzer pattern
        self.clock = Monotonic()
        self.wdt = machine.WDT(timeout=WATCHDOG_MS)
        self.wlan = network.WLAN(network.STA_IF)
        self.client = None  # type: Any
        self.backoff = Backoff(random.random)
        self._next_connect_ms = 0
        self._next_ntp_ms = 0
        self._next_sample_ms = 0
        self._last_traffic_ms = 0
        self._identify_until_ms = 0
        self._from_queue = False  # True while connecting: what arrives then was queued
        self._recent_power_w = []  # the last few power readings, for a calibration
        self._last_temp_c = None
        # Updates: the slot this version runs from, whether it is on trial (it must
        # connect and report within update_trial_s, or main.py rolls it back at the
        # next boot), and whether to restart into a version just received.
        self.boot_state = ota.read_boot()
        self.updater = ota.Updater(
            settings["site"], settings["device"], settings["update_key"],
            self.boot_state.get("slot", ""),
        )  # fmt: skip
        self._trial_until_ms = (
            settings["update_trial_s"] * 1000 if self.boot_state.get("trial") else None
        )
        self._restart = False

    # Network ------------------------------------------------------------

    def _wifi_ready(self, now):
        if self.wlan.isconnected():
            return True
        if now >= self._next_connect_ms:
            self.wlan.active(True)
            self.wlan.connect(self.settings["wifi_ssid"], self.settings["wifi_password"])
            self._next_connect_ms = now + self.backoff.next_ms()
        return False

    def _sync_time(self, now):
        if now < self._next_ntp_ms:
            return
        self._next_ntp_ms = now + NTP_RETRY_MS
        try:
            ntptime.host = self.settings["ntp_host"]
            ntptime.settime()
        except (OSError, OverflowError) as exc:
            log("NTP failed (%s); readings go without ts until it works" % exc)
            self._next_ntp_ms = now + 60000

    def _connect(self, now):
        from firmware.core.mqtt import MQTTClient, tls_socket

        s = self.settings
        address = socket.getaddrinfo(s["mqtt_host"], s["mqtt_port"])[0][-1]
        sock = socket.socket()
        try:
            sock.settimeout(SOCKET_TIMEOUT_S)
            sock.connect(address)
            if s["mqtt_ca_file"]:  # the site's TLS listener: the password never goes in clear
                try:
                    with open(s["mqtt_ca_file"]) as ca:
                        pem = ca.read()
                except OSError as exc:
                    raise OSError("cannot read %s: %s" % (s["mqtt_ca_file"], exc)) from exc
                sock = tls_socket(sock, s["mqtt_host"], pem)
            client = MQTTClient(
                sock, "mw-" + s["device"], s["mqtt_keepalive_s"], SOCKET_TIMEOUT_S, self._on_message
            )
            # A persistent session: the broker keeps the board's subscriptions and queues
            # its QoS 1 commands while it is away, so a switch-off sent during a Wi-Fi blip
            # (or lost in flight with the link) arrives when it is back. What arrives before
            # the subscriptions are confirmed is that queue (_on_message).
            self._from_queue = True
            client.connect(
                clean=False,
                will=self.agent.will(),
                user=s["mqtt_user"] or None,
                password=s["mqtt_password"] or None,
            )
            client.subscribe(self.agent.topic("cmd/#"), 1)
            client.subscribe(self.agent.topic("config"), 1)
            client.subscribe(self.agent.topic("update/+"), 1)
            if self.cards is not None:
                client.subscribe(self.agent.topic("access"), 1)
            self._from_queue = False
            # Online only once commands can reach the board: a command sent the moment
            # it appears would otherwise find no subscription and be dropped.
            rssi = self.wlan.status("rssi") if self.wlan.isconnected() else None
            mem = gc.mem_free() if hasattr(gc, "mem_free") else None
            dropped = self.cards.taps.dropped if self.cards is not None else None
            birth = self.agent.birth(rssi, mem, epoch_ms(), taps_dropped=dropped)
            client.publish(self.agent.topic("status"), birth, 1, True)
        except OSError as exc:
            sock.close()
            # Said each time: a wrong CA or host name in the settings fails here for ever.
            log("could not connect to %s:%d (%s)" % (s["mqtt_host"], s["mqtt_port"], exc))
            raise
        self.client = client
        self._last_traffic_ms = now
        log(
            "connected to %s:%d%s"
            % (s["mqtt_host"], s["mqtt_port"], " (TLS)" if s["mqtt_ca_file"] else "")
        )
        self._settle_update()

    def _settle_update(self):
        """Connected and reported: a version on trial is kept; a rollback is told."""
        state = self.boot_state
        try:
            if state.get("trial") or state.get("rolled_back"):
                ota.write_boot({"slot": state.get("slot", "")})
        except OSError as exc:  # unconfirmed, the next boot rolls back: safe, if a pity
            log("cannot write %s (%s)" % (ota.BOOT_PATH, exc))
        if state.get("trial"):
            self._trial_until_ms = None
            self.agent.event("update", "firmware %s running" % FW_VERSION, epoch_ms(),
                             reason="confirmed")  # fmt: skip
        elif state.get("rolled_back"):
            self.agent.event(
                "update",
                "firmware %s did not connect and report within %d s; back on %s"
                % (state["rolled_back"], self.settings["update_trial_s"], FW_VERSION),
                epoch_ms(), reason="rolled_back",
            )  # fmt: skip
        self.boot_state = {"slot": state.get("slot", "")}

    def _publish(self, topic, payload, retain):
        self.client.publish(topic, payload, 1, retain)
        self._last_traffic_ms = self.clock.now_ms()
        self.wdt.feed()  # a long backlog after an outage is progress, not a hang

    def _network_step(self, now):
        if not self._wifi_ready(now):
            return
        self._sync_time(now)
        try:
            if self.client is None:
                if now < self._next_connect_ms:
                    return
                self._connect(now)
                self.agent.restate(now, epoch_ms())  # whoever listens now learns the state
            self.client.check_msg()
            # Connected, whatever failed before (Wi-Fi attempts count too): the next
            # failure starts the backoff from its first step.
            self.backoff.reset()
            self.agent.drain(self._publish, now)
            if self.cards is not None:
                self.cards.drain(self._publish, self.agent.topic("tap"))
            if now - self._last_traffic_ms > self.settings["mqtt_keepalive_s"] * 500:
                self.client.ping()
                self._last_traffic_ms = now
        except OSError as exc:
            self._drop_connection(now, exc)

    def _drop_connection(self, now, reason):
        self.agent.connection_lost()
        if self.client is not None:
            log("connection lost (%s); buffering %d readings" % (reason, len(self.agent.readings)))
            try:
                self.client.sock.close()
            except OSError:
                pass
        self.client = None
        self._next_connect_ms = now + self.backoff.next_ms()

    def _on_message(self, topic, payload):
        if payload is None:  # over the MQTT client's limit: read and dropped; a list kept
            self.agent.event("config_rejected", one_line(topic, 200) + ": too big for the board")
            return
        if topic == self.agent.topic("config"):
            self.agent.apply_config(payload, epoch_ms())
            return
        if topic == self.agent.topic("access") and self.cards is not None:
            self._on_access(payload)
            return
        if topic.startswith(self.agent.topic("update/")):
            self._on_update(topic[len(self.agent.topic("update/")) :], payload)
            return
        commands = self.agent.topic("cmd/")
        if not topic.startswith(commands):
            return  # not the board's: a broker may deliver outside the subscriptions ($SYS)
        action = self.agent.command(topic[len(commands) :], payload, self._from_queue)
        if action is None:
            return
        if action[0] == "relay":
            self._switch_relay(action[1], action[2])
        elif action[0] == "identify":
            self._identify_until_ms = self.clock.now_ms() + action[1] * 1000
            # The answer staff wait for on their phone (docs/protocol.md, Event).
            blinking = "blinking %d s" % action[1] if self.led is not None else "no LED fitted"
            self.agent.event("identify", blinking, epoch_ms())
        elif action[0] == "calibrate":
            self._calibrate(action[1], action[2])

    def _on_update(self, part, payload):
        """A manifest or a chunk of an update; every step and refusal is an `update` event."""
        try:
            if part == "manifest":
                if self.agent.machine.state != "off":
                    raise ota.UpdateError("the machine is in use: update it when it is off")
                manifest = self.updater.start(payload)
                self.agent.event("update", "firmware %s: %d files" % (
                    one_line(str(manifest.get("version")), 32), len(manifest["files"])),
                    epoch_ms(), reason="accepted")  # fmt: skip
            elif part == "chunk":
                done = self.updater.chunk(payload)
                if done is None:
                    return
                self.agent.event("update", "file %d checked" % (done + 1), epoch_ms(),
                                 reason="file")  # fmt: skip
                if self.updater.complete():
                    version = self.updater.manifest["version"]  # type: ignore[index]
                    self.updater.switch()
                    self.agent.event("update", "switching to firmware %s" % version,
                                     epoch_ms(), reason="switching")  # fmt: skip
                    self._restart = True
        except ota.UpdateError as exc:
            self.agent.event("update", one_line(str(exc)), epoch_ms(), reason="failed")
        except OSError as exc:  # flash full or failing: abandoned, the running version stays
            self.updater.manifest = None
            self.agent.event("update", "cannot write the new version: %s" % exc, epoch_ms(),
                             reason="failed")  # fmt: skip

    def _calibrate(self, what, reference):
        """Correct the measurement against a known load or temperature and keep the
        correction in settings.json, so it outlives a restart."""
        key, value, note, problem = board_settings.calibration(
            self.settings, what, reference, self._recent_power_w, self._last_temp_c
        )
        if problem is not None:
            self.agent.event("config_rejected", "cmd/calibrate: " + problem, epoch_ms())
            return
        self.settings[key] = value  # the sensors read their settings each time
        self._recent_power_w = []
        try:
            save_setting(key, value, self.settings_path)
        except OSError as exc:
            log("settings: cannot save %s (%s); it holds until a restart" % (key, exc))
        self.agent.event("config_applied", "%s %s (%s)" % (key, value, note), epoch_ms())

    # Machine ------------------------------------------------------------

    def _switch_relay(self, on, reason):
        if self.relay is None:
            self.agent.event("relay", "no relay fitted", epoch_ms(), relay_on=False, reason=reason)
            return
        if not on and self.cards is not None:
            self.cards.end_session()  # whatever switched it off, the card's session is over
        self.relay.set(on)
        self.agent.switch_relay(on, reason, epoch_ms())

    def _read(self, sensor, method, name):
        if sensor is None:
            return None
        try:
            value = getattr(sensor, method)()
        except SensorFault as exc:
            self.agent.sensor_failed(name, exc.reason, epoch_ms())
            return None
        except OSError as exc:  # a bus error from the driver
            self.agent.sensor_failed(name, "bus error %s" % exc, epoch_ms())
            return None
        if value is not None:
            self.agent.sensor_ok(name, epoch_ms())
        return value

    def _sample(self, now):
        reading = self._read(self.power, "read", "power") or {}
        temp_c = self._read(self.temperature, "read_c", "temperature")
        if temp_c is not None:
            temp_c += self.settings["temp_offset_c"]
        self._last_temp_c = temp_c
        if reading.get("power_w") is not None:
            self._recent_power_w = (self._recent_power_w + [reading["power_w"]])[-5:]
        self.agent.sample(now, epoch_ms(), reading.get("power_w"), temp_c)

    def _local_step(self, now):
        if self.button is not None and self.button.pressed():
            self.agent.event("button", None, epoch_ms())
            # Locked by cards, the button may switch the machine off, never on.
            if self.relay is not None and (self.relay.is_on or not self._enforcing()):
                self._switch_relay(not self.relay.is_on, "button")
        if self.agent.check_safety(now):
            log("relay on for max_on_s: switching off")
            self._switch_relay(False, "safety_timer")
        self._card_step(now)
        self._lights(now)

    def _lights(self, now):
        card = self._signal_level(now)
        if self.buzzer is not None:
            self.buzzer.set(bool(card))
        if self.led is None:
            return
        if card is not None:
            self.led.set(card)
            return
        blinking = now < self._identify_until_ms
        self.led.set(
            (blinking and (now // 250) % 2 == 0) or (not blinking and self.client is not None)
        )

    def _signal_level(self, now):
        """The LED's level in the last card's pattern, or None once it is over."""
        if self._signal is None:
            return None
        from firmware.core.access import pattern_level

        return pattern_level(self._signal[1], now - self._signal[0])

    # Cards (docs/members.md) ---------------------------------------------

    def _make_reader(self):
        """(CardAccess, MFRC522) for a fitted reader, or (None, None)."""
        s = self.settings
        if s["card_reader"] == "none":
            return None, None
        if not s["card_secret"]:
            self._settings_problem("card_secret: the card reader needs the site's card secret "
                                   "(board-secrets.yaml card_secret); the reader is unused")  # fmt: skip
            return None, None
        from machine import Pin, SoftSPI

        from firmware.core.access import CardAccess
        from firmware.drivers.mfrc522 import MFRC522

        cards = CardAccess(s)
        problem = cards.load()
        if problem is not None:
            self._settings_problem(problem + "; waiting for the server's list")
        spi = SoftSPI(baudrate=1000000, polarity=0, phase=0, sck=Pin(s["card_sck_pin"]),
                      mosi=Pin(s["card_mosi_pin"]), miso=Pin(s["card_miso_pin"]))  # fmt: skip
        rst = Pin(s["card_rst_pin"], Pin.OUT) if s["card_rst_pin"] >= 0 else None
        return cards, MFRC522(spi, Pin(s["card_cs_pin"], Pin.OUT, value=1), rst)

    def _settings_problem(self, problem):
        log("settings: " + problem)
        self.agent.event("config_rejected", one_line(problem))

    def _enforcing(self):
        """Does a card unlock the machine (enforce mode, a relay to do it with)?"""
        from firmware.core.access import ENFORCE

        return self.cards is not None and self.cards.mode == ENFORCE and self.relay is not None

    def _card_step(self, now):
        if self.cards is None or now < self._next_card_ms or self.cards.mode == "off":
            return
        self._next_card_ms = now + CARD_POLL_MS
        relay_on = self.relay is not None and self.relay.is_on
        if relay_on and self._enforcing() \
                and self.cards.session_over(now, self.agent.machine.state == "active"):  # fmt: skip
            self._switch_relay(False, "session_idle")
        if not self._reader_ready(now):
            return
        try:
            uid = self.reader.read_uid()
        except (SensorFault, OSError) as exc:  # the reader or its bus stopped answering
            self._reader_lost(now, exc)
            return
        if uid is not None:
            self._on_card(uid, now)

    def _reader_ready(self, now):
        """Is the reader there? Started when it is not; asked every CARD_RETRY_MS when it is
        (an unplugged reader answers no card, which alone says nothing)."""
        if self._reader_up and now < self._reader_checked_ms + CARD_RETRY_MS:
            return True
        self._reader_checked_ms = now
        try:
            if self._reader_up:
                self.reader.check()
            else:
                self.reader.init()
        except (SensorFault, OSError) as exc:
            self._reader_lost(now, exc)
            return False
        if not self._reader_up:
            self.agent.sensor_ok("card_reader", epoch_ms())
            self._reader_up = True
        return True

    def _reader_lost(self, now, exc):
        self._reader_up = False
        self._next_card_ms = now + CARD_RETRY_MS
        reason = exc.reason if isinstance(exc, SensorFault) else "bus error %s" % exc
        self.agent.sensor_failed("card_reader", reason, epoch_ms())

    def _on_card(self, uid, now):
        """A card read: keyed at once (the UID goes no further), then acted on."""
        from firmware.core.access import (
            ACCEPTED_PATTERN,
            ALLOWED,
            ENDED,
            REFUSED,
            REFUSED_PATTERN,
            STAFF,
        )

        enforcing = self._enforcing()
        result = self.cards.tap(uid, epoch_ms(), enforcing, now)
        self._signal = (now, REFUSED_PATTERN if result == REFUSED else ACCEPTED_PATTERN)
        relay_on = self.relay is not None and self.relay.is_on
        if enforcing and result in (ALLOWED, STAFF) and not relay_on:
            self._switch_relay(True, "card")
        elif enforcing and result == ENDED:
            self._switch_relay(False, "card")

    def _on_access(self, payload):
        """The server's access list for this board: applied and kept, or refused."""
        if not payload:
            return  # a cleared retained list: the board keeps the one it has
        try:
            if not self.cards.apply(payload):
                return
        except ValueError as exc:
            self.agent.event("config_rejected", one_line(str(exc)), epoch_ms())
            return
        except OSError as exc:
            log("cannot keep the access list in flash (%s); it holds until a restart" % exc)
        self.agent.event("config_applied", one_line(self.cards.describe()), epoch_ms())
        for problem in board_settings.access_problems(self.settings, self.cards.mode):
            self.agent.event("config_rejected", "access: " + problem, epoch_ms())

    # Loop ---------------------------------------------------------------

    def step(self):
        """One pass of the main loop; returns how long to sleep, in ms."""
        self.wdt.feed()
        now = self.clock.now_ms()
        if now >= self._next_sample_ms:
            self._next_sample_ms = now + int(self.settings["sample_period_s"] * 1000)
            self._sample(now)
        self._local_step(now)
        self._network_step(now)
        self._update_step(now)
        return max(0, min(100, self._next_sample_ms - self.clock.now_ms()))

    def _update_step(self, now):
        if self._restart:
            log("restarting into the new firmware")
            self._power_down()
            machine.reset()
        if self._trial_until_ms is not None and now >= self._trial_until_ms:
            log("firmware %s did not connect within %d s: restarting into the previous one"
                % (FW_VERSION, self.settings["update_trial_s"]))  # fmt: skip
            self._power_down()
            machine.reset()

    def _power_down(self):
        """Before a restart: the relay released (a reset releases it anyway) and the
        broker told, so the restart is not taken for a lost board."""
        if self.relay is not None and self.relay.is_on:
            self._switch_relay(False, "restart")
        if self.client is not None:
            try:
                self.agent.drain(self._publish)
                if self.cards is not None:  # taps are kept in RAM only: send them first
                    self.cards.drain(self._publish, self.agent.topic("tap"))
                self.client.disconnect()
            except OSError:
                pass
            self.client = None

    def run(self, should_stop=lambda: False):
        while not should_stop():
            sleep_ms(self.step())
        if self.client is not None:  # a deliberate stop (host runs): leave cleanly
            try:
                self.client.disconnect()
            except OSError:
                pass


def save_setting(key, value, path=SETTINGS_PATH):
    """Write one setting into settings.json, replacing the file in one step."""
    with open(path) as f:
        raw = json.load(f)
    raw[key] = value
    with open(path + ".new", "w") as f:
        json.dump(raw, f)
    import os

    os.rename(path + ".new", path)


def run():
    settings, problems = load_settings()
    Board(settings, problems).run()
