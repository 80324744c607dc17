"""Board settings: bad values are reported and replaced by safe defaults, never fatal."""

from firmware.core import config


def test_valid_settings_are_taken():
    """Test that valid values replace the defaults without errors."""
    settings, errors = config.validate(
        {"site": "aktobe", "device": "solder-1", "idle_above_w": 3, "active_above_w": 25}
    )
    assert errors == []
    assert (settings["site"], settings["device"], settings["active_above_w"]) == (
        "aktobe",
        "solder-1",
        25,
    )


def test_bad_values_are_named_and_replaced_by_defaults():
    """Test that each bad value gets a message naming the key and falls back to its default."""
    settings, errors = config.validate(
        {"device": "Solder 1", "mqtt_port": "1883", "power_sensor": "clamp", "colour": "red"}
    )
    assert settings["device"] == config.DEFAULTS["device"]
    assert settings["mqtt_port"] == 1883
    assert settings["power_sensor"] == "none"
    text = "\n".join(errors)
    assert "device: must be a slug" in text
    assert "mqtt_port: must be a whole number" in text
    assert "power_sensor: must be one of ct, pzem, none (got 'clamp')" in text
    assert "colour: unknown setting" in text


def test_inverted_thresholds_fall_back_to_defaults():
    """Test that idle_above_w >= active_above_w is refused as a pair."""
    settings, errors = config.validate({"idle_above_w": 30, "active_above_w": 10})
    assert (settings["idle_above_w"], settings["active_above_w"]) == (2.0, 20.0)
    assert "active_above_w: must be greater than idle_above_w" in errors[0]


def test_not_an_object_gives_defaults():
    """Test that a settings file that is not an object leaves every default."""
    settings, errors = config.validate([1, 2])
    assert settings == config.DEFAULTS
    assert "expected a JSON object" in errors[0]


def test_runtime_config_applies_valid_keys_only():
    """Test that a config message applies good values and reports the bad ones."""
    settings, _ = config.validate({})
    updated, applied, errors = config.apply_runtime(
        settings, {"v": 1, "telemetry_period_s": 5, "max_on_s": -1, "mqtt_port": 1}
    )
    assert updated["telemetry_period_s"] == 5
    assert updated["max_on_s"] == 0
    assert applied == ["telemetry_period_s"]
    assert any(e.startswith("max_on_s:") for e in errors)
    assert any(e.startswith("mqtt_port: unknown setting") for e in errors)


def wiring_errors(**board):
    return config.validate(board)[1]


def test_a_relay_needs_its_polarity_and_rests_unused_without_it():
    """Test that a fitted relay without relay_active_high is an error and the relay is left
    undriven, and that with it the relay is used."""
    settings, errors = config.validate({"relay_pin": 26})
    assert "relay_active_high: say the relay module's polarity" in errors[0]
    assert settings["relay_pin"] == -1
    settings, errors = config.validate({"relay_pin": 26, "relay_active_high": False})
    assert errors == []
    assert settings["relay_pin"] == 26


def test_pin_rules_of_the_esp32_name_the_pin():
    """Test flash pins, input-only pins as outputs, a CT on ADC2 and a pin used twice."""
    assert (
        "relay_pin: GPIO 7 runs the board's flash"
        in wiring_errors(relay_pin=7, relay_active_high=True)[0]
    )
    assert (
        "relay_pin: GPIO 35 is input-only" in wiring_errors(relay_pin=35, relay_active_high=True)[0]
    )
    assert "led_pin: GPIO 36 is input-only" in wiring_errors(led_pin=36)[0]
    assert "ct_pin: GPIO 25 is not on ADC1" in wiring_errors(power_sensor="ct", ct_pin=25)[0]
    assert (
        "button_pin: GPIO 26 is already relay_pin"
        in wiring_errors(relay_pin=26, relay_active_high=True, button_pin=26)[0]
    )
    assert (
        wiring_errors(power_sensor="ct", ct_model="sct013-005", ct_pin=34, temp_sensor="max6675")
        == []
    )
    assert wiring_errors(power_sensor="none", ct_pin=25) == [], "an unfitted sensor's pin is free"


def test_a_remote_config_may_tighten_the_safety_limit_never_loosen_it():
    """Test that a retained config may lower max_on_s but not raise it past the board's own
    limit or remove it (0)."""
    own, _ = config.validate({"max_on_s": 14400})
    tighter, applied, errors = config.apply_runtime(own, {"v": 1, "max_on_s": 600}, own)
    assert (tighter["max_on_s"], applied, errors) == (600, ["max_on_s"], [])
    back, applied, errors = config.apply_runtime(tighter, {"v": 1, "max_on_s": 14400}, own)
    assert (back["max_on_s"], applied, errors) == (14400, ["max_on_s"], [])
    for loosening in (0, 14401, 86400):
        kept, applied, errors = config.apply_runtime(tighter, {"v": 1, "max_on_s": loosening}, own)
        assert kept["max_on_s"] == 600
        assert applied == []
        assert "may only lower the board's own limit of 14400 s" in errors[0]


def test_a_ct_needs_its_clamp_model_which_sets_the_ratio_and_the_noise_floor():
    """Test that a CT without ct_model is an error, that the model sets amps per volt, and that
    turns through the clamp lower the noise floor and so the smallest power it resolves."""
    assert "ct_model: say which clamp" in wiring_errors(power_sensor="ct")[0]
    one, errors = config.validate({"power_sensor": "ct", "ct_model": "sct013-005"})
    assert errors == []
    assert one["ct_amps_per_volt"] == 5.0
    assert abs(config.resolvable_w(one) - 0.01 * 5.0 * 220) < 1e-9  # 11 W
    ten, _ = config.validate({"power_sensor": "ct", "ct_model": "sct013-005", "ct_turns": 10})
    assert abs(config.resolvable_w(ten) - 1.1) < 1e-9
    _, errors = config.validate({"power_sensor": "ct", "ct_model": "custom"})
    assert "ct_amps_per_volt: a custom clamp needs" in errors[0]
    pzem, _ = config.validate({"power_sensor": "pzem"})
    assert config.resolvable_w(pzem) == 0.4


def test_a_relay_on_a_boot_strapping_pin_is_refused_with_the_reason():
    """Test that a relay on any strapping pin is refused, saying why and what to use, and
    is left undriven."""
    for pin in (0, 2, 5, 12, 15):
        settings, errors = config.validate(
            {"relay_pin": pin, "relay_active_high": True, "led_pin": -1}
        )
        assert len(errors) == 1, errors
        assert errors[0].startswith("relay_pin: GPIO %d is a boot strapping pin: " % pin)
        assert config.STRAPPING_PINS[pin] in errors[0]
        assert "use another pin" in errors[0]
        assert settings["relay_pin"] == -1


def test_an_led_on_a_boot_strapping_pin_is_refused_except_the_devkits_own_led():
    """Test that an LED may sit on GPIO 2 (the DevKit's LED) but not on another strapping pin."""
    for pin in (0, 5, 12, 15):
        assert wiring_errors(led_pin=pin) == [
            "led_pin: GPIO %d is a boot strapping pin: %s; use another pin (%s)"
            % (pin, config.STRAPPING_PINS[pin], config.FREE_OUTPUT_PINS)
        ]
    for pin in (2, 13, 25):
        assert wiring_errors(led_pin=pin) == []


def test_a_button_without_an_internal_pull_up_needs_an_external_one():
    """Test that a button on GPIO 34-39 is refused unless an external pull-up is said."""
    for pin in (34, 35, 36, 37, 38, 39):
        errors = wiring_errors(button_pin=pin)
        assert len(errors) == 1, errors
        assert errors[0].startswith("button_pin: GPIO %d has no internal pull-up" % pin)
        assert "button_external_pull_up: true" in errors[0]
        assert wiring_errors(button_pin=pin, button_external_pull_up=True) == []
    assert wiring_errors(button_pin=27) == []


def test_a_bad_value_is_one_message_not_also_missing():
    """Test that a required setting given a bad value is reported once, as bad, and a relay
    whose polarity is not understood stays undriven."""
    cases = (
        ({"power_sensor": "ct", "ct_model": "sct013-30"}, "ct_model"),
        ({"power_sensor": "ct", "ct_model": "custom", "ct_amps_per_volt": 0}, "ct_amps_per_volt"),
        ({"relay_pin": 26, "relay_active_high": "yes"}, "relay_active_high"),
    )
    for board, key in cases:
        settings, errors = config.validate(board)
        assert len(errors) == 1, errors
        assert errors[0].startswith(key + ": must be")
        assert settings["relay_pin"] == -1


def test_a_card_reader_is_checked_by_the_same_pin_rules():
    """Test the reader's pins: a duplicate, an input-only pin for an output, the flash pins;
    any of them leaves the reader unused, so nothing unlocks on a miswired board."""
    reader = {"card_reader": "mfrc522", "relay_pin": 26, "relay_active_high": True}
    settings, errors = config.validate(reader)
    assert errors == []
    assert settings["card_reader"] == "mfrc522"
    for wiring, says in (
        ({"card_cs_pin": 26}, "relay_pin: GPIO 26 is already card_cs_pin"),
        ({"card_mosi_pin": 34}, "card_mosi_pin: GPIO 34 is input-only"),
        ({"card_sck_pin": 6}, "card_sck_pin: GPIO 6 runs the board's flash"),
    ):
        settings, errors = config.validate(dict(reader, **wiring))
        assert says in "\n".join(errors), errors
        assert settings["card_reader"] == "none"
    settings, errors = config.validate(dict(reader, card_miso_pin=34, card_rst_pin=-1))
    assert errors == []  # MISO is an input; the reset line is optional


def test_a_buzzer_on_a_boot_strapping_pin_is_refused():
    """Test that a buzzer's driver, a load like a relay's, may not hold a strapping pin."""
    _, errors = config.validate({"buzzer_pin": 12})
    assert errors[0].startswith("buzzer_pin: GPIO 12 is a boot strapping pin")


def test_enforce_needs_a_reader_and_a_relay():
    """Test one line each for enforce without a relay and a mode without a reader."""
    _, errors = config.validate({"card_reader": "mfrc522", "access_mode": "enforce"})
    assert errors == ["relay_pin: access enforce needs a relay to switch the machine on"]
    assert config.access_problems(config.DEFAULTS, "log") == [
        "card_reader: access log needs a card reader fitted (mfrc522)"]  # fmt: skip
    assert config.access_problems(config.DEFAULTS, "off") == []


def test_a_card_secret_is_long_or_empty():
    """Test that a short card secret is refused (keys from it could be reversed)."""
    _, errors = config.validate({"card_secret": "short"})
    assert errors[0].startswith("card_secret: must be text of 32 to 128 characters")
