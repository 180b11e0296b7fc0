"""The notifications intake service: takes the event types listed in `services.contracts.topics`."""
