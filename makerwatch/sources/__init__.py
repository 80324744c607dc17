"""Sources of readings: how each family of topics becomes readings, states and
statuses, and how its relay is switched. The table is `table.py` (our board's protocol
first, then one module a plug firmware); `router.py` applies it to a site's devices
for ingest; `commands.py` sends a relay command the way the device's source takes it.
"""
