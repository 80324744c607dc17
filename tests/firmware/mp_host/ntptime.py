# `ntptime` for the board program under MicroPython's WebAssembly port: the port's
# clock is already the host's.
host = "pool.ntp.org"


def settime():
    pass
