# `network` for the board program under MicroPython's WebAssembly port: Wi-Fi is up
# unless the test's world says otherwise (`hostboard`, tests/firmware/micropython_board.mjs).
import hostboard

STA_IF = 0


class WLAN:
    def __init__(self, interface=STA_IF):
        pass

    def active(self, on=None):
        return True

    def isconnected(self):
        return hostboard.wifi_up()

    def connect(self, ssid, password):
        pass

    def status(self, what=None):
        return -55 if what == "rssi" else 1010
