# Runs at every boot (MicroPython executes /main.py after /boot.py).
from firmware.runtime import run

run()
