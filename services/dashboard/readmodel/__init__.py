"""The dashboard's read model: pure functions and values over the records it consumes."""
