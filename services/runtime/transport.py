"""kombu's in-memory transport, fixed for nameko (embedded mode).

Two differences from RabbitMQ matter to nameko, and this channel removes both:

- kombu's virtual transports keep a message's content type on the message, not in `message.properties`, where
  nameko's RPC responder looks for it (every call would fail with KeyError: 'content_type'). It is copied across.
- Prefetch is per channel here, but per consumer on RabbitMQ. nameko puts all of a container's consumers — RPC
  replies, RPC requests, event queues — on one channel with prefetch = max_workers, so ten pushed events waiting
  for a worker would hold back the RPC replies those very workers wait for: the container deadlocks (seen at 10
  concurrent HTTP requests). This channel does not limit prefetch; max_workers still bounds the work in flight.

Registered under the `memory` alias, so `memory://` means this transport everywhere in the process.
"""
from __future__ import annotations

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import memory


class Channel(memory.Channel):
    def message_to_python(self, raw_message):
        message = super().message_to_python(raw_message)
        message.properties.setdefault("content_type", message.content_type)
        return message

    def basic_qos(self, prefetch_size=0, prefetch_count=0, apply_global=False):
        self.qos.prefetch_count = 0   # no per-channel limit (see the module docstring)


class Transport(memory.Transport):
    Channel = Channel


def install() -> None:
    TRANSPORT_ALIASES["memory"] = "services.runtime.transport:Transport"
