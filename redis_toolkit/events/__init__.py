"""Events: the transactional outbox, their stream encoding, handlers and workers, periodic tasks and status."""
