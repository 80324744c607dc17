# Pure logic: never imports machine, network or socket (docs/firmware.md).
