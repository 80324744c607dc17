"""Mosquitto configuration for Makerwatch sites."""
