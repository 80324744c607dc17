"""Ingest service: MQTT -> decode and validate -> InfluxDB (docs/ingest.md)."""
