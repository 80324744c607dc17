"""Maintenance by use: the record of tasks done (store.py) and the counting of use since
(tracker.py), told to the alert engine as `maintenance` points (core/maintenance.py)."""
