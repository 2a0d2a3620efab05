"""Events from ultralytics' multi-GPU (DDP) workers, relayed to the bridge's event channel.

With more than one GPU (device "0,1"), ultralytics does not train in the bridge's process: it
pickles the trainer's callbacks (cloudpickle) and starts `python -m torch.distributed.run` with one
worker per GPU; each worker unpickles the callbacks and trains. The bridge's callbacks therefore
run in a grandchild that cannot write to the bridge's private stdout (subprocess closes every fd
above 2). So the bridge serves a Unix socket (`EventRelay`), the callbacks travel with its address
(`RelayChannel`), and every line a worker sends is emitted on the real channel as it is, in order.

    bridge (launcher) --subprocess--> torch.distributed.run --> worker rank 0, 1, ...
       EventRelay  <------------- Unix socket ----------------  RelayChannel

The first `error` a worker relays is the training's error; later ones (other ranks going down
with it) are dropped, and the launcher's own failure (torchrun's non-zero exit) is not reported
on top of it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import tempfile
import threading
from typing import Any, Callable


class RelayedFailure(Exception):
    """A worker already reported the training's error through the relay; exit 1 without another."""


def encode_event(event: str, fields: dict[str, Any]) -> str:
    """One event line: pure ASCII JSON, NaN/inf as null."""
    from .bridge import json_safe

    return json.dumps(json_safe({"event": event, **fields}), allow_nan=False, ensure_ascii=True, separators=(",", ":"))


class RelayChannel:
    """A worker's side: `emit` as EventChannel does, to the launcher's relay. Connects on first use."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()

    def emit(self, event: str, **fields: Any) -> None:
        line = encode_event(event, fields) + "\n"
        with self._lock:
            if self._socket is None:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.address)
                self._socket = s
            self._socket.sendall(line.encode("ascii"))


class EventRelay:
    """The launcher's side: a Unix socket in a private directory; each connection's lines are
    emitted on `channel` (an EventChannel: `emit_line`) in the order they arrive."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        base = tempfile.gettempdir()
        if len(base) > 60:  # a socket path must fit in 108 bytes
            base = "/tmp"
        self.directory = tempfile.mkdtemp(prefix="guardianflow-relay-", dir=base)
        self.address = os.path.join(self.directory, "events.sock")
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.address)
        self._server.listen(16)
        self._lock = threading.Lock()
        self._readers: list[threading.Thread] = []
        self.relayed: list[str] = []  # event names, in order
        self.error_relayed = False
        self._closed = False
        self._acceptor = threading.Thread(target=self._accept, name="guardianflow-relay", daemon=True)
        self._acceptor.start()

    @property
    def finished_relayed(self) -> bool:
        return "finished" in self.relayed

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return  # closed
            reader = threading.Thread(target=self._read, args=(connection,), daemon=True)
            with self._lock:
                self._readers.append(reader)
            reader.start()

    def _read(self, connection: socket.socket) -> None:
        with connection, connection.makefile("r", encoding="ascii", newline="\n") as lines:
            for line in lines:
                line = line.rstrip("\n")
                try:
                    event = json.loads(line).get("event")
                except (ValueError, AttributeError):
                    continue  # not one of ours
                with self._lock:
                    if event == "error":
                        if self.error_relayed:
                            continue
                        self.error_relayed = True
                    self.relayed.append(str(event))
                    self.channel.emit_line(line)

    def close(self, timeout: float = 10.0) -> None:
        """Stops accepting; waits for the connections to be read to their end (the workers have
        exited, so each is at EOF)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._server.close()
        self._acceptor.join(timeout)
        with self._lock:
            readers = list(self._readers)
        for reader in readers:
            reader.join(timeout)
        shutil.rmtree(self.directory, ignore_errors=True)

    def run(self, launch: Callable[[], Any]) -> None:
        """Runs `launch` (ultralytics' train(), which starts the workers and waits for them).

        SIGTERM meanwhile is passed to the bridge's whole process group when the bridge leads it
        (as guardianflow starts it): torchrun and the workers stop with it, also when the kernel
        sends it because guardianflow died.

        Raises RelayedFailure when a worker reported an error, and a BridgeError when the workers
        ended without reporting the training's end."""
        from .bridge import BridgeError

        previous = None
        if os.getpgrp() == os.getpid():
            def forward(signum, frame):  # noqa: ARG001
                signal.signal(signum, signal.SIG_DFL)
                os.killpg(os.getpgrp(), signum)  # this process too: it dies by the signal, as without DDP

            previous = signal.signal(signal.SIGTERM, forward)
        try:
            try:
                launch()
            finally:
                self.close()
        except Exception as e:
            if self.error_relayed:
                raise RelayedFailure() from e
            raise
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        if self.error_relayed:
            raise RelayedFailure()
        if not self.finished_relayed:
            raise BridgeError(
                "other",
                "the multi-GPU (DDP) workers ended without reporting the end of the training; "
                "their output is in the training log",
            )


def device_count(device: Any) -> int:
    """How many devices an ultralytics device string names ("0,1" -> 2, "cuda:0,1" -> 2, "cpu" -> 0)."""
    if device is None:
        return 1
    text = str(device).strip().lower()
    if text in ("cpu", "mps", ""):
        return 0 if text else 1
    text = text.split(":", 1)[-1]
    return len([part for part in text.split(",") if part.strip()])
