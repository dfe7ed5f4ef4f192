"""kombu's in-memory transport, fixed for nameko RPC (embedded mode).

kombu's virtual transports keep a message's content type on the message, not in `message.properties`, where
nameko's RPC responder looks for it (it answers every call with KeyError: 'content_type' otherwise). This channel
copies it across. Registered under the `memory` alias, so `memory://` means this transport everywhere in the
process.
"""
from __future__ import annotations

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import memory


class Channel(memory.Channel):
    def message_to_python(self, raw_message):
        message = super().message_to_python(raw_message)
        message.properties.setdefault("content_type", message.content_type)
        return message


class Transport(memory.Transport):
    Channel = Channel


def install() -> None:
    TRANSPORT_ALIASES["memory"] = "services.runtime.transport:Transport"
