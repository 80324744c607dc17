# Board settings: defaults, and validation that never stops the board.
#
# A bad value is reported (console and an `event`) and replaced by its safe
# default, so a typo in settings.json or in a retained `config` message leaves a
# board that still measures and reports instead of one that crash-loops.
#
# Longer than 400 lines on purpose: one short check a setting, in the order of
# docs/firmware.md's table, and each module more costs the board RAM.

SLUG_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-"
KINDS = (
    "soldering_station",
    "printer_3d",
    "laser_cutter",
    "cnc_router",
    "vinyl_cutter",
    "sewing_machine",
    "other",
)
POWER_SENSORS = ("ct", "pzem", "none")
# SCT-013 voltage-output clamps: amps that give 1 V RMS at the output (the number in
# the model name; YHDC's SCT-013 datasheet).
CT_MODELS = {
    "sct013-005": 5.0,
    "sct013-010": 10.0,
    "sct013-015": 15.0,
    "sct013-020": 20.0,
    "sct013-030": 30.0,
    "sct013-050": 50.0,
    "sct013-060": 60.0,
    "custom": None,
}
# RMS noise of the ESP32's ADC at 11 dB attenuation with Wi-Fi on, taken with a margin
# (a few LSB of 0.8 mV): what a CT reading cannot tell from nothing. Measure yours:
# with no load, the current a board reports is its noise.
ADC_NOISE_V = 0.01
# PZEM-004T v3.0 (10 A, built-in shunt): starting measure power 0.4 W (datasheet).
PZEM_STARTING_W = 0.4
TEMP_SENSORS = ("ds18b20", "max6675", "max31855", "none")
CARD_READERS = ("mfrc522", "none")
ACCESS_MODES = ("off", "log", "enforce")  # core/protocol.py AccessMode
# The card secret keys every UID (HMAC-SHA256): long enough that keys cannot be reversed
# by trying every UID of a card batch (the server's makerwatch/core/cards.py agrees).
MIN_CARD_SECRET_CHARS = 32

DEFAULTS = {
    # Identity (written by `makerwatch firmware deploy`).
    "site": "unconfigured",
    "device": "unconfigured",
    "kind": "other",
    # Network.
    "wifi_ssid": "",
    "wifi_password": "",
    "mqtt_host": "",
    "mqtt_port": 1883,
    "mqtt_user": "",
    "mqtt_password": "",
    "mqtt_keepalive_s": 30,
    # The site's CA certificate (PEM) on the board: set, the board speaks TLS to the
    # broker's TLS listener and trusts only that CA; "" = plain MQTT (a closed LAN).
    "mqtt_ca_file": "",
    "ntp_host": "pool.ntp.org",
    # Cadence and state.
    "sample_period_s": 1.0,
    "telemetry_period_s": 10.0,
    "idle_above_w": 2.0,
    "active_above_w": 20.0,
    "hysteresis": 0.2,
    "min_dwell_s": 5.0,
    # Relay safety: switch off after this many seconds on, network or not; 0 = never.
    "max_on_s": 0,
    # Power sensor.
    "power_sensor": "none",
    "ct_pin": 34,
    # The clamp's model (CT_MODELS); required with a CT: a bare factor was easy to
    # leave at another clamp's value. "custom" takes ct_amps_per_volt.
    "ct_model": None,
    "ct_amps_per_volt": None,
    # Times the live wire passes through the clamp: N turns, N times the signal.
    "ct_turns": 1,
    "ct_calibration": 1.0,
    "ct_sample_rate_hz": 2000,
    "ct_cycles": 10,
    # Below this the current reads as 0; None: derived from the ADC's noise and the clamp.
    "ct_noise_floor_a": None,
    "mains_v": 220.0,
    "mains_hz": 50,
    "power_factor": 1.0,
    "pzem_uart": 2,
    "pzem_tx_pin": 17,
    "pzem_rx_pin": 16,
    # Temperature sensor; the offset is added to every reading (`board calibrate`).
    "temp_sensor": "none",
    "temp_offset_c": 0.0,
    "onewire_pin": 4,
    "spi_sck_pin": 18,
    "spi_miso_pin": 19,
    "spi_mosi_pin": 23,
    "spi_cs_pin": 5,
    # Relay, button, LED (-1 = not fitted). A fitted relay needs its polarity said:
    # with the wrong one, "off" powers the machine. None = not said.
    "relay_pin": -1,
    "relay_active_high": None,
    # May the server switch the machine ON? Off and identify are always allowed.
    "allow_remote_on": False,
    "button_pin": -1,
    # GPIO 34-39 have no internal pull-up: a button there needs a resistor to 3.3 V,
    # fitted on the board and said here.
    "button_external_pull_up": False,
    "led_pin": 2,
    # Member cards (docs/members.md, "Wiring the reader"): an MFRC522 on its own SPI
    # pins. The access mode the board acts by is its access list's, from the server
    # (kept in flash); `access_mode` (from the site file's `access:`, written by deploy)
    # is the mode until a first list arrives. A card's UID is keyed with `card_secret`
    # (board-secrets.yaml) and never leaves the reader raw.
    "card_reader": "none",
    "card_sck_pin": 18,
    "card_mosi_pin": 23,
    "card_miso_pin": 19,
    "card_cs_pin": 5,
    "card_rst_pin": 22,
    "card_secret": "",
    "access_mode": "off",
    # A card's session ends once the machine has not been active for this long (the
    # board's idle limit; the same card again or max_on_s end it too); 0 = never.
    "session_idle_s": 900,
    # A buzzer (through a transistor) beeping with the LED's card patterns; -1 = none.
    "buzzer_pin": -1,
    # Offline buffer.
    "buffer_size": 500,
    "batch_size": 50,
    # Updates from the server: the board's own key (64 hex digits, from provisioning;
    # "" refuses every update), and how long a new version has to connect and report
    # before the board goes back to the one it ran before.
    "update_key": "",
    "update_trial_s": 120,
}

# Keys a retained `config` message may change without a reboot (BoardConfig).
RUNTIME_KEYS = ("telemetry_period_s", "idle_above_w", "active_above_w", "max_on_s")


def _slug(value):
    return isinstance(value, str) and 1 <= len(value) <= 32 and all(c in SLUG_CHARS for c in value)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# Each rule is (check, what it wants), the second part of the error message.
def _number(low, high):
    return (lambda v: _is_number(v) and low <= v <= high, "a number from %s to %s" % (low, high))


def _integer(low, high):
    return (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high,
        "a whole number from %d to %d" % (low, high),
    )


def _one_of(choices):
    return (lambda v: v in choices, "one of " + ", ".join(str(c) for c in choices))


def _text(max_len):
    return (
        lambda v: isinstance(v, str) and len(v) <= max_len,
        "text of at most %d characters" % max_len,
    )


SLUG = (_slug, "a slug of a-z, 0-9 and -, at most 32 characters")
FLAG = (lambda v: isinstance(v, bool), "true or false")
PIN = _integer(-1, 48)

RULES = {
    "site": SLUG,
    "device": SLUG,
    "kind": _one_of(KINDS),
    "wifi_ssid": _text(32),
    "wifi_password": _text(64),
    "mqtt_host": _text(253),
    "mqtt_port": _integer(1, 65535),
    "mqtt_user": _text(64),
    "mqtt_password": _text(128),
    "mqtt_keepalive_s": _integer(10, 600),
    "mqtt_ca_file": _text(255),
    "ntp_host": _text(253),
    "sample_period_s": _number(0.1, 60),
    "telemetry_period_s": _number(1, 3600),
    "idle_above_w": _number(0, 20000),
    "active_above_w": _number(0.1, 20000),
    "hysteresis": _number(0, 0.9),
    "min_dwell_s": _number(0, 600),
    "max_on_s": _integer(0, 7 * 24 * 3600),
    "power_sensor": _one_of(POWER_SENSORS),
    "ct_pin": PIN,
    "ct_model": _one_of(tuple(CT_MODELS)),
    "ct_amps_per_volt": _number(1, 200),
    "ct_turns": _integer(1, 20),
    "ct_calibration": _number(0.5, 2.0),
    "ct_sample_rate_hz": _integer(500, 20000),
    "ct_cycles": _integer(1, 50),
    "ct_noise_floor_a": _number(0, 5),
    "mains_v": _number(90, 260),
    "mains_hz": _one_of((50, 60)),
    "power_factor": _number(0.1, 1.0),
    "pzem_uart": _integer(1, 2),
    "pzem_tx_pin": PIN,
    "pzem_rx_pin": PIN,
    "temp_sensor": _one_of(TEMP_SENSORS),
    "temp_offset_c": _number(-20, 20),
    "onewire_pin": PIN,
    "spi_sck_pin": PIN,
    "spi_miso_pin": PIN,
    "spi_mosi_pin": PIN,
    "spi_cs_pin": PIN,
    "relay_pin": PIN,
    "relay_active_high": FLAG,
    "allow_remote_on": FLAG,
    "button_pin": PIN,
    "button_external_pull_up": FLAG,
    "led_pin": PIN,
    "buffer_size": _integer(10, 5000),
    "batch_size": _integer(1, 200),
    "update_key": (
        lambda v: (
            isinstance(v, str) and len(v) in (0, 64) and all(c in "0123456789abcdef" for c in v)
        ),
        "64 hex digits from provisioning, or empty",
    ),
    "update_trial_s": _integer(10, 3600),
    "card_reader": _one_of(CARD_READERS),
    "card_sck_pin": PIN,
    "card_mosi_pin": PIN,
    "card_miso_pin": PIN,
    "card_cs_pin": PIN,
    "card_rst_pin": PIN,
    "card_secret": (
        lambda v: isinstance(v, str) and (v == "" or MIN_CARD_SECRET_CHARS <= len(v) <= 128),
        "text of %d to 128 characters (board-secrets.yaml card_secret), or empty"
        % MIN_CARD_SECRET_CHARS,
    ),
    "access_mode": _one_of(ACCESS_MODES),
    "session_idle_s": _integer(0, 24 * 3600),
    "buzzer_pin": PIN,
}


# ESP32 (WROOM/WROVER) pins. 6-11 run the flash; 34-39 are inputs only; of the ADCs,
# only ADC1 (32-39) can be read while Wi-Fi is on (ESP-IDF ADC docs: ADC2 is shared
# with the Wi-Fi driver).
FLASH_PINS = (6, 7, 8, 9, 10, 11)
INPUT_ONLY_PINS = (34, 35, 36, 37, 38, 39)
ADC1_PINS = (32, 33, 34, 35, 36, 37, 38, 39)
# Boot strapping pins: their level at reset chooses how the chip starts (ESP32
# datasheet, "Strapping Pins"). An output's load can hold that level: an SSR's or relay
# module's input, or an LED wired to the pin. GPIO 2 is allowed for an LED (it is the
# DevKit's own LED, which keeps it low as booting wants) but not for a relay.
STRAPPING_PINS = {
    0: "held low at reset, the board starts in download mode instead of running",
    2: "held high at reset, the board cannot be flashed over USB",
    5: "its level at reset sets the flash timing; a load on it can stop the board booting",
    12: "held high at reset (an SSR input can do it), it sets the flash to 1.8 V and the "
    "board does not boot",
    15: "held low at reset, it changes the flash timing and silences the boot log",
}
STRAPPING_OK = {"led_pin": (2,)}
# Free pins that are neither strapping, flash nor input-only: what to suggest instead.
FREE_OUTPUT_PINS = "13, 14, 25, 26, 27, 32 or 33"


def _pins_in_use(settings):
    """(setting, pin, drives it) for each function the settings fit."""
    used = []
    if settings["power_sensor"] == "ct":
        used.append(("ct_pin", settings["ct_pin"], False))
    elif settings["power_sensor"] == "pzem":
        used += [("pzem_tx_pin", settings["pzem_tx_pin"], True),
                 ("pzem_rx_pin", settings["pzem_rx_pin"], False)]  # fmt: skip
    if settings["temp_sensor"] == "ds18b20":
        used.append(("onewire_pin", settings["onewire_pin"], True))
    elif settings["temp_sensor"] in ("max6675", "max31855"):
        used += [("spi_sck_pin", settings["spi_sck_pin"], True),
                 ("spi_miso_pin", settings["spi_miso_pin"], False),
                 ("spi_cs_pin", settings["spi_cs_pin"], True)]  # fmt: skip
    if settings["card_reader"] == "mfrc522":
        used += [(key, settings[key], drives) for key, drives in CARD_PINS
                 if key != "card_rst_pin" or settings[key] >= 0]  # fmt: skip
    for key, drives in (("relay_pin", True), ("button_pin", False), ("led_pin", True),
                        ("buzzer_pin", True)):  # fmt: skip
        if settings[key] >= 0:
            used.append((key, settings[key], drives))
    return used


# The reader's pins and whether the board drives each (MISO is the reader's output).
CARD_PINS = (("card_sck_pin", True), ("card_mosi_pin", True), ("card_miso_pin", False),
             ("card_cs_pin", True), ("card_rst_pin", True))  # fmt: skip
# Outputs whose load can hold a strapping pin's level at reset.
LOADED_OUTPUTS = ("relay_pin", "led_pin", "buzzer_pin")


def access_problems(settings, mode):
    """What stops a board wired as `settings` acting in access `mode`: one-line errors
    (the site file's check and the board's own)."""
    errors = []
    if mode != "off" and settings["card_reader"] == "none":
        errors.append("card_reader: access %s needs a card reader fitted (mfrc522)" % mode)
    if mode == "enforce" and settings["relay_pin"] < 0:
        errors.append("relay_pin: access enforce needs a relay to switch the machine on")
    return errors


def _check_reader(settings, wiring_errors, errors):
    """The reader is left unused (nothing unlocks) when its pins break a rule or the
    access mode cannot work as wired. (Its secret is the board's own: Board checks it.)"""
    problems = [e for e in wiring_errors if "card_" in e]
    problems += access_problems(settings, settings["access_mode"])
    errors += [e for e in problems if e not in errors]
    if problems:
        settings["card_reader"] = "none"


def _pin_problem(key, pin, drives, settings):
    """What is wrong with `key` on GPIO `pin` on its own, or None."""
    if pin < 0:
        return "%s: must be a GPIO number for the fitted sensor" % key
    if pin in FLASH_PINS:
        return "%s: GPIO %d runs the board's flash memory; use another pin" % (key, pin)
    if drives and pin in INPUT_ONLY_PINS:
        return "%s: GPIO %d is input-only and cannot drive an output; use another pin" % (key, pin)
    if key in LOADED_OUTPUTS and pin in STRAPPING_PINS and pin not in STRAPPING_OK.get(key, ()):
        return ("%s: GPIO %d is a boot strapping pin: %s; use another pin (%s)"
                % (key, pin, STRAPPING_PINS[pin], FREE_OUTPUT_PINS))  # fmt: skip
    if key == "button_pin" and pin in INPUT_ONLY_PINS and not settings["button_external_pull_up"]:
        return ("button_pin: GPIO %d has no internal pull-up (34-39 have none), so the "
                "button would read at random; use another pin, or fit a 10 kOhm resistor "
                "to 3.3 V and set button_external_pull_up: true" % pin)  # fmt: skip
    if key == "ct_pin" and pin not in ADC1_PINS:
        return ("ct_pin: GPIO %d is not on ADC1, which is the only ADC readable while "
                "Wi-Fi is on; use one of 32-39" % pin)  # fmt: skip
    return None


def _missing_wiring(settings, raw):
    """Settings the fitted parts need and neither the file nor a default gives."""
    errors = []
    if settings["power_sensor"] == "ct":
        if settings["ct_model"] is None and "ct_model" not in raw:
            errors.append("ct_model: say which clamp is fitted (%s)" % ", ".join(CT_MODELS))
        elif settings["ct_model"] == "custom" and settings["ct_amps_per_volt"] is None \
                and "ct_amps_per_volt" not in raw:  # fmt: skip
            errors.append("ct_amps_per_volt: a custom clamp needs its amps per volt")
    if settings["relay_pin"] >= 0 and settings["relay_active_high"] is None \
            and "relay_active_high" not in raw:  # fmt: skip
        errors.append("relay_active_high: say the relay module's polarity (true or false); "
                      "with the wrong one, the relay's rest powers the machine")  # fmt: skip
    return errors


def _check_wiring(settings, raw, errors):
    """Pin rules and the relay's polarity; True when the wiring is usable as it is.

    A setting `raw` gave a bad value for is reported once, by `_check`, not again here
    as missing.
    """
    before = len(errors)
    seen = {}  # type: dict[int, str]
    for key, pin, drives in _pins_in_use(settings):
        problem = _pin_problem(key, pin, drives, settings)
        if problem is not None:
            errors.append(problem)
        if pin >= 0 and pin in seen:
            errors.append("%s: GPIO %d is already %s" % (key, pin, seen[pin]))
        seen[pin] = key
    errors += _missing_wiring(settings, raw)
    return len(errors) == before


def _check(settings, raw, keys, errors):
    for key in raw:
        if key not in keys:
            errors.append("%s: unknown setting" % key)
    for key in keys:
        if key not in raw:
            continue
        value = raw[key]
        check, wants = RULES[key]
        if check(value):
            settings[key] = value
        else:
            errors.append("%s: must be %s (got %s)" % (key, wants, repr(value)[:40]))
    if not settings["idle_above_w"] < settings["active_above_w"]:
        errors.append(
            "active_above_w: must be greater than idle_above_w (%s <= %s)"
            % (settings["active_above_w"], settings["idle_above_w"])
        )
        return False
    return True


def validate(raw):
    """Settings from a decoded settings.json: (settings, errors). Never raises.

    Wiring that breaks a pin rule, or a relay without its polarity, leaves the relay
    unused (its pin untouched, so the module rests as it was wired) rather than
    driven the wrong way.
    """
    settings = dict(DEFAULTS)
    errors = []  # type: list[str]
    if not isinstance(raw, dict):
        return settings, ["settings: expected a JSON object (got %s)" % type(raw).__name__]
    if not _check(settings, raw, RULES, errors):
        settings["idle_above_w"] = DEFAULTS["idle_above_w"]
        settings["active_above_w"] = DEFAULTS["active_above_w"]
    before = len(errors)
    if not _check_wiring(settings, raw, errors) or settings["relay_active_high"] is None:
        settings["relay_pin"] = -1
    _check_reader(settings, errors[before:], errors)
    _derive_ct(settings)
    return settings, errors


def _derive_ct(settings):
    """The CT's effective amps per volt (per turn) and noise floor, from its model."""
    model = settings["ct_model"]
    if model is not None and model != "custom":
        settings["ct_amps_per_volt"] = CT_MODELS[model]
    if settings["ct_amps_per_volt"] is None:
        settings["ct_amps_per_volt"] = CT_MODELS["sct013-005"]  # no clamp said: the smallest
    if settings["ct_noise_floor_a"] is None:
        settings["ct_noise_floor_a"] = (
            ADC_NOISE_V * settings["ct_amps_per_volt"] / settings["ct_turns"]
        )


def resolvable_w(settings):
    """The smallest power the configured power sensor can tell from nothing, in W."""
    if settings["power_sensor"] == "pzem":
        return PZEM_STARTING_W
    if settings["power_sensor"] == "ct":
        return settings["ct_noise_floor_a"] * settings["mains_v"] * settings["power_factor"]
    return 0.0


def apply_runtime(settings, raw, own=None):
    """A `config` message applied to settings: (new settings, applied keys, errors).

    Values that fail validation are left as they were; the rest are applied. A remote
    config may tighten the board's own safety limit (`own`, from settings.json) but
    never loosen or remove it.
    """
    errors = []
    if not isinstance(raw, dict) or raw.get("v") != 1:
        return settings, [], ['config: expected a JSON object with "v": 1']
    update = dict((k, v) for k, v in raw.items() if k != "v" and v is not None)
    limit = (own or settings)["max_on_s"]
    wanted = update.get("max_on_s")
    if wanted is not None and _is_number(wanted) and limit > 0 and not 0 < wanted <= limit:
        errors.append("max_on_s: a remote config may only lower the board's own limit of %d s "
                      "(got %s)" % (limit, repr(wanted)[:20]))  # fmt: skip
        del update["max_on_s"]
    candidate = dict(settings)
    if not _check(candidate, update, RUNTIME_KEYS, errors):
        return settings, [], errors
    applied = [k for k in RUNTIME_KEYS if k in update and candidate[k] == update[k]]
    return candidate, applied, errors


def calibration(settings, what, reference, recent_power_w, last_temp_c):
    """The correction a calibration asks for: (key, new value, note, problem or None).

    `what` is "power" (`reference`: the watts of a known load on now; `recent_power_w`:
    the last few readings) or "temperature" (`reference`: a thermometer's degrees). One
    definition for the board's runtime and the server's simulated boards.
    """
    if what == "power":
        key, value, note, problem = _power_correction(settings, reference, recent_power_w)
    else:
        measured = last_temp_c
        problem = None if measured is not None else "no temperature measured"
        key = "temp_offset_c"
        value = settings["temp_offset_c"] + reference - (measured or 0.0)
        note = "%.1f C reference, %.1f C measured" % (reference, measured or 0.0)
    value = round(value, 4)
    if problem is None:
        check, wants = RULES[key]
        if not check(value):
            problem = "%s would be %s, outside %s: check the sensor and wiring" % (
                key,
                value,
                wants,
            )
    return key, value, note, problem


def _power_correction(settings, reference, recent):
    measured = sum(recent) / len(recent) if recent else 0.0
    if settings["power_sensor"] == "pzem":
        problem = "only a CT clamp is calibrated (a PZEM measures real power)"
    elif settings["power_sensor"] != "ct":
        problem = "no power sensor fitted: only a CT clamp is calibrated"
    elif len(recent) < 3 or measured <= resolvable_w(settings):
        problem = "no load measured (%.1f W): is the known load switched on?" % measured
    else:
        problem = None
    value = settings["ct_calibration"] * reference / max(measured, 1e-9)
    return "ct_calibration", value, "%.1f W known, %.1f W measured" % (reference, measured), problem
