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
