# NXP MFRC522 13.56 MHz card reader on SPI (NXP datasheet MFRC522 rev. 3.9, "MFRC522")
# reading ISO/IEC 14443 A card UIDs (ISO/IEC 14443-3: REQA, anticollision, SELECT).
#
# Hardware-free: the SPI bus and the CS and RST pins are passed in (machine.SPI and
# machine.Pin on the board, a model of the chip in the tests), so the whole exchange runs
# under MicroPython on a PC. Every failure of a read (no card, a card taken away
# mid-read, a bad CRC, two cards colliding) is "no UID", never an exception; a reader
# that cannot be talked to (missing, unplugged, dead) is a SensorFault.
#
# Each UID is read once per presentation: after SELECT the card is halted (HLTA), and a
# halted card answers only WUPA, which this driver never sends; it answers REQA again
# only after it has left the field. A card held at the reader is one tap.
from firmware.core.faults import SensorFault
from firmware.ticks import sleep_ms, ticks_add, ticks_diff, ticks_ms

# Registers (datasheet 9.2).
COMMAND, COM_IRQ, DIV_IRQ, ERROR = 0x01, 0x04, 0x05, 0x06
FIFO_DATA, FIFO_LEVEL, CONTROL, BIT_FRAMING = 0x09, 0x0A, 0x0C, 0x0D
MODE, TX_CONTROL, TX_ASK = 0x11, 0x14, 0x15
CRC_RESULT_H, CRC_RESULT_L = 0x21, 0x22
T_MODE, T_PRESCALER, T_RELOAD_H, T_RELOAD_L = 0x2A, 0x2B, 0x2C, 0x2D
VERSION = 0x37
# Commands (datasheet 10.3).
IDLE, CALC_CRC, TRANSCEIVE, SOFT_RESET = 0x00, 0x03, 0x0C, 0x0F
# ComIrqReg bits: RxIRq, IdleIRq, ErrIRq, TimerIRq; DivIrqReg: CRCIRq.
RX_IRQ, IDLE_IRQ, TIMER_IRQ, CRC_IRQ = 0x20, 0x10, 0x01, 0x04
# ErrorReg: BufferOvfl, CollErr, CRCErr, ParityErr, ProtocolErr.
ERRORS_ANY = 0x1F
# ISO/IEC 14443-3 commands.
REQA, HLTA, CASCADE_TAG, SELECT_NVB, ANTICOLL_NVB = 0x26, 0x50, 0x88, 0x70, 0x20
SEL_LEVELS = (0x93, 0x95, 0x97)  # cascade levels 1-3: 4-, 7- and 10-byte UIDs
SAK_MORE = 0x04  # SAK bit: the UID is not complete, go to the next cascade level
# How long to wait for an interrupt flag. The chip's own timer ends a transceive after
# 25 ms (set in init), and a CRC takes microseconds: a flag still down after this long is
# a chip that stopped answering. (Time, not a count of polls: a fast bus would count
# out before the chip's timer.)
WAIT_MS = 100
# Polls for the end of a soft reset (a few microseconds on the chip).
MAX_POLLS = 200
# After RST goes high the crystal oscillator starts (datasheet 8.8.2: "start-up time"
# depends on the crystal); common modules' 27.12 MHz crystals take well under this.
RESET_MS = 50
# VersionReg of a working chip: 0x91 v1.0, 0x92 v2.0, 0x88 and 0xB2 common clones;
# 0x00 or 0xFF is an SPI bus with no chip on it.
NO_CHIP = (0x00, 0xFF)


class MFRC522:
    name = "mfrc522"

    def __init__(self, spi, cs, rst=None):
        self.spi = spi
        self.cs = cs
        self.rst = rst
        self._one = bytearray(2)

    # Registers: one SPI transaction each (datasheet 8.1.2: address byte bit 7 = read,
    # bits 6-1 the register).

    def _write(self, reg, value):
        self.cs.value(0)
        try:
            self.spi.write_readinto(bytes(((reg << 1) & 0x7E, value)), self._one)
        finally:
            self.cs.value(1)

    def _read(self, reg):
        self.cs.value(0)
        try:
            self.spi.write_readinto(bytes((((reg << 1) & 0x7E) | 0x80, 0)), self._one)
        finally:
            self.cs.value(1)
        return self._one[1]

    def _set_bits(self, reg, mask):
        self._write(reg, self._read(reg) | mask)

    def _wait(self, reg, mask):
        """The bits of `mask` that came up in `reg` (0: none within WAIT_MS)."""
        deadline = ticks_add(ticks_ms(), WAIT_MS)
        while True:
            flags = self._read(reg) & mask
            if flags or ticks_diff(deadline, ticks_ms()) < 0:
                return flags

    def check(self):
        """SensorFault unless a chip answers on the bus (its VersionReg); the version."""
        version = self._read(VERSION)
        if version in NO_CHIP:
            raise SensorFault("mfrc522", "no reader on the SPI bus (version 0x%02x)" % version)
        return version

    def init(self):
        if self.rst is not None:
            self.rst.value(1)  # out of hard power-down: give its crystal time to start
            sleep_ms(RESET_MS)
        self._write(COMMAND, SOFT_RESET)
        version = self.check()
        for _ in range(MAX_POLLS):  # PowerDown (CommandReg bit 4) clears once it is up
            if not self._read(COMMAND) & 0x10:
                break
        else:
            raise SensorFault("mfrc522", "the reader did not come out of its reset")
        # Timer: TAuto, prescaler 0xA9 (about 40 kHz), reload 1000: a receive gives up
        # after 25 ms with TimerIRq (datasheet 8.5).
        self._write(T_MODE, 0x80)
        self._write(T_PRESCALER, 0xA9)
        self._write(T_RELOAD_H, 0x03)
        self._write(T_RELOAD_L, 0xE8)
        self._write(TX_ASK, 0x40)  # 100 % ASK, as ISO 14443 A wants
        self._write(MODE, 0x3D)  # CRC preset 0x6363 (ISO 14443-3 CRC_A)
        self._set_bits(TX_CONTROL, 0x03)  # antenna on (TX1 and TX2)
        return version

    # The chip's FIFO and its CRC coprocessor.

    def _load_fifo(self, data):
        self._write(COMMAND, IDLE)
        self._write(FIFO_LEVEL, 0x80)  # FlushBuffer
        for byte in data:
            self._write(FIFO_DATA, byte)

    def crc_a(self, data):
        """CRC_A of `data` from the chip's coprocessor (2 bytes, low first)."""
        self._load_fifo(data)
        self._write(DIV_IRQ, CRC_IRQ)  # clear CRCIRq (Set2 = 0)
        self._write(COMMAND, CALC_CRC)
        if not self._wait(DIV_IRQ, CRC_IRQ):
            raise SensorFault("mfrc522", "the reader's CRC coprocessor does not answer")
        self._write(COMMAND, IDLE)
        return bytes((self._read(CRC_RESULT_L), self._read(CRC_RESULT_H)))

    def transceive(self, data, last_bits=0):
        """Send `data` to the card (the last byte's `last_bits` only, 0 = all 8) and
        return its answer, or None: no answer (timer), a receive error, a collision.
        A chip that raises neither its receive nor its timer flag is a SensorFault."""
        self._load_fifo(data)
        self._write(COM_IRQ, 0x7F)  # clear every interrupt flag (Set1 = 0)
        self._write(BIT_FRAMING, last_bits & 0x07)
        self._write(COMMAND, TRANSCEIVE)
        self._set_bits(BIT_FRAMING, 0x80)  # StartSend
        flags = self._wait(COM_IRQ, RX_IRQ | IDLE_IRQ | TIMER_IRQ)
        self._write(BIT_FRAMING, 0)
        self._write(COMMAND, IDLE)
        if not flags:  # not even its own timer: the chip is gone
            raise SensorFault("mfrc522", "the reader does not answer (no receive, no timeout)")
        if not flags & (RX_IRQ | IDLE_IRQ) or self._read(ERROR) & ERRORS_ANY:
            return None
        count = self._read(FIFO_LEVEL) & 0x7F
        return bytes(self._read(FIFO_DATA) for _ in range(count))

    def _transceive_crc(self, frame):
        """Send `frame` with its CRC_A; the answer without its CRC, or None if the answer's
        CRC is wrong (a card leaving the field mid-frame) or there is none."""
        answer = self.transceive(frame + self.crc_a(frame))
        if answer is None or len(answer) < 3 or self.crc_a(answer[:-2]) != answer[-2:]:
            return None
        return answer[:-2]

    # ISO/IEC 14443-3 type A.

    def _cascade(self, sel):
        """(the level's 4 UID bytes, SAK) of one cascade level, or None."""
        part = self.transceive(bytes((sel, ANTICOLL_NVB)))
        if part is None or len(part) != 5 or part[0] ^ part[1] ^ part[2] ^ part[3] != part[4]:
            return None  # no card, a collision, or a wrong BCC
        sak = self._transceive_crc(bytes((sel, SELECT_NVB)) + part)
        if sak is None or len(sak) != 1:
            return None
        return part[:4], sak[0]

    def read_uid(self):
        """The UID (4, 7 or 10 bytes) of a card newly held to the reader, or None;
        SensorFault if the reader itself stopped answering."""
        atqa = self.transceive(bytes((REQA,)), 7)
        if atqa is None or len(atqa) != 2:
            return None
        uid = b""
        for sel in SEL_LEVELS:
            level = self._cascade(sel)
            if level is None:
                return None
            part, sak = level
            if not sak & SAK_MORE:
                self.halt()
                return uid + part
            if part[0] != CASCADE_TAG:
                return None
            uid += part[1:]
        return None

    def halt(self):
        """HLTA: the card stays silent until it leaves the field (it does not answer)."""
        self.transceive(bytes((HLTA, 0)) + self.crc_a(bytes((HLTA, 0))))
