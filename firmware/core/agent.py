# The board's logic, free of hardware and network: it turns samples into
# messages and keeps them until they are delivered.
#
# Every reading goes into the ring buffer first; drain() publishes what is
# waiting (one reading alone, several as a batch, oldest first) and removes it
# only once the broker has acknowledged it. Offline is simply "drain failed":
# the readings stay, the oldest dropped and counted when the buffer is full.
# An acknowledgement is not yet safety: a broker killed before it next saves its
# store loses what it acknowledged since the last save, so the last few seconds
# of acknowledged readings are kept and sent again after the connection is lost.
import json

from firmware.core import config as board_settings
from firmware.core import encoder
from firmware.core.ring import RingBuffer
from firmware.core.safety import SafetyTimer
from firmware.core.state import OFF, StateMachine

# 0.2.0: the board states its machine's state from the first reading, on every
# connect and every STATE_RESTATE_MS, with when it began and "on since".
FW_VERSION = "0.2.0"
MAX_PENDING_EVENTS = 20
MAX_PENDING_STATES = 100  # usage is counted from state changes: keep them while offline
# A retained state is restated this often, so a server that lost it while the board
# stayed connected (a retained topic cleared by hand) knows it again within this time;
# a reconnect restates it at once.
STATE_RESTATE_MS = 60 * 60 * 1000
# Readings the broker acknowledged within this long before its last acknowledgement are
# sent again after the connection is lost: Mosquitto saves its store every 5 s
# (autosave_interval, makerwatch/ops/broker_tuning.py), twice that is the margin. At
# most RESEND_MAX_READINGS of them (one default batch; about 81 bytes each). InfluxDB
# stores a reading sent twice once (same series and time); untimed readings are never
# sent again, since the server would stamp them a second time.
RESEND_WINDOW_MS = 10000
RESEND_MAX_READINGS = 50


def one_line(text, limit=300):
    """`text` cut to `limit` with control characters as "?": an event's detail and reason
    are one line (protocol), and a topic or key from a broker may hold anything."""
    return "".join(c if " " <= c != "\x7f" else "?" for c in text[:limit])


class Agent:
    def __init__(self, settings, sensors=()):
        self.settings = settings
        self.own_settings = dict(
            settings
        )  # from settings.json: what a remote config may not loosen
        self.sensors = list(sensors)  # names reported in the birth message
        self.machine = StateMachine(
            settings["idle_above_w"],
            settings["active_above_w"],
            settings["hysteresis"],
            int(settings["min_dwell_s"] * 1000),
        )
        self.readings = RingBuffer(settings["buffer_size"])
        self.events = RingBuffer(MAX_PENDING_EVENTS)
        self.states = RingBuffer(MAX_PENDING_STATES)
        self.acknowledged = RingBuffer(RESEND_MAX_READINGS)  # (when, reading), timed only
        self.resend = []  # acknowledged readings to send again, oldest first
        self.safety = SafetyTimer(settings["max_on_s"] * 1000)
        self.relay_on = False
        self.seq = 0
        self._next_telemetry_ms = None
        self._faulty = {}  # sensor name -> reason, while it is failing
        # The state as last stated: (state, began epoch ms or None, began monotonic ms,
        # seq, on since epoch ms or None, on since monotonic ms or None); None until
        # the first reading has settled.
        self._stated = None
        self._first_sample_ms = None
        self._next_restate_ms = None

    # Topics -------------------------------------------------------------

    def topic(self, kind):
        return encoder.topic(self.settings["site"], self.settings["device"], kind)

    def will(self):
        """(topic, payload, qos, retain) of the last will: offline, retained."""
        return (self.topic("status"), encoder.status(False), 1, True)

    def birth(self, rssi_dbm=None, free_mem_bytes=None, epoch_ms=None, taps_dropped=None):
        """The birth message; `taps_dropped`: taps a card reader's full offline queue lost
        (None without a reader)."""
        return encoder.status(
            True,
            fw=FW_VERSION,
            rssi_dbm=rssi_dbm,
            sensors=self.sensors,
            free_mem_bytes=free_mem_bytes,
            buffer_dropped=self.readings.dropped,
            epoch_ms=encoder.valid_epoch_ms(epoch_ms),
            taps_dropped=taps_dropped,
        )

    # Samples ------------------------------------------------------------

    def sample(self, now_ms, epoch_ms, power_w=None, temp_c=None):
        """Take one sample; queue a reading when due or when the state changes."""
        epoch_ms = encoder.valid_epoch_ms(epoch_ms)
        if power_w is not None and not encoder.in_range("power_w", power_w):
            self.sensor_failed("power", "reading %s W out of range" % power_w, epoch_ms)
            power_w = None
        if temp_c is not None and not encoder.in_range("temp_c", temp_c):
            self.sensor_failed("temperature", "reading %s C out of range" % temp_c, epoch_ms)
            temp_c = None
        changed = self.machine.update(power_w, now_ms) if power_w is not None else None
        if changed is not None:
            m = self.machine
            on_since = self._state_began(changed, now_ms, epoch_ms)
            self.states.append(
                encoder.state(
                    changed, epoch_ms, self.seq, m.previous, m.previous_duration_ms, on_since
                )
            )
        elif power_w is not None:
            self._state_known(now_ms, epoch_ms)
        due = self._next_telemetry_ms is None or now_ms >= self._next_telemetry_ms
        if not (due or changed):
            return
        self._next_telemetry_ms = now_ms + int(self.settings["telemetry_period_s"] * 1000)
        if power_w is None and temp_c is None:
            return  # nothing trustworthy to report; the fault events say why
        self.readings.append(
            {"epoch_ms": epoch_ms, "seq": self.seq, "power_w": power_w, "temp_c": temp_c}
        )
        self.seq += 1

    def _state_began(self, state, now_ms, epoch_ms):
        was = self._stated
        if state == OFF:
            on_since = (None, None)
        elif was is not None and was[0] != OFF:
            on_since = (was[4], was[5])  # idle <-> active: still the same session
        else:
            on_since = (epoch_ms, now_ms)
        self._stated = (state, epoch_ms, now_ms, self.seq, on_since[0], on_since[1])
        self._next_restate_ms = now_ms + STATE_RESTATE_MS
        return on_since[0]

    def _state_known(self, now_ms, epoch_ms):
        """The first reading says "off" once it has held for the dwell (an "on" at boot
        is a change, and reported as one); later, restate now and then."""
        if self._first_sample_ms is None:
            self._first_sample_ms = now_ms
        if self._stated is None:
            m = self.machine
            if m.state == OFF and m.settled() and now_ms - self._first_sample_ms >= m.min_dwell_ms:
                began = None if epoch_ms is None else epoch_ms - (now_ms - self._first_sample_ms)
                self._state_began(OFF, self._first_sample_ms, began)
                self.states.append(encoder.state(OFF, began, self.seq))
        elif now_ms >= self._next_restate_ms:
            self.restate(now_ms, epoch_ms)

    def restate(self, now_ms, epoch_ms=None):
        """State the current state again, as it began (after a connect, and now and then).

        The same state, time and seq as when it began, so the server stores the same
        point again; without `previous`, so nothing is counted twice."""
        self._next_restate_ms = now_ms + STATE_RESTATE_MS
        if self._stated is None or len(self.states):
            return  # not known yet, or a newer state is on its way anyway
        state, began, began_ms, seq, on_since, on_since_ms = self._stated
        epoch_ms = encoder.valid_epoch_ms(epoch_ms)
        if epoch_ms is not None:  # a time the board lacked then, from its clock now
            if began is None:
                began = epoch_ms - (now_ms - began_ms)
            if on_since is None and on_since_ms is not None:
                on_since = epoch_ms - (now_ms - on_since_ms)
        self.states.append(encoder.state(state, began, seq, on_since_ms=on_since))

    def telemetry_due_ms(self):
        """When (on the monotonic clock) the next reading falls due; None before the first."""
        return self._next_telemetry_ms

    def sensor_failed(self, sensor, reason, epoch_ms=None):
        if self._faulty.get(sensor) != reason:
            self._faulty[sensor] = reason
            self.event("sensor_fault", "%s: %s" % (sensor, reason), epoch_ms)

    def sensor_ok(self, sensor, epoch_ms=None):
        if sensor in self._faulty:
            del self._faulty[sensor]
            self.event("sensor_ok", sensor, epoch_ms)

    def event(self, kind, detail=None, epoch_ms=None, relay_on=None, reason=None):
        epoch_ms = encoder.valid_epoch_ms(epoch_ms)
        self.events.append(encoder.event(kind, detail, epoch_ms, relay_on, reason))

    # Delivery -----------------------------------------------------------

    def drain(self, publish, now_ms=None):
        """Publish everything waiting, oldest first; stop at the first OSError.

        `publish(topic, payload, retain)` returns once the broker acknowledged it.
        `now_ms`, the monotonic time, dates the acknowledgements, for connection_lost();
        without it nothing is kept to send again.
        """
        for ring, kind, retain in ((self.states, "state", True), (self.events, "event", False)):
            while len(ring):
                publish(self.topic(kind), ring.peek(1)[0], retain)
                ring.drop(1)
        while self.resend:
            sent = self._publish_readings(publish, self.resend[: self.settings["batch_size"]])
            self._acknowledged(self.resend[:sent], now_ms)
            del self.resend[:sent]
        while len(self.readings):
            sent = self._publish_readings(publish, self.readings.peek(self.settings["batch_size"]))
            self._acknowledged(self.readings.peek(sent), now_ms)
            self.readings.drop(sent)

    def _publish_readings(self, publish, waiting):
        """Publish the first of `waiting` alone, or as many as go in one batch; how many."""
        # A reading taken before NTP has no time: it goes alone, and the server
        # stamps it. A batch holds only timed readings (the server refuses others).
        timed = 0
        while timed < len(waiting) and waiting[timed]["epoch_ms"] is not None:
            timed += 1
        if timed <= 1:
            payload, count = encoder.telemetry(waiting[0]), 1
        else:
            payload, count = encoder.batch(waiting[:timed]), timed
        publish(self.topic("telemetry"), payload, False)
        return count

    def _acknowledged(self, readings, now_ms):
        if now_ms is None:
            return
        kept = self.acknowledged
        while len(kept) and now_ms - kept.peek(1)[0][0] > RESEND_WINDOW_MS:
            kept.drop(1)
        for reading in readings:
            if reading["epoch_ms"] is not None:
                kept.append((now_ms, reading))

    def connection_lost(self):
        """The broker is gone: what it acknowledged last may be gone with it. Queue the
        readings it acknowledged within RESEND_WINDOW_MS of its last acknowledgement to
        be sent again, after any still waiting to be sent again."""
        recent = self.acknowledged.peek(RESEND_MAX_READINGS)
        self.acknowledged.drop(RESEND_MAX_READINGS)
        if recent:
            last_ms = recent[-1][0]
            again = [r for when, r in recent if last_ms - when <= RESEND_WINDOW_MS]
            self.resend = (self.resend + again)[-RESEND_MAX_READINGS:]

    # Relay and commands -------------------------------------------------

    def switch_relay(self, on, reason, epoch_ms=None):
        """Record a relay change the runtime made; report it."""
        self.relay_on = on
        self.event("relay", None, epoch_ms, relay_on=on, reason=reason)

    def check_safety(self, now_ms):
        """True when the relay must be switched off now (maximum on-time reached)."""
        return self.safety.must_switch_off(self.relay_on, now_ms)

    def command(self, name, payload, queued=False):
        """Decode a `cmd/<name>` message into an action for the runtime, or None.

        Returns ("relay", on, reason), ("identify", seconds) or ("calibrate", "power" or
        "temperature", the known watts or the reference's degrees). `queued`: the broker kept
        it while the board was away; a switch-off still applies (twice is harmless), but a
        switch-on from then may find nobody at the machine, so it is refused.
        """
        name = one_line(name, 64)
        try:
            body = json.loads(payload)
        except ValueError:
            self.event("config_rejected", "cmd/%s: not JSON" % name)
            return None
        if not isinstance(body, dict) or body.get("v") != 1:
            self.event("config_rejected", 'cmd/%s: expected an object with "v": 1' % name)
            return None
        if name == "relay" and isinstance(body.get("on"), bool):
            return self._relay_command(body, queued)
        action = None
        if name == "identify":
            seconds = body.get("seconds", 10)
            if isinstance(seconds, int) and 1 <= seconds <= 300:
                action = ("identify", seconds)
        elif name == "calibrate" and not queued:
            # Against a load or a thermometer there now: a stale one measures nothing.
            action = _calibration(body)
        if action is None:
            self.event("config_rejected", "cmd/%s: unsupported or malformed" % name)
        return action

    def _relay_command(self, body, queued):
        if body["on"] and not self.settings["allow_remote_on"]:
            # Remote commands may only make the machine safer unless the site says otherwise.
            self.event("config_rejected", "cmd/relay: switching on remotely is not allowed here")
            return None
        if body["on"] and queued:
            self.event("config_rejected", "cmd/relay: a switch-on sent while offline is stale")
            return None
        reason = body.get("reason")
        if not isinstance(reason, str) or not reason or one_line(reason, 64) != reason:
            reason = "command"  # the confirmation must carry a reason the server takes
        return ("relay", body["on"], reason)

    def apply_config(self, payload, epoch_ms=None):
        """Apply a retained `config` message without a reboot; report what happened.

        An empty payload is the retained config cleared: the board goes back to its own
        settings (settings.json), as it would after a reboot with no config retained.
        """
        if not payload:
            self._revert_config(epoch_ms)
            return
        try:
            raw = json.loads(payload)
        except ValueError:
            self.event("config_rejected", "config: not JSON", epoch_ms)
            return
        self.settings, applied, errors = board_settings.apply_runtime(
            self.settings, raw, self.own_settings
        )
        self._configure()
        if errors:
            self.event("config_rejected", one_line("; ".join(errors)), epoch_ms)
        if applied:
            self.event("config_applied", ", ".join(applied), epoch_ms)

    def _configure(self):
        """Hand the runtime settings to the parts that hold a copy."""
        self.machine.configure(self.settings["idle_above_w"], self.settings["active_above_w"])
        self.safety.max_on_ms = self.settings["max_on_s"] * 1000

    def _revert_config(self, epoch_ms):
        changed = [
            k for k in board_settings.RUNTIME_KEYS if self.settings[k] != self.own_settings[k]
        ]
        if not changed:
            return
        self.settings = dict(self.settings)
        for key in changed:
            self.settings[key] = self.own_settings[key]
        self._configure()
        self.event("config_applied", "config cleared: back to own " + ", ".join(changed), epoch_ms)


def _calibration(body):
    """("calibrate", what, value) from a calibrate command's body, or None."""
    for key, what, low, high in (("known_w", "power", 1, 20000),
                                 ("reference_c", "temperature", -50, 1000)):  # fmt: skip
        value = body.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):  # noqa: SIM102
            if low <= value <= high:  # (mypy narrows `value` only when nested)
                return ("calibrate", what, value)
    return None
