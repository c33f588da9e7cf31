"""Ingestion from outside the bus: ``arena watch DIR`` turns new image files into ImageEvents."""
