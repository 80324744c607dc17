# Temperature sensors. A failed or disconnected sensor raises SensorFault: a tip
# reading 0 C or 85 C because a wire came loose must never look like data.
import struct

from firmware.core.faults import SensorFault

DS18B20_POWER_ON_RAW = 0x0550  # 85.0 C: the power-on value, before any conversion


def dallas_crc8(data):
    """Maxim/Dallas 1-Wire CRC-8 (polynomial x^8 + x^5 + x^4 + 1, reflected)."""
    crc = 0
    for byte in data:
        for _ in range(8):
            mix = (crc ^ byte) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
            byte >>= 1
    return crc


def ds18b20_celsius(scratchpad):
    """Temperature from the 9-byte DS18B20 scratchpad (datasheet, "Memory")."""
    if len(scratchpad) != 9:
        raise SensorFault("ds18b20", "scratchpad of %d bytes" % len(scratchpad))
    if scratchpad == b"\xff" * 9:
        raise SensorFault("ds18b20", "no response (bus reads all ones)")
    if dallas_crc8(scratchpad[:8]) != scratchpad[8]:
        raise SensorFault("ds18b20", "CRC mismatch")
    raw = struct.unpack("<h", scratchpad[:2])[0]
    if raw == DS18B20_POWER_ON_RAW:
        raise SensorFault("ds18b20", "power-on value 85 C: no conversion happened")
    return raw / 16


def max6675_celsius(raw):
    """Temperature from the MAX6675's 16-bit word (datasheet, "Serial interface")."""
    if raw in (0, 0xFFFF):
        raise SensorFault(
            "max6675", "no response (reads all %ss)" % ("zero" if raw == 0 else "one")
        )
    if raw & 0x8002:
        raise SensorFault("max6675", "invalid word 0x%04x" % raw)
    if raw & 0x0004:
        raise SensorFault("max6675", "thermocouple open")
    return (raw >> 3) * 0.25


_MAX31855_FAULTS = ((0x1, "thermocouple open"), (0x2, "short to GND"), (0x4, "short to VCC"))


def max31855_celsius(raw):
    """Thermocouple temperature from the MAX31855's 32-bit word (datasheet, "Memory map")."""
    if raw in (0, 0xFFFFFFFF):
        raise SensorFault(
            "max31855", "no response (reads all %ss)" % ("zero" if raw == 0 else "one")
        )
    if raw & 0x10000:
        for bit, reason in _MAX31855_FAULTS:
            if raw & bit:
                raise SensorFault("max31855", reason)
        raise SensorFault("max31855", "fault bit set")
    value = raw >> 18
    if value & 0x2000:  # 14-bit two's complement
        value -= 0x4000
    return value * 0.25
