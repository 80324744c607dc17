# `machine` for the board program under MicroPython's WebAssembly port: pins and the
# CT clamp's ADC read and write `hostboard` (tests/firmware/micropython_board.mjs).
import math

import hostboard


class Pin:
    IN, OUT, PULL_UP = 0, 1, 2

    def __init__(self, pin_id, mode=-1, pull=-1, value=None):
        self.id = pin_id
        if value is not None:
            self.value(value)

    def value(self, level=None):
        if level is None:
            return hostboard.pin_level(self.id)
        hostboard.set_pin(self.id, level)
        return level


class ADC:
    ATTN_11DB = 3

    def __init__(self, pin):
        self.reads = 0

    def atten(self, attenuation):
        pass

    def read_uv(self):
        """A 50 Hz sine on a 1.65 V bias for the current the host sets; each read one
        sample period at 2 kHz, as the board's paced ADC."""
        self.reads += 1
        phase = 2 * math.pi * 50 * self.reads / 2000 + 0.4
        peak_uv = hostboard.current_a() * math.sqrt(2) / 5.0 * 1e6  # SCT-013-005
        return int(1650000 + peak_uv * math.sin(phase))


class WDT:
    def __init__(self, timeout=0):
        pass

    def feed(self):
        hostboard.feed()


def reset():
    raise SystemExit("machine.reset")


def unique_id():
    return b"\x24\x6f\x28\x00\x00\x01"


class SoftSPI:
    """The card reader's bus: an MFRC522 modelled at its registers
    (tests/firmware/core/mfrc522_chip.py), with the card the host's world holds in its
    field. A new presentation of a card (the world's count changes) is a new card in the
    field, as a card taken away and held there again."""

    def __init__(self, **kwargs):
        from mfrc522_chip import MFRC522Chip

        self.chip = MFRC522Chip()
        self.presented = ""

    def write_readinto(self, out, into):
        if hostboard.reader_absent():  # nothing on the bus: MISO floats high
            for i in range(len(into)):
                into[i] = 0xFF
            return
        self._follow_world()
        self.chip.write_readinto(out, into)

    def _follow_world(self):
        from mfrc522_chip import Card

        presented = hostboard.card()  # "<uid hex>:<count>", or "" for an empty field
        if presented == self.presented:
            return
        self.presented = presented
        uid = presented.split(":")[0]
        self.chip.card = Card(bytes.fromhex(uid)) if uid else None
