"""The agent: cadence, state changes, offline buffering and batches, commands, config."""

import json

from firmware.core import config
from firmware.core.agent import Agent
from tests.firmware.core.expect import raises

T0 = 1795770000000  # an epoch time in ms after NTP


def make_agent(**overrides):
    raw = {
        "site": "aktobe",
        "device": "solder-1",
        "telemetry_period_s": 10,
        "min_dwell_s": 0,
        "idle_above_w": 2,
        "active_above_w": 15,
        "buffer_size": 10,
        "batch_size": 4,
    }
    raw.update(overrides)
    settings, errors = config.validate(raw)
    assert errors == [], errors
    return Agent(settings, sensors=["ct"])


class Broker:
    """Records what the agent publishes; can be told to fail like a lost connection."""

    def __init__(self):
        self.sent = []
        self.down = False

    def publish(self, topic, payload, retain):
        if self.down:
            raise OSError(113, "no route to host")
        self.sent.append((topic.split("/")[-1], json.loads(payload), retain))


def test_telemetry_follows_the_period():
    """Test one reading per telemetry period, numbered from 0."""
    agent, broker = make_agent(), Broker()
    for second in range(25):
        agent.sample(second * 1000, T0 + second * 1000, power_w=1.0)
        agent.drain(broker.publish)
    telemetry = [body for kind, body, _ in broker.sent if kind == "telemetry"]
    assert [(b["seq"], b["ts"]) for b in telemetry] == [
        (0, 1795770000.0),
        (1, 1795770010.0),
        (2, 1795770020.0),
    ]


def test_state_change_is_reported_at_once_with_a_reading():
    """Test that a state change publishes state (retained) and an immediate reading."""
    agent, broker = make_agent(), Broker()
    agent.sample(0, T0, power_w=0.0)
    agent.drain(broker.publish)
    broker.sent.clear()
    agent.sample(1000, T0 + 1000, power_w=40.0)
    agent.drain(broker.publish)
    kinds = [(kind, retain) for kind, _, retain in broker.sent]
    assert kinds == [("state", True), ("telemetry", False)]
    assert broker.sent[0][1]["state"] == "active"
    assert broker.sent[1][1]["power_w"] == 40.0


def test_offline_readings_arrive_as_batches_in_order():
    """Test that readings taken while offline are sent oldest first, in batches, with original times."""
    agent, broker = make_agent(telemetry_period_s=1), Broker()
    broker.down = True
    for second in range(7):
        agent.sample(second * 1000, T0 + second * 1000, power_w=1.0)
        raises(OSError, agent.drain, broker.publish)
    broker.down = False
    agent.drain(broker.publish)
    batches = [body["readings"] for kind, body, _ in broker.sent if kind == "telemetry"]
    assert [len(b) for b in batches] == [4, 3]
    assert [r["seq"] for b in batches for r in b] == list(range(7))
    assert [r["ts"] for b in batches for r in b] == [1795770000.0 + s for s in range(7)]


def test_full_buffer_drops_oldest_and_reports_it():
    """Test that a long outage keeps the newest readings and counts the dropped ones."""
    agent = make_agent(telemetry_period_s=1, buffer_size=10)
    for second in range(15):
        agent.sample(second * 1000, T0 + second * 1000, power_w=1.0)
    assert agent.readings.dropped == 5
    assert json.loads(agent.birth())["buffer_dropped"] == 5
    assert [r["seq"] for r in agent.readings.peek(100)] == list(range(5, 15))


def test_out_of_range_power_is_a_fault_not_a_reading():
    """Test that an impossible value becomes a sensor_fault event, not data."""
    agent, broker = make_agent(), Broker()
    agent.sample(0, T0, power_w=99999.0, temp_c=25.0)
    agent.drain(broker.publish)
    assert ("event", "sensor_fault") in [(k, b.get("event")) for k, b, _ in broker.sent]
    reading = next(b for k, b, _ in broker.sent if k == "telemetry")
    assert "power_w" not in reading
    assert reading["temp_c"] == 25.0


def test_sensor_fault_is_reported_once_and_recovery_too():
    """Test that a persisting fault gives one event, and recovery one more."""
    agent, broker = make_agent(), Broker()
    for _ in range(3):
        agent.sensor_failed("temperature", "thermocouple open")
    agent.sensor_ok("temperature")
    agent.drain(broker.publish)
    assert [b["event"] for _, b, _ in broker.sent] == ["sensor_fault", "sensor_ok"]


def test_runtime_config_is_applied_and_reported():
    """Test that a config message changes thresholds without a reboot, and bad keys are reported."""
    agent, broker = make_agent(), Broker()
    agent.apply_config(b'{"v":1,"idle_above_w":5,"active_above_w":50,"max_on_s":"soon"}')
    agent.drain(broker.publish)
    assert agent.machine.active_above_w == 50
    events = {b["event"]: b["detail"] for _, b, _ in broker.sent}
    assert events["config_applied"] == "idle_above_w, active_above_w"
    assert events["config_rejected"].startswith("max_on_s:")


def test_commands_are_decoded():
    """Test relay and identify commands, and that a malformed one is reported."""
    agent, broker = make_agent(), Broker()
    assert agent.command("relay", b'{"v":1,"on":false,"reason":"left_on"}') == (
        "relay",
        False,
        "left_on",
    )
    assert agent.command("identify", b'{"v":1,"seconds":5}') == ("identify", 5)
    assert agent.command("relay", b"off") is None
    agent.drain(broker.publish)
    assert broker.sent[0][1]["event"] == "config_rejected"


def test_safety_timer_trips_while_offline():
    """Test that the relay is switched off after max_on_s with no broker at all."""
    agent = make_agent(max_on_s=60)
    agent.switch_relay(True, "button")
    assert not agent.check_safety(0)
    assert agent.check_safety(60000)


def test_readings_without_time_are_never_batched():
    """Test that readings buffered before NTP go one by one (the server stamps them) and never spoil a batch."""
    agent, broker = make_agent(telemetry_period_s=1), Broker()
    broker.down = True
    for second in range(5):
        clock = None if second < 2 else T0 + second * 1000  # NTP arrives at second 2
        agent.sample(second * 1000, clock, power_w=1.0)
        raises(OSError, agent.drain, broker.publish)
    broker.down = False
    agent.drain(broker.publish)
    sent = [body for kind, body, _ in broker.sent if kind == "telemetry"]
    assert [("readings" in b, b.get("seq")) for b in sent] == [(False, 0), (False, 1), (True, None)]
    assert "ts" not in sent[0]
    assert [r["seq"] for r in sent[2]["readings"]] == [2, 3, 4]


def test_every_state_change_while_offline_is_delivered():
    """Test that state changes taken offline all arrive, in order (usage is counted from them)."""
    agent, broker = make_agent(), Broker()
    broker.down = True
    for second, power in enumerate([0, 40, 40, 5, 5, 40, 0]):
        agent.sample(second * 1000, T0 + second * 1000, power_w=float(power))
        raises(OSError, agent.drain, broker.publish)
    broker.down = False
    agent.drain(broker.publish)
    states = [(b["state"], b.get("previous")) for kind, b, _ in broker.sent if kind == "state"]
    assert states == [
        ("off", None),  # the first reading, stated: a machine that is off is known to be off
        ("active", "off"),
        ("idle", "active"),
        ("active", "idle"),
        ("off", "active"),
    ]


def test_the_first_reading_states_off_once_the_dwell_has_passed():
    """Test that a board beside a machine that is off says so, as of its first reading."""
    agent, broker = make_agent(min_dwell_s=5), Broker()
    for second in range(7):
        agent.sample(second * 1000, T0 + second * 1000, power_w=0.5)
        agent.drain(broker.publish)
    states = [body for kind, body, _ in broker.sent if kind == "state"]
    assert states == [{"v": 1, "state": "off", "ts": T0 / 1000, "seq": 1}]


def test_a_machine_on_at_boot_is_stated_as_a_change_not_as_off():
    """Test that a machine already on when the board starts is never stated off."""
    agent, broker = make_agent(min_dwell_s=5), Broker()
    for second in range(7):
        agent.sample(second * 1000, T0 + second * 1000, power_w=40.0)
        agent.drain(broker.publish)
    states = [body["state"] for kind, body, _ in broker.sent if kind == "state"]
    assert states == ["active"]


def test_restating_repeats_the_state_as_it_began_without_previous():
    """Test that a restatement (after a connect) has the change's time, seq and on-since,
    and no previous state, so the server stores the same point and counts nothing twice."""
    agent, broker = make_agent(), Broker()
    for second, power in enumerate([0, 40, 5]):
        agent.sample(second * 1000, T0 + second * 1000, power_w=float(power))
        agent.drain(broker.publish)
    changed = [body for kind, body, _ in broker.sent if kind == "state"][-1]
    assert (changed["state"], changed["on_since"]) == ("idle", (T0 + 1000) / 1000)
    broker.sent.clear()
    agent.restate(60_000, T0 + 60_000)
    agent.drain(broker.publish)
    assert broker.sent == [
        ("state", {k: v for k, v in changed.items() if not k.startswith("previous")}, True)
    ]


def test_state_is_restated_now_and_then():
    """Test that a steady state is restated every STATE_RESTATE_MS, not more often."""
    from firmware.core.agent import STATE_RESTATE_MS

    agent, broker = make_agent(telemetry_period_s=600), Broker()
    step_ms = 60_000
    for i in range(2 * STATE_RESTATE_MS // step_ms + 1):
        agent.sample(i * step_ms, T0 + i * step_ms, power_w=0.0)
        agent.drain(broker.publish)
    times = [body["ts"] for kind, body, _ in broker.sent if kind == "state"]
    assert times == [T0 / 1000] * 3


def test_a_state_taken_before_ntp_is_restated_with_the_time_it_began():
    """Test that a board that had no clock when the state began restates it with the
    time it began, from its monotonic clock, once NTP has set the clock."""
    agent, broker = make_agent(), Broker()
    agent.sample(0, None, power_w=40.0)
    agent.drain(broker.publish)
    broker.sent.clear()
    agent.restate(30_000, T0 + 30_000)
    agent.drain(broker.publish)
    [(_, body, _)] = broker.sent
    assert (body["state"], body["ts"], body["on_since"]) == ("active", T0 / 1000, T0 / 1000)


def test_a_remote_switch_on_is_refused_unless_allowed():
    """Test that cmd/relay on is refused (and reported) by default and taken when the site allows it."""
    settings, _ = config.validate({"relay_pin": 26, "relay_active_high": True})
    board = Agent(settings)
    assert board.command("relay", '{"v":1,"on":true}') is None
    assert board.command("relay", '{"v":1,"on":false,"reason":"left_on"}') == (
        "relay",
        False,
        "left_on",
    )
    allowed, _ = config.validate(
        {"relay_pin": 26, "relay_active_high": True, "allow_remote_on": True}
    )
    assert Agent(allowed).command("relay", '{"v":1,"on":true}') == ("relay", True, "command")


def test_a_cleared_config_brings_back_the_boards_own_settings():
    """Test that an empty retained config (cleared) is not a bad config: the board goes back
    to its own settings, says which, and says nothing when there was nothing to undo."""
    agent, broker = make_agent(max_on_s=600), Broker()
    agent.apply_config(b"")
    agent.apply_config(b'{"v":1,"active_above_w":50,"max_on_s":60}')
    agent.apply_config(b"")
    agent.drain(broker.publish)
    assert (agent.machine.active_above_w, agent.safety.max_on_ms) == (15, 600000)
    assert [(b["event"], b["detail"]) for _, b, _ in broker.sent] == [
        ("config_applied", "active_above_w, max_on_s"),
        ("config_applied", "config cleared: back to own active_above_w, max_on_s"),
    ]


def test_a_queued_switch_off_applies_and_a_queued_switch_on_is_refused():
    """Test that commands the broker kept while the board was away still switch off, but
    never on, even where switching on remotely is allowed."""
    settings, _ = config.validate(
        {"relay_pin": 26, "relay_active_high": True, "allow_remote_on": True}
    )
    agent, broker = Agent(settings), Broker()
    assert agent.command("relay", '{"v":1,"on":false}', True) == ("relay", False, "command")
    assert agent.command("relay", '{"v":1,"on":true}', True) is None
    assert agent.command("identify", '{"v":1}', True) == ("identify", 10)
    agent.drain(broker.publish)
    assert [b["detail"] for _, b, _ in broker.sent] == [
        "cmd/relay: a switch-on sent while offline is stale"
    ]


def test_readings_acknowledged_just_before_the_connection_was_lost_are_sent_again():
    """Test that after a lost connection the readings the broker acknowledged within the
    resend window of its last acknowledgement go again, first and once, and that older or
    untimed ones do not."""
    agent, broker = make_agent(telemetry_period_s=1), Broker()
    for second in range(14):  # one reading a second, acknowledged at once
        clock = None if second == 12 else T0 + second * 1000  # NTP lost for one reading
        agent.sample(second * 1000, clock, power_w=1.0)
        agent.drain(broker.publish, second * 1000)
    agent.connection_lost()
    broker.sent.clear()
    agent.sample(14000, T0 + 14000, power_w=1.0)
    broker.down = True
    raises(OSError, agent.drain, broker.publish, 15000)
    agent.connection_lost()  # lost again before anything was sent again: nothing doubles
    broker.down = False
    agent.drain(broker.publish, 16000)
    sent = [body for kind, body, _ in broker.sent if kind == "telemetry"]
    resent = [r["seq"] for b in sent[:-1] for r in b["readings"]]
    assert resent == [3, 4, 5, 6, 7, 8, 9, 10, 11, 13], "acknowledged within 10 s of the last"
    assert sent[-1]["seq"] == 14
    agent.connection_lost()  # what was sent again is kept again, until newer acks age it
    assert [r["seq"] for r in agent.resend] == [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14]


def test_at_most_one_batch_is_kept_to_send_again():
    """Test that the readings kept for sending again are bounded, the newest kept."""
    agent, broker = make_agent(telemetry_period_s=1, buffer_size=200, batch_size=200), Broker()
    broker.down = True
    for second in range(120):
        agent.sample(second * 1000, T0 + second * 1000, power_w=1.0)
    broker.down = False
    agent.drain(broker.publish, 120000)
    agent.connection_lost()
    assert [r["seq"] for r in agent.resend] == list(range(70, 120))


def test_what_a_command_or_config_carries_reaches_events_as_one_line():
    """Test that a command name, config key or reason with control characters or past its
    length still gives events the server takes: one line, within the protocol's lengths."""
    agent, broker = make_agent(), Broker()
    assert agent.command("relay", '{"v":1,"on":false,"reason":"' + "x" * 65 + '"}') == (
        "relay", False, "command")  # fmt: skip
    assert agent.command("relay", '{"v":1,"on":false,"reason":"a\\nb"}')[2] == "command"
    assert agent.command("x\ny", b"{}") is None
    agent.apply_config(b'{"v":1,"a\\u0007b":1}')
    agent.drain(broker.publish)
    assert [b["detail"] for _, b, _ in broker.sent] == [
        'cmd/x?y: expected an object with "v": 1',
        "a?b: unknown setting",
    ]
