"""The floor under every Certplane RPC: what one nameko RPC costs in CPU over a given RabbitMQ, with no work at
either end. bench/issue.py runs it on its own vhost after its rounds, to show how much of the issuance path's CPU
the architecture (nameko services talking over RabbitMQ, DESIGN §2) spends before any Certplane code runs.

    .venv/bin/python bench/rpc_floor.py --amqp-uri amqp://guest:guest@127.0.0.1:5672/%2F [--calls 2000]
                                        [--concurrency 16] [--payload 2000]

Two processes, like two Certplane services: `callee` runs a nameko service with one `@rpc echo(payload)` that
returns its argument; `caller` runs a nameko service whose `@rpc drive(calls, concurrency, size)` makes `calls`
echo calls through a nameko `RpcProxy` (as enrollment calls ca), `concurrency` at a time, with a payload of `size`
characters (an SSL request's CSR and answer are about that size). A standalone proxy in this process starts
`drive` once for warm-up and once measured. Measured: the CPU time (utime + stime, /proc/<pid>/stat) of the two
service processes and of RabbitMQ's `beam.smp` during the measured `drive`, per call. Both services use nameko's
defaults as Certplane does (publisher confirms on, JSON).

Then the floor under one relayed event: `caller`'s `publish(n, size)` publishes `n` persistent messages of the same
size, one at a time with confirms, to a topic exchange with one durable queue bound (as a service's relay publishes
to `<service>.events` with followers' durable queues bound); measured: the caller's and RabbitMQ's CPU per message
(no consumer: a follower's side of each event is not in it). Prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")

_SERVICES = r'''
import eventlet
eventlet.monkey_patch()
import sys, warnings
warnings.filterwarnings("ignore")
from eventlet import GreenPool
from nameko.rpc import RpcProxy, rpc
from nameko.runners import ServiceRunner


class Callee:
    name = "rpc_floor_callee"

    @rpc
    def echo(self, payload):
        return payload


class Caller:
    name = "rpc_floor_caller"
    callee = RpcProxy("rpc_floor_callee")

    @rpc
    def drive(self, calls, concurrency, size):
        payload = "x" * size
        pool = GreenPool(concurrency)
        answers = list(pool.imap(lambda _i: self.callee.echo(payload), range(calls)))
        return sum(1 for a in answers if a == payload)

    @rpc
    def publish(self, messages, size):
        """What a relay does per event: publish to a topic exchange with confirms, into a durable queue."""
        from kombu import Exchange, Queue
        from nameko.amqp.publish import Publisher, get_connection
        exchange = Exchange("rpc_floor.events", type="topic", durable=True)
        queue = Queue("rpc_floor-events", exchange=exchange, routing_key="#", durable=True)
        with get_connection(sys.argv[2]) as conn:
            queue(conn.channel()).declare()
        publisher = Publisher(sys.argv[2], use_confirms=True, serializer="json", declare=[exchange])
        message = {"payload": "x" * size}
        for _ in range(messages):
            publisher.publish(message, exchange=exchange, routing_key="floor_event.v1", delivery_mode=2)
        with get_connection(sys.argv[2]) as conn:
            channel = conn.channel()
            depth = channel.queue_declare("rpc_floor-events", passive=True).message_count
            channel.queue_delete("rpc_floor-events")
            channel.exchange_delete("rpc_floor.events")
        return depth


runner = ServiceRunner({"AMQP_URI": sys.argv[2]})
runner.add_service({"callee": Callee, "caller": Caller}[sys.argv[1]])
runner.start()
print("started", flush=True)
runner.wait()
'''


def proc_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def broker_cpu() -> float:
    pids = subprocess.run(["pgrep", "-f", "beam.smp"], capture_output=True, text=True).stdout.split()
    total = 0.0
    for pid in pids:
        try:
            total += proc_cpu(int(pid))
        except FileNotFoundError:
            pass
    return total


def measure(amqp_uri: str, calls: int = 2000, concurrency: int = 16, payload: int = 2000) -> dict:
    from nameko.standalone.rpc import ClusterRpcProxy

    procs = {role: subprocess.Popen([sys.executable, "-c", _SERVICES, role, amqp_uri], stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True)
             for role in ("callee", "caller")}
    try:
        for proc in procs.values():
            if proc.stdout.readline().strip() != "started":
                raise RuntimeError("an rpc_floor service did not start")
        with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=300) as cluster:
            cluster.rpc_floor_caller.drive(min(calls, 200), concurrency, payload)        # warm-up
            before = {role: proc_cpu(p.pid) for role, p in procs.items()}
            broker_before, started = broker_cpu(), time.perf_counter()
            answered = cluster.rpc_floor_caller.drive(calls, concurrency, payload)
            wall = time.perf_counter() - started
            after = {role: proc_cpu(p.pid) for role, p in procs.items()}
            broker = broker_cpu() - broker_before
            cluster.rpc_floor_caller.publish(min(calls, 200), payload)                 # warm-up
            publisher_before, broker_before = proc_cpu(procs["caller"].pid), broker_cpu()
            queued = cluster.rpc_floor_caller.publish(calls, payload)
            publish_ms = {"publisher": (proc_cpu(procs["caller"].pid) - publisher_before) * 1000 / calls,
                          "broker": (broker_cpu() - broker_before) * 1000 / calls}
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    per_call = {role: (after[role] - before[role]) * 1000 / calls for role in procs}
    per_call["broker"] = broker * 1000 / calls
    return {"calls": calls, "answered": answered, "concurrency": concurrency, "payload": payload,
            "calls_per_s": calls / wall, "ms_per_call": {k: round(v, 3) for k, v in per_call.items()},
            "total_ms_per_call": round(sum(per_call.values()), 3),
            "events_queued": queued, "ms_per_event": {k: round(v, 3) for k, v in publish_ms.items()},
            "total_ms_per_event": round(sum(publish_ms.values()), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--amqp-uri", default=os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"))
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--payload", type=int, default=2000)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.amqp_uri, args.calls, args.concurrency, args.payload)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
