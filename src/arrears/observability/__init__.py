"""Watching the platform: health probes, Prometheus metrics, JSON-line logs, progress bars.

Below the engine and the services (they record into it), above the store (its collector reads
the database at scrape time). See docs/operations.md."""
