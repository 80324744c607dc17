# Runs at every boot (MicroPython executes /main.py after /boot.py): chooses the version
# to run (the deployed one, or one received from the server, rolled back if it failed
# its trial: firmware/core/update.py), then starts it.
from firmware.core.update import enter_slot

enter_slot()

from firmware.runtime import run  # noqa: E402  (after the slot is chosen)

run()
