"""Infrastructure set-up that every environment runs before the services (Kafka topics), and the few
edges every service shares: Kafka connection settings, who may read /metrics and the API docs, the
HTTP request metrics and their ASGI middleware, spreadsheet-safe CSV cells.

Kept apart from the services so that a one-shot job (`python -m services.infra.topics`) can prepare a
cluster without importing any service's code.
"""
