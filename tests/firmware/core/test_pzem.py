"""PZEM-004T Modbus-RTU frames: CRC, request, response decoding, faults."""

import struct

from firmware.core.faults import SensorFault
from firmware.core.pzem import crc16, parse_response, read_request, with_crc
from tests.firmware.core.expect import raises


def response(registers, address=0xF8):
    return with_crc(bytes((address, 0x04, 20)) + struct.pack(">10H", *registers))


# 230.1 V, 1.234 A, 283.9 W, 70000 Wh, 50.0 Hz, PF 0.99 (32-bit values low word first)
REGISTERS = (2301, 1234, 0, 2839, 0, 70000 & 0xFFFF, 70000 >> 16, 500, 99, 0)


def test_crc_matches_the_modbus_reference_vector():
    """Test the CRC on the classic Modbus example 01 03 00 00 00 0A -> C5 CD."""
    assert with_crc(bytes((1, 3, 0, 0, 0, 10)))[-2:] == b"\xc5\xcd"


def test_read_request_is_the_general_address_reading_ten_registers():
    """Test the request frame: address 0xF8, function 4, registers 0..9, CRC."""
    frame = read_request()
    assert frame[:6] == bytes((0xF8, 0x04, 0, 0, 0, 10))
    assert crc16(frame[:6]) == frame[6] | frame[7] << 8


def test_response_is_decoded_into_units():
    """Test that registers become volts, amps, watts, watt-hours, hertz and PF."""
    values = parse_response(response(REGISTERS))
    assert abs(values["voltage_v"] - 230.1) < 1e-9
    assert abs(values["current_a"] - 1.234) < 1e-9
    assert abs(values["power_w"] - 283.9) < 1e-9
    assert values["energy_wh"] == 70000.0
    assert abs(values["frequency_hz"] - 50.0) < 1e-9
    assert abs(values["power_factor"] - 0.99) < 1e-9


def test_corrupted_frame_is_a_fault():
    """Test that a flipped bit is caught by the CRC, not decoded."""
    frame = bytearray(response(REGISTERS))
    frame[5] ^= 0x10
    assert "CRC" in raises(SensorFault, parse_response, bytes(frame)).reason


def test_missing_short_and_exception_frames_are_faults():
    """Test that silence, a truncated frame and a Modbus exception are faults."""
    assert "no response" in raises(SensorFault, parse_response, b"").reason
    assert "bytes" in raises(SensorFault, parse_response, response(REGISTERS)[:10]).reason
    exception = with_crc(bytes((0xF8, 0x84, 0x02)))
    assert "exception code 2" in raises(SensorFault, parse_response, exception).reason
