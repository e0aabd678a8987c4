"""Campaign Builder's local stack: embedded NATS JetStream, PostgreSQL with pgvector and an
SMTP sink, and the orchestrator behind `make up` and the end-to-end tests."""
