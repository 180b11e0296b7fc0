"""The stream processor (issue 3): the rules of `services.followthrough` applied to the source topics
as they grow, published to `group-state` and `alerts`. `python -m services.sanctions.processor`."""
