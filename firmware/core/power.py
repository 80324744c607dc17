# Power from a current transformer (SCT-013 voltage-output class) on the ADC.
#
# The clamp's output rides on a DC bias (half the ADC range); the bias is removed
# as the mean over whole mains cycles, so a partial cycle cannot skew it.
import math

MAINS_HZ = 50


def whole_cycles(samples, rate_hz, mains_hz=MAINS_HZ):
    """The longest prefix of `samples` that spans a whole number of mains cycles."""
    per_cycle = rate_hz / mains_hz
    cycles = int(len(samples) / per_cycle)
    if cycles < 1:
        raise ValueError("fewer samples than one mains cycle")
    return samples[: int(cycles * per_cycle + 0.5)]


def rms_current_a(
    samples, rate_hz, volts_per_count, amps_per_volt, calibration=1.0, mains_hz=MAINS_HZ
):
    """RMS current in A from raw ADC counts sampled at `rate_hz`."""
    window = whole_cycles(samples, rate_hz, mains_hz)
    mean = sum(window) / len(window)
    total = 0.0
    for value in window:
        total += (value - mean) * (value - mean)
    return math.sqrt(total / len(window)) * volts_per_count * amps_per_volt * calibration


def power_w(current_a, voltage_v, power_factor, noise_floor_a):
    """Real power in W; currents below the clamp's noise floor read as zero."""
    if current_a < noise_floor_a:
        return 0.0
    return voltage_v * current_a * power_factor
