"""Simulated boards: the firmware's own core driven by simulated machines (docs/simulator.md)."""
