# A register-level model of the NXP MFRC522 (datasheet rev. 3.9) and of ISO/IEC 14443 A
# cards in its field, as the SPI peer of firmware/drivers/mfrc522.py. Plain Python that
# runs under CPython and MicroPython alike (the board program's tests put it behind
# machine.SPI under MicroPython).
#
# What it follows: the SPI framing (8.1.2: address byte, bit 7 read, bits 6-1 register;
# a read sends the next address while the previous value comes back), the 64-byte FIFO
# and FIFOLevelReg's FlushBuffer, ComIrqReg/DivIrqReg's Set bit, BitFramingReg's
# StartSend and TxLastBits, ControlReg's RxLastBits, ErrorReg, the CRC coprocessor
# (CalcCRC with ModeReg's CRCPreset into CRCResultReg), Transceive and the timer's
# TimerIRq when no card answers, SoftReset, VersionReg. A card follows ISO/IEC 14443-3:
# IDLE -> READY on REQA/WUPA (ATQA), anticollision and SELECT per cascade level (SAK),
# ACTIVE, HALT on HLTA (then only WUPA wakes it).

COMMAND, COM_IRQ, DIV_IRQ, ERROR, STATUS1 = 0x01, 0x04, 0x05, 0x06, 0x07
FIFO_DATA, FIFO_LEVEL, CONTROL, BIT_FRAMING, COLL = 0x09, 0x0A, 0x0C, 0x0D, 0x0E
MODE = 0x11
CRC_RESULT_H, CRC_RESULT_L = 0x21, 0x22
VERSION = 0x37
IDLE, MEM, CALC_CRC, TRANSMIT, RECEIVE, TRANSCEIVE, SOFT_RESET = 0, 1, 3, 4, 8, 12, 15
FIFO_BYTES = 64
# Reset values that matter here (datasheet 9.2): ComIrqReg 0x14, ModeReg 0x3F,
# CommandReg 0x20 (receiver off), FIFOLevel 0, VersionReg 0x92 (v2.0).
RESETS = {COMMAND: 0x20, COM_IRQ: 0x14, MODE: 0x3F, 0x12: 0, 0x13: 0, 0x14: 0x80, 0x15: 0}
CRC_PRESETS = (0x0000, 0x6363, 0xA671, 0xFFFF)  # ModeReg CRCPreset[1:0]


def crc_a(data, preset=0x6363):
    """ISO/IEC 14443-3 Annex B CRC_A, low byte first."""
    crc = preset
    for byte in data:
        byte ^= crc & 0xFF
        byte = (byte ^ (byte << 4)) & 0xFF
        crc = (crc >> 8) ^ (byte << 8) ^ (byte << 3) ^ (byte >> 4)
    return bytes((crc & 0xFF, crc >> 8))


class Card:
    """A card in the field. `leaves_after`: frames it answers before it is taken away
    (None: it stays); `bad_crc`: its framed answers carry a wrong CRC."""

    IDLE, READY, ACTIVE, HALT = "idle", "ready", "active", "halt"

    def __init__(self, uid, leaves_after=None, bad_crc=False):
        assert len(uid) in (4, 7, 10)
        self.uid = bytes(uid)
        self.leaves_after = leaves_after
        self.bad_crc = bad_crc
        self.state = Card.IDLE
        self.level = 0  # the cascade level being selected
        self.answered = 0

    def levels(self):
        """Each cascade level's 4 bytes (ISO 14443-3 6.5.4: CT 0x88 before an incomplete part)."""
        uid = self.uid
        if len(uid) == 4:
            return [uid]
        if len(uid) == 7:
            return [b"\x88" + uid[:3], uid[3:]]
        return [b"\x88" + uid[:3], b"\x88" + uid[3:6], uid[6:]]

    def present(self):
        return self.leaves_after is None or self.answered < self.leaves_after

    def _framed(self, data):
        crc = crc_a(data)
        if self.bad_crc:
            crc = bytes((crc[0] ^ 0x5A, crc[1]))
        return data + crc

    def answer(self, frame, last_bits):
        """The card's answer to a frame (None: silent)."""
        if not self.present():
            return None
        answer = self._answer(frame, last_bits)
        if answer is not None:
            self.answered += 1
        return answer

    def _answer(self, frame, last_bits):
        if last_bits == 7 and len(frame) == 1:  # a short frame: REQA or WUPA
            wakes = (Card.IDLE,) if frame[0] == 0x26 else (Card.IDLE, Card.HALT)
            if frame[0] in (0x26, 0x52) and self.state in wakes:
                self.state, self.level = Card.READY, 0
                return bytes((0x04 if len(self.uid) == 4 else 0x44, 0x00))
            return None
        if len(frame) >= 2 and frame[0] == 0x50 and self.state == Card.ACTIVE:
            self.state = Card.HALT  # HLTA: no answer
            return None
        if self.state != Card.READY or len(frame) < 2:
            return None
        return self._select(frame)

    def _select(self, frame):
        levels = self.levels()
        sel = (0x93, 0x95, 0x97)[self.level]
        if frame[0] != sel:
            self.state = Card.IDLE
            return None
        part = levels[self.level]
        bcc = part[0] ^ part[1] ^ part[2] ^ part[3]
        if frame[1] == 0x20:  # ANTICOLLISION: the whole level, no CRC
            return part + bytes((bcc,))
        if frame[1] == 0x70 and len(frame) == 9 and frame[2:7] == part + bytes((bcc,)):
            if crc_a(frame[:7]) != frame[7:9]:
                return None
            self.level += 1
            if self.level < len(levels):
                return self._framed(b"\x04")  # SAK: the UID is not complete
            self.state = Card.ACTIVE
            return self._framed(b"\x08")  # SAK: MIFARE Classic 1K, complete
        return None


class MFRC522Chip:
    """The chip as seen through its SPI bus; `card` is what is in its field (or None), and
    `other`, a second card beside it: where their answers differ, their bits collide."""

    def __init__(self, version=0x92):
        self.version = version
        self.card = None
        self.other = None
        self.regs = bytearray(64)
        self.fifo = bytearray()
        self.transactions = 0
        self.soft_reset()

    def soft_reset(self):
        self.regs = bytearray(64)
        for reg, value in RESETS.items():
            self.regs[reg] = value
        self.regs[VERSION] = self.version
        self.fifo = bytearray()

    # SPI (datasheet 8.1.2) -------------------------------------------------

    def write_readinto(self, out, into):
        """One transaction (CS low to CS high): bytes in, bytes back."""
        self.transactions += 1
        first = out[0]
        reg = (first >> 1) & 0x3F
        if first & 0x80:  # read: each byte sent is the next address; the last is 0
            into[0] = 0
            for i in range(1, len(out)):
                into[i] = self.read(reg)
                reg = (out[i] >> 1) & 0x3F
        else:
            into[0] = 0
            for i in range(1, len(out)):
                into[i] = 0
                self.write(reg, out[i])

    # Registers ------------------------------------------------------------

    def read(self, reg):
        if reg == FIFO_DATA:
            if not self.fifo:
                return 0
            byte = self.fifo[0]
            self.fifo = self.fifo[1:]
            return byte
        if reg == FIFO_LEVEL:
            return len(self.fifo)
        return self.regs[reg]

    def _write_fifo(self, reg, value):
        if reg == FIFO_DATA:
            if len(self.fifo) < FIFO_BYTES:
                self.fifo.append(value)
            else:
                self.regs[ERROR] |= 0x10  # BufferOvfl
        elif value & 0x80:  # FIFOLevelReg's FlushBuffer; also clears BufferOvfl
            self.fifo = bytearray()
            self.regs[ERROR] &= ~0x10 & 0xFF

    def write(self, reg, value):
        if reg in (FIFO_DATA, FIFO_LEVEL):
            self._write_fifo(reg, value)
        elif reg in (COM_IRQ, DIV_IRQ):  # Set1/Set2: set or clear the marked bits
            if value & 0x80:
                self.regs[reg] |= value & 0x7F
            else:
                self.regs[reg] &= ~value & 0xFF
        elif reg == COMMAND:
            self.regs[COMMAND] = value & 0x3F
            self._command(value & 0x0F)
        elif reg == BIT_FRAMING:
            self.regs[BIT_FRAMING] = value & 0x7F  # StartSend reads back once done
            if value & 0x80 and self.regs[COMMAND] & 0x0F == TRANSCEIVE:
                self._transceive()
        elif reg not in (VERSION, ERROR, CRC_RESULT_H, CRC_RESULT_L, STATUS1):
            self.regs[reg] = value

    # Commands (datasheet 10.3) --------------------------------------------------

    def _command(self, command):
        if command == SOFT_RESET:
            self.soft_reset()
            self.regs[COMMAND] = 0x00  # up again at once (PowerDown clear)
        elif command == CALC_CRC:
            crc = crc_a(bytes(self.fifo), CRC_PRESETS[self.regs[MODE] & 0x03])
            self.fifo = bytearray()
            self.regs[CRC_RESULT_L], self.regs[CRC_RESULT_H] = crc[0], crc[1]
            self.regs[DIV_IRQ] |= 0x04  # CRCIRq
        elif command == IDLE:
            self.regs[COM_IRQ] |= 0x10  # IdleIRq: the command before it ended

    def _transceive(self):
        frame = bytes(self.fifo)
        last_bits = self.regs[BIT_FRAMING] & 0x07
        self.fifo = bytearray()
        self.regs[ERROR] = 0
        self.regs[COM_IRQ] |= 0x40  # TxIRq
        answers = [c.answer(frame, last_bits) for c in (self.card, self.other) if c is not None]
        answers = [a for a in answers if a is not None]
        if len(answers) > 1 and answers[0] != answers[1]:
            self._collide(answers[0], answers[1])
            return
        answer = answers[0] if answers else None
        if answer is None:
            self.regs[COM_IRQ] |= 0x01  # TimerIRq (TAuto): nothing came back in time
            return
        self.fifo = bytearray(answer[:FIFO_BYTES])
        self.regs[CONTROL] &= 0xF8  # RxLastBits 0: whole bytes
        self.regs[COM_IRQ] |= 0x20  # RxIRq

    def _collide(self, one, two):
        """Two cards answering differently: the bits up to the first that differs arrive,
        CollErr is set and CollReg gives that bit's position (datasheet 9.3.1.15)."""
        bit = 0
        while (one[bit // 8] >> (bit % 8)) & 1 == (two[bit // 8] >> (bit % 8)) & 1:
            bit += 1
        self.fifo = bytearray(one[: bit // 8 + 1])
        self.regs[COLL] = (bit + 1) % 32
        self.regs[ERROR] |= 0x08  # CollErr
        self.regs[COM_IRQ] |= 0x22  # RxIRq, ErrIRq
