"""GET /metrics in Prometheus' text format (prometheus-client): requests by endpoint and status, generated tokens,
queue depth, the decoding batch size, request latency. One registry per server (tests run several in a process)."""

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class ServerMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, batcher):
        self.registry = CollectorRegistry()
        self.requests = Counter("prefix_requests", "Requests answered, by endpoint and HTTP status",
                                ["endpoint", "status"], registry=self.registry)  # fmt: skip
        self.tokens = Counter("prefix_generated_tokens", "Completion tokens returned", registry=self.registry)
        self.latency = Histogram("prefix_request_latency_seconds", "Time from a completion's arrival to its answer",
                                 buckets=LATENCY_BUCKETS, registry=self.registry)  # fmt: skip
        queue = Gauge("prefix_queue_depth", "Rows waiting for the worker", registry=self.registry)
        queue.set_function(lambda: batcher.snapshot()["queued"])
        running = Gauge("prefix_batch_rows", "Rows decoding in the current batch", registry=self.registry)
        running.set_function(lambda: batcher.snapshot()["running"])
        largest = Gauge("prefix_largest_batch", "The largest batch decoded so far", registry=self.registry)
        largest.set_function(lambda: batcher.snapshot()["largest_batch"])

    def text(self) -> bytes:
        return generate_latest(self.registry)
