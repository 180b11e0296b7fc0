"""The incidents intake service: takes the event types listed in `services.contracts.topics`."""
