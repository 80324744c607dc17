"""Temperature sensors: datasheet examples decode; every failure is a fault."""

import struct

from firmware.core.faults import SensorFault
from firmware.core.temperature import (
    dallas_crc8,
    ds18b20_celsius,
    max6675_celsius,
    max31855_celsius,
)
from tests.firmware.core.expect import raises


def scratchpad(raw):
    body = struct.pack("<h", raw) + bytes((0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10))
    return body + bytes((dallas_crc8(body),))


def test_crc8_matches_the_maxim_reference_vector():
    """Test the 1-Wire CRC on Maxim's application note 27 example (02 1C B8 01 00 00 00 -> A2)."""
    assert dallas_crc8(bytes((0x02, 0x1C, 0xB8, 0x01, 0, 0, 0))) == 0xA2


def test_ds18b20_datasheet_values():
    """Test the DS18B20 datasheet's table: 0x0191 is +25.0625 C, 0xFF5E is -10.125 C."""
    assert ds18b20_celsius(scratchpad(0x0191)) == 25.0625
    assert ds18b20_celsius(scratchpad(-162)) == -10.125


def test_ds18b20_failures_are_faults():
    """Test that a silent bus, a bad CRC and the power-on 85 C value are faults."""
    assert "no response" in raises(SensorFault, ds18b20_celsius, b"\xff" * 9).reason
    corrupted = bytearray(scratchpad(0x0191))
    corrupted[0] ^= 1
    assert "CRC" in raises(SensorFault, ds18b20_celsius, bytes(corrupted)).reason
    assert "85" in raises(SensorFault, ds18b20_celsius, scratchpad(0x0550)).reason


def test_max6675_decodes_and_detects_an_open_thermocouple():
    """Test the MAX6675: 12 bits of 0.25 C; bit 2 means the thermocouple is open."""
    assert max6675_celsius(1400 << 3) == 350.0
    assert "open" in raises(SensorFault, max6675_celsius, (1400 << 3) | 0x4).reason
    assert "no response" in raises(SensorFault, max6675_celsius, 0).reason
    assert "no response" in raises(SensorFault, max6675_celsius, 0xFFFF).reason


def test_max31855_datasheet_values_and_faults():
    """Test the MAX31855 datasheet's +1600 C and -250 C words and its fault bits."""
    assert max31855_celsius(0x1900 << 18) == 1600.0  # 0110 0100 0000 00
    assert max31855_celsius(0x3C18 << 18) == -250.0  # 1111 0000 0110 00
    assert "open" in raises(SensorFault, max31855_celsius, (0x0640 << 18) | 0x10001).reason
    assert "GND" in raises(SensorFault, max31855_celsius, (0x0640 << 18) | 0x10002).reason
    assert "VCC" in raises(SensorFault, max31855_celsius, (0x0640 << 18) | 0x10004).reason
