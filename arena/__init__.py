"""Arena: continuous online learning on Kafka image streams."""

__version__ = "0.1.0"
