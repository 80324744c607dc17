"""CT clamp maths: RMS over whole mains cycles, offset removal, calibration."""

import math

from firmware.core.power import power_w, rms_current_a, whole_cycles
from tests.firmware.core.expect import Noise, raises

VOLTS_PER_COUNT = 3.3 / 4095  # 12-bit ADC, 3.3 V full scale
AMPS_PER_VOLT = 30.0  # SCT-013-030


def sine(amplitude, offset, rate_hz, count, phase=0.3, noise=None):
    out = []
    for i in range(count):
        value = offset + amplitude * math.sin(2 * math.pi * 50 * i / rate_hz + phase)
        if noise is not None:
            value += noise.uniform(-20, 20)
        out.append(int(value))
    return out


def test_rms_of_50hz_wave_is_within_two_percent():
    """Test that a 50 Hz wave of known amplitude gives its RMS current within 2 %."""
    samples = sine(1000, 2048, 2000, 430, noise=Noise())  # 10.75 cycles, noisy, quantised
    expected = 1000 / math.sqrt(2) * VOLTS_PER_COUNT * AMPS_PER_VOLT
    measured = rms_current_a(samples, 2000, VOLTS_PER_COUNT, AMPS_PER_VOLT)
    assert abs(measured - expected) / expected < 0.02, (measured, expected)


def test_offset_does_not_change_the_rms():
    """Test that the DC bias is removed whatever it is."""
    low = rms_current_a(sine(500, 1800, 2000, 400), 2000, VOLTS_PER_COUNT, AMPS_PER_VOLT)
    high = rms_current_a(sine(500, 2300, 2000, 400), 2000, VOLTS_PER_COUNT, AMPS_PER_VOLT)
    assert abs(low - high) < 0.01


def test_calibration_scales_the_current():
    """Test that the calibration factor multiplies the result."""
    samples = sine(800, 2048, 2000, 400)
    plain = rms_current_a(samples, 2000, VOLTS_PER_COUNT, AMPS_PER_VOLT)
    scaled = rms_current_a(samples, 2000, VOLTS_PER_COUNT, AMPS_PER_VOLT, calibration=1.1)
    assert abs(scaled - 1.1 * plain) < 1e-9


def test_partial_cycle_is_left_out():
    """Test that only whole 50 Hz cycles are used (40 samples per cycle at 2 kHz)."""
    assert len(whole_cycles(list(range(430)), 2000)) == 400


def test_less_than_a_cycle_is_an_error():
    """Test that too few samples are refused rather than giving a wrong RMS."""
    raises(ValueError, whole_cycles, list(range(39)), 2000)


def test_power_is_voltage_current_and_power_factor():
    """Test P = V x I x PF, and zero below the noise floor."""
    assert abs(power_w(2.0, 220.0, 0.9, 0.05) - 396.0) < 1e-9
    assert power_w(0.03, 220.0, 1.0, 0.05) == 0.0
