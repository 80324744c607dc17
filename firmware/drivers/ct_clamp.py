# SCT-013 voltage-output current clamp on an ESP32 ADC pin (docs/firmware.md, wiring).
from machine import ADC, Pin

from firmware.core.faults import SensorFault
from firmware.core.power import power_w, rms_current_a
from firmware.ticks import sleep_us, ticks_diff, ticks_us

RAIL_UV = 50000  # within 50 mV of 0 V: the bias divider is missing or the pin is shorted


class CTClamp:
    name = "ct"

    def __init__(self, settings):
        self.adc = ADC(Pin(settings["ct_pin"]))
        self.adc.atten(ADC.ATTN_11DB)  # full 0..3.3 V range for the 1.65 V bias
        self.rate_hz = settings["ct_sample_rate_hz"]
        self.count = int(self.rate_hz / settings["mains_hz"] * settings["ct_cycles"])
        self.settings = settings

    def _samples(self):
        """Microvolt samples paced at rate_hz (read_uv uses the chip's calibration)."""
        period_us = 1000000 // self.rate_hz
        samples = []
        start = ticks_us()
        for i in range(self.count):
            samples.append(self.adc.read_uv())
            wait = ticks_diff(start + (i + 1) * period_us, ticks_us())
            if wait > 0:
                sleep_us(wait)
        return samples

    def read(self):
        s = self.settings
        samples = self._samples()
        if max(samples) < RAIL_UV:
            raise SensorFault("ct", "ADC reads 0 V: bias divider missing or clamp miswired")
        current = rms_current_a(
            samples,
            self.rate_hz,
            1e-6,
            s["ct_amps_per_volt"] / s["ct_turns"],
            s["ct_calibration"],
            s["mains_hz"],
        )
        return {"power_w": power_w(current, s["mains_v"], s["power_factor"], s["ct_noise_floor_a"])}
