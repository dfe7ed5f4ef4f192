"""Publishing a relay's batch of events with one publisher confirm for the batch, not one per event.

nameko's Publisher waits for the broker's confirm after every message (py-amqp's basic_publish_confirm), so a relay
publishing six events paid six round trips to RabbitMQ. Here the channel is put in confirm mode once, every message
of the batch is published, and then the broker's acks are awaited until they cover the last delivery tag (RabbitMQ
acks several at once with `multiple`). A nack, a timeout or a lost connection raises: the relay does not advance its
published position, and republishes the batch (at least once, order unchanged; consumers dedupe by position).

The messages are what nameko's event dispatcher sends — JSON, persistent, routing key = event type, the
`nameko.correlation_id` header — so nameko consumers and SIEM subscribers see no difference. The in-memory transport
of embedded mode has no confirms; there a batch is simply published.
"""
from __future__ import annotations

import structlog
from amqp import spec
from kombu import Connection, Exchange, Producer

log = structlog.get_logger(__name__)

CONFIRM_TIMEOUT = 10.0


class BatchPublisher:
    def __init__(self, amqp_uri: str, exchange: Exchange, transport_options: dict | None = None):
        self.amqp_uri = amqp_uri
        self.exchange = exchange
        self.transport_options = transport_options or {}
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        self._confirms = False
        self._published = 0      # delivery tags used on this channel
        self._unconfirmed: set[int] = set()
        self._nacked = False

    def publish_batch(self, messages: list[tuple[dict, str]]) -> None:
        """Publish (envelope message, routing key) pairs in order; return once the broker confirmed all."""
        if not messages:
            return
        try:
            producer = self._ready()
            for message, routing_key in messages:
                producer.publish(message, routing_key=routing_key, serializer="json", delivery_mode=2,
                                 headers={"nameko.correlation_id": message.get("correlation_id") or ""})
                if self._confirms:
                    self._published += 1
                    self._unconfirmed.add(self._published)
            if self._confirms:
                self._await_confirms()
        except Exception:
            self.close()            # the next batch starts on a fresh connection and channel
            raise

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:  # noqa: BLE001 — closing a connection that is already gone
                pass
        self._connection = self._producer = None
        self._published = 0
        self._unconfirmed = set()
        self._nacked = False

    # ---- internals -----------------------------------------------------------------------------------------
    def _ready(self) -> Producer:
        if self._producer is not None:
            return self._producer
        connection = Connection(self.amqp_uri, transport_options=self.transport_options)
        channel = connection.channel()
        self._confirms = hasattr(channel, "confirm_select") and connection.transport.driver_type == "amqp"
        if self._confirms:
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            channel.confirm_select()
        producer = Producer(channel, exchange=self.exchange)
        self.exchange(channel).declare()
        self._connection, self._producer = connection, producer
        return producer

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        if multiple:
            self._unconfirmed = {tag for tag in self._unconfirmed if tag > delivery_tag}
        else:
            self._unconfirmed.discard(delivery_tag)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._nacked = True

    def _await_confirms(self) -> None:
        channel = self._producer.channel
        while self._unconfirmed and not self._nacked:
            channel.wait([spec.Basic.Ack, spec.Basic.Nack], timeout=CONFIRM_TIMEOUT)
        if self._nacked:
            raise RuntimeError("the broker refused (nacked) a published event")
