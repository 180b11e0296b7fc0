"""What every intake service shares: the CloudEvents HTTP binding, agency authentication and roles,
idempotent publishing to Kafka. Each service (`services.incidents`, ...) is this, configured with
the event types it owns."""
