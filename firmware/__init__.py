# Makerwatch board firmware. On the board this folder is /firmware; core/ is
# pure logic (also imported by CPython and the simulator), drivers/ are thin
# hardware adapters, runtime.py wires them, /main.py starts it.
