class SensorFault(Exception):
    """A sensor gave no trustworthy value; never replaced by a plausible number."""

    def __init__(self, sensor, reason):
        super().__init__(sensor + ": " + reason)
        self.sensor = sensor
        self.reason = reason
