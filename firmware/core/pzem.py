# PZEM-004T v3.0 energy meter over Modbus-RTU (the module's datasheet, "Communication
# protocol"): read 10 input registers from address 0; values are little-endian
# pairs of big-endian 16-bit registers for current, power and energy.
import struct

from firmware.core.faults import SensorFault

GENERAL_ADDRESS = 0xF8
READ_INPUT_REGISTERS = 0x04
REGISTER_COUNT = 10
RESPONSE_BYTES = 5 + 2 * REGISTER_COUNT


def crc16(data):
    """Modbus CRC-16 (polynomial 0xA001 reflected, initial 0xFFFF)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def with_crc(frame):
    crc = crc16(frame)
    return bytes(frame) + bytes((crc & 0xFF, crc >> 8))


def read_request(address=GENERAL_ADDRESS):
    return with_crc(bytes((address, READ_INPUT_REGISTERS, 0, 0, 0, REGISTER_COUNT)))


def parse_response(frame, address=GENERAL_ADDRESS):
    """Readings from a response frame, or SensorFault naming what was wrong."""
    if not frame:
        raise SensorFault("pzem", "no response")
    if len(frame) >= 5 and frame[1] == READ_INPUT_REGISTERS | 0x80:
        raise SensorFault("pzem", "exception code %d" % frame[2])
    if len(frame) != RESPONSE_BYTES:
        raise SensorFault(
            "pzem", "response of %d bytes, expected %d" % (len(frame), RESPONSE_BYTES)
        )
    if crc16(frame[:-2]) != frame[-2] | (frame[-1] << 8):
        raise SensorFault("pzem", "CRC mismatch")
    if frame[0] != address or frame[1] != READ_INPUT_REGISTERS or frame[2] != 2 * REGISTER_COUNT:
        raise SensorFault(
            "pzem", "unexpected header %02x %02x %02x" % (frame[0], frame[1], frame[2])
        )
    r = struct.unpack(">10H", frame[3:-2])
    return {
        "voltage_v": r[0] / 10,
        "current_a": (r[1] | r[2] << 16) / 1000,
        "power_w": (r[3] | r[4] << 16) / 10,
        "energy_wh": float(r[5] | r[6] << 16),
        "frequency_hz": r[7] / 10,
        "power_factor": r[8] / 100,
    }
