"""The native local stack: Kafka (KRaft), PostgreSQL and MinIO, without Docker."""
