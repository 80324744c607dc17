# Protocol v1 encoder (docs/protocol.md). The server's pydantic models are the
# reference; tests/firmware/test_contract.py feeds this module's output through
# them and compares FIELD_RANGES with their limits, so the two cannot drift.
#
# JSON is written by hand because the ESP32 build uses single-precision floats:
# an epoch time in a float would be off by minutes, so `ts` is formatted from
# integer milliseconds.
import json

PROTOCOL_VERSION = 1
TOPIC_ROOT = "makerspace"
EARLIEST_VALID_MS = 1577836800000  # 2020-01-01: anything earlier is an unset clock

# field, decimals, (min, max): the server refuses values outside these limits.
FIELDS = (
    ("power_w", 1, (0, 20000)),
    ("current_a", 3, (0, 100)),
    ("voltage_v", 1, (0, 300)),
    ("energy_wh", 1, (0, 1e9)),
    ("temp_c", 1, (-50, 1000)),
)
FIELD_RANGES = dict((name, limits) for name, _, limits in FIELDS)


def topic(site, device, kind):
    return TOPIC_ROOT + "/" + site + "/" + device + "/" + kind


def valid_epoch_ms(epoch_ms):
    """The time if the clock is set (after NTP), else None: the server stamps it."""
    if epoch_ms is None or epoch_ms < EARLIEST_VALID_MS:
        return None
    return epoch_ms


def in_range(name, value):
    low, high = FIELD_RANGES[name]
    return value is not None and value == value and low <= value <= high  # NaN != NaN


def _ts(epoch_ms):
    return "%d.%03d" % (epoch_ms // 1000, epoch_ms % 1000)


def _number(value, decimals):
    return ("%." + str(decimals) + "f") % value


def _reading_members(reading):
    members = []
    if reading.get("epoch_ms") is not None:
        members.append('"ts":' + _ts(reading["epoch_ms"]))
    members.append('"seq":%d' % reading["seq"])
    for name, decimals, _ in FIELDS:
        value = reading.get(name)
        if value is not None:
            members.append('"' + name + '":' + _number(value, decimals))
    return members


def _object(members):
    return "{" + ",".join(members) + "}"


def telemetry(reading):
    """One reading: {"epoch_ms": int|None, "seq": int, "power_w": float, ...}."""
    return _object(['"v":1'] + _reading_members(reading))


def batch(readings):
    """Buffered readings, oldest first, each with its own time."""
    return _object(
        ['"v":1', '"readings":[' + ",".join(_object(_reading_members(r)) for r in readings) + "]"]
    )


def status(
    online,
    fw=None,
    rssi_dbm=None,
    sensors=None,
    free_mem_bytes=None,
    buffer_dropped=None,
    epoch_ms=None,
    taps_dropped=None,
):
    members = ['"v":1', '"online":' + ("true" if online else "false")]
    if fw is not None:
        members.append('"fw":' + json.dumps(fw))
    if rssi_dbm is not None:
        members.append('"rssi_dbm":%d' % max(-120, min(0, rssi_dbm)))
    if sensors is not None:
        members.append('"sensors":' + json.dumps(sensors))
    if free_mem_bytes is not None:
        members.append('"free_mem_bytes":%d' % free_mem_bytes)
    if buffer_dropped is not None:
        members.append('"buffer_dropped":%d' % buffer_dropped)
    if taps_dropped is not None:
        members.append('"taps_dropped":%d' % taps_dropped)
    if epoch_ms is not None:
        members.append('"ts":' + _ts(epoch_ms))
    return _object(members)


def state(
    value, epoch_ms=None, seq=None, previous=None, previous_duration_ms=None, on_since_ms=None
):
    """A state, as of epoch_ms (when it began). on_since_ms: when the machine last
    left off (the start of its usage session), while it is on."""
    members = ['"v":1', '"state":' + json.dumps(value)]
    if epoch_ms is not None:
        members.append('"ts":' + _ts(epoch_ms))
    if seq is not None:
        members.append('"seq":%d' % seq)
    if on_since_ms is not None:
        members.append('"on_since":' + _ts(on_since_ms))
    if previous is not None:
        members.append('"previous":' + json.dumps(previous))
    if previous_duration_ms is not None:  # unknown for the first change after a boot
        members.append('"previous_duration_s":' + _ts(previous_duration_ms))
    return _object(members)


def event(kind, detail=None, epoch_ms=None, relay_on=None, reason=None):
    members = ['"v":1', '"event":' + json.dumps(kind)]
    if detail is not None:
        members.append('"detail":' + json.dumps(detail[:300]))
    if epoch_ms is not None:
        members.append('"ts":' + _ts(epoch_ms))
    if relay_on is not None:
        members.append('"relay_on":' + ("true" if relay_on else "false"))
    if reason is not None:
        members.append('"reason":' + json.dumps(reason[:64]))
    return _object(members)


def tap(key, result, mode, seq, epoch_ms=None):
    """A card at the reader: its key (never its UID), what the board did, in which mode."""
    members = ['"v":1']
    if epoch_ms is not None:
        members.append('"ts":' + _ts(epoch_ms))
    members += ['"seq":%d' % seq, '"key":' + json.dumps(key), '"result":' + json.dumps(result),
                '"mode":' + json.dumps(mode)]  # fmt: skip
    return _object(members)
