"""Operations: the metrics a running bot exports, its health check, and the HTTP endpoint serving both
(`ops.port`). Only `bot run` loads this package; the core reports through `bot.core.meter.Meter`."""
