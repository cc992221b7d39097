"""The tracer's version, written into every trace file's process record."""

__version__ = "0.1.0"
