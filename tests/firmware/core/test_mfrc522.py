"""The MFRC522 driver against a register-level model of the chip and ISO 14443 A cards
(tests/firmware/core/mfrc522_chip.py): REQA, anticollision, SELECT, the FIFO, the CRC
coprocessor, and the ways a read goes wrong."""

from firmware.core.faults import SensorFault
from firmware.drivers.mfrc522 import MFRC522
from tests.firmware.core.expect import raises
from tests.firmware.core.mfrc522_chip import Card, MFRC522Chip, crc_a

UID4 = b"\xde\xad\xbe\xef"
UID7 = b"\x04\xa3\x2b\x1c\x5d\x6e\x80"


class Line:
    """A CS or RST pin: records its levels."""

    def __init__(self):
        self.levels = []

    def value(self, level=None):
        if level is not None:
            self.levels.append(level)
        return self.levels[-1] if self.levels else 1


def reader(card=None, version=0x92):
    chip = MFRC522Chip(version)
    chip.card = card
    cs = Line()
    driver = MFRC522(chip, cs, Line())
    driver.init()
    return driver, chip, cs


def test_crc_a_is_iso_14443_3s():
    """Test the model's CRC_A against ISO/IEC 14443-3 Annex B's example (0x00 0x00 -> A0 1E)
    and the chip's coprocessor, through the driver, against the model's."""
    assert crc_a(b"\x00\x00") == b"\xa0\x1e"
    assert crc_a(b"\x12\x34") == b"\x26\xcf"
    driver, _, _ = reader()
    assert driver.crc_a(b"\x93\x70" + UID4 + b"\x22") == crc_a(b"\x93\x70" + UID4 + b"\x22")


def test_a_4_byte_uid_is_read_through_one_cascade_level():
    """Test REQA, anticollision and SELECT at level 1 give the 4-byte UID and halt the card,
    with CS raised after every transaction."""
    card = Card(UID4)
    driver, _, cs = reader(card)
    assert driver.read_uid() == UID4
    assert card.state == Card.HALT
    assert cs.levels[-1] == 1
    assert cs.levels.count(0) == cs.levels.count(1)


def test_a_7_byte_uid_is_read_through_two_cascade_levels():
    """Test the cascade tag at level 1 and the rest of the UID at level 2."""
    card = Card(UID7)
    driver, _, _ = reader(card)
    assert driver.read_uid() == UID7
    assert card.level == 2
    assert card.state == Card.HALT


def test_a_10_byte_uid_is_read_through_three_cascade_levels():
    """Test the third cascade level."""
    uid = bytes(range(1, 11))
    driver, _, _ = reader(Card(uid))
    assert driver.read_uid() == uid


def test_a_card_held_at_the_reader_is_read_once():
    """Test that a halted card answers no REQA, so a card held there is one tap, and is read
    again once it has left the field and come back."""
    card = Card(UID4)
    driver, chip, _ = reader(card)
    assert driver.read_uid() == UID4
    assert driver.read_uid() is None
    chip.card = None
    assert driver.read_uid() is None
    chip.card = Card(UID4)
    assert driver.read_uid() == UID4


def test_no_card_is_no_uid():
    """Test that an empty field ends on the chip's timer, with no UID."""
    driver, _, _ = reader()
    assert driver.read_uid() is None


def test_a_card_taken_away_mid_read_gives_no_uid():
    """Test a card gone after each step of the read (ATQA, anticollision, level 1's SAK of a
    7-byte UID, the level-2 anticollision): no UID, no exception, and the next card reads."""
    for answered in (1, 2, 3, 4):
        card = Card(UID7, leaves_after=answered)
        driver, chip, _ = reader(card)
        assert driver.read_uid() is None, answered
        chip.card = Card(UID4)
        assert driver.read_uid() == UID4


def test_a_bad_crc_gives_no_uid():
    """Test that a SAK whose CRC_A is wrong (a card leaving mid-frame, noise) gives no UID."""
    driver, _, _ = reader(Card(UID4, bad_crc=True))
    assert driver.read_uid() is None
    driver, _, _ = reader(Card(UID7, bad_crc=True))
    assert driver.read_uid() is None


def test_stale_bytes_in_the_fifo_are_flushed_before_each_frame():
    """Test that bytes a broken exchange left in the FIFO (and a BufferOvfl from too many)
    do not reach the card: each frame starts with FlushBuffer."""
    driver, chip, _ = reader(Card(UID4))
    for _ in range(70):
        chip.write(0x09, 0xAA)
    assert chip.read(0x0A) == 64
    assert chip.regs[0x06] & 0x10
    assert driver.read_uid() == UID4


def test_two_cards_at_once_collide_and_give_no_uid_until_one_is_taken_away():
    """Test that two cards answering anticollision differently set CollErr, which gives no
    UID (and no wrong one mixed from both); with one taken away the other reads."""
    driver, chip, _ = reader(Card(UID4))
    chip.other = Card(b"\xde\xad\x00\x01")
    assert driver.read_uid() is None
    assert chip.regs[0x06] & 0x08
    assert chip.regs[0x0E] == 18  # CollPos, 1-based: bit 17 (byte 2, bit 1: 0xbe vs 0x00)
    chip.other = None
    chip.card = Card(UID4)
    assert driver.read_uid() == UID4


def test_no_reader_on_the_bus_is_a_sensor_fault():
    """Test that a bus that reads 0x00 or 0xFF for VersionReg is a SensorFault naming it."""
    for version in (0x00, 0xFF):
        fault = raises(SensorFault, reader, None, version)
        assert "no reader" in fault.reason


class Unplugged:
    """A bus with nothing on it: MISO floats high or is pulled low."""

    def __init__(self, level):
        self.level = level

    def write_readinto(self, out, into):
        for i in range(len(into)):
            into[i] = self.level


def test_a_reader_unplugged_after_start_is_a_sensor_fault_not_silence():
    """Test that a reader gone from its bus is a SensorFault from check() (floating high or
    low) and from read_uid() (low: no flag at all, not even the chip's timer), never a UID."""
    for level in (0x00, 0xFF):
        driver, _, _ = reader(Card(UID4))
        driver.spi = Unplugged(level)
        assert "no reader" in raises(SensorFault, driver.check).reason
    driver, _, _ = reader(Card(UID4))
    driver.spi = Unplugged(0x00)
    assert "does not answer" in raises(SensorFault, driver.read_uid).reason
    driver.spi = Unplugged(0xFF)
    assert driver.read_uid() is None  # every flag and every error up: no UID
