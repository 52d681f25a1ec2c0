"""Receive syslog on a loopback port, UDP and TCP, as lines for the syslog (sshd) reader.

Binds 127.0.0.1 only: a local rsyslog or syslog-ng forwards to it (``*.* @127.0.0.1:5514`` for UDP,
``@@`` for TCP); nothing from another host can reach it. UDP: one message per datagram (RFC 5426).
TCP: octet-counted frames (``LEN SP MSG``, RFC 6587 §3.4.1) or newline-delimited ones (§3.4.2),
told apart by the first byte of each frame, as rsyslog does.

Messages wait in memory until the next tick commits them with the events they made; that buffer is
bounded (``max_pending``) and what is dropped beyond it is counted, never silent. Syslog has no
acknowledgement, so a message received but not yet committed when the process is killed is lost:
for crash safety, let the local daemon write a file and follow that file instead.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading

#: Longest message kept from one frame; longer ones are cut (syslog senders cut at 8 KiB or 64 KiB).
MAX_MESSAGE = 64 << 10


class SyslogReceiver:
    """UDP and TCP listeners on ``127.0.0.1:port`` (0 picks a free port, the same for both)."""

    def __init__(self, port: int, max_pending: int = 200_000) -> None:
        self.max_pending = max_pending
        self.dropped = 0
        self.received = 0
        self._pending: list[bytes] = []
        self._lock = threading.Lock()
        self._sel = selectors.DefaultSelector()
        self._buffers: dict[socket.socket, bytearray] = {}
        self.udp, self.tcp = self._bind(port)
        self.port = self.udp.getsockname()[1]
        self._sel.register(self.udp, selectors.EVENT_READ, "udp")
        self._sel.register(self.tcp, selectors.EVENT_READ, "listen")
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @staticmethod
    def _bind(port: int) -> tuple[socket.socket, socket.socket]:
        for _ in range(20):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                udp.bind(("127.0.0.1", port))
                tcp.bind(("127.0.0.1", port or udp.getsockname()[1]))
                tcp.listen(16)
            except OSError:
                udp.close()
                tcp.close()
                if port:
                    raise
                continue  # the free UDP port was taken for TCP: try another
            udp.setblocking(False)
            tcp.setblocking(False)
            with contextlib.suppress(OSError):
                udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            return udp, tcp
        raise OSError("no free loopback port for both UDP and TCP")

    # --- receiving ----------------------------------------------------------------------------

    def pump(self, timeout: float = 0.0) -> None:
        """Take everything the sockets have now (waiting at most ``timeout`` for the first)."""
        for key, _ in self._sel.select(timeout):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if key.data == "udp":
                self._read_udp(sock)
            elif key.data == "listen":
                self._accept(sock)
            else:
                self._read_tcp(sock)

    def _read_udp(self, sock: socket.socket) -> None:
        for _ in range(10_000):
            try:
                data = sock.recv(MAX_MESSAGE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self._add([data])

    def _accept(self, sock: socket.socket) -> None:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        conn.setblocking(False)
        self._buffers[conn] = bytearray()
        self._sel.register(conn, selectors.EVENT_READ, "tcp")

    def _read_tcp(self, conn: socket.socket) -> None:
        buf = self._buffers[conn]
        try:
            data = conn.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            if buf.strip():
                self._add([bytes(buf)])  # the last frame, ended by the close
            self._sel.unregister(conn)
            del self._buffers[conn]
            conn.close()
            return
        buf += data
        self._add(_frames(buf))
        if len(buf) > MAX_MESSAGE + 16:  # a frame with no end: keep its start, drop the rest
            self._add([bytes(buf[:MAX_MESSAGE])])
            buf.clear()

    def _add(self, messages: list[bytes]) -> None:
        if not messages:
            return
        with self._lock:
            room = self.max_pending - len(self._pending)
            keep = messages[: max(room, 0)]
            self.dropped += len(messages) - len(keep)
            self.received += len(keep)
            self._pending.extend(keep)

    def take(self) -> tuple[bytes, int]:
        """Every message received since the last call, one per line; and how many were dropped."""
        if self._thread is None:
            self.pump(0.0)
        with self._lock:
            msgs, self._pending = self._pending, []
            dropped, self.dropped = self.dropped, 0
        lines = [_one_line(m) for m in msgs]
        return b"".join(m + b"\n" for m in lines if m), dropped

    # --- lifetime -----------------------------------------------------------------------------

    def start(self) -> None:
        """Keep the sockets drained from a background thread (between the watcher's ticks)."""
        self._thread = threading.Thread(target=self._loop, name="shoreup-syslog", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.pump(0.2)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None
        for conn in list(self._buffers):
            conn.close()
        self._buffers.clear()
        self.udp.close()
        self.tcp.close()
        self._sel.close()


def _frames(buf: bytearray) -> list[bytes]:
    """Cut the complete frames off the front of ``buf`` (octet-counted or newline-delimited)."""
    out: list[bytes] = []
    while buf:
        if buf[:1].isdigit():
            sp = buf.find(b" ", 0, 12)
            if sp > 0 and buf[:sp].isdigit():
                n = int(buf[:sp])
                if len(buf) < sp + 1 + n:
                    break
                out.append(bytes(buf[sp + 1 : sp + 1 + n]))
                del buf[: sp + 1 + n]
                continue
        nl = buf.find(b"\n")
        if nl < 0:
            break
        out.append(bytes(buf[:nl]))
        del buf[: nl + 1]
    return out


def _one_line(message: bytes) -> bytes:
    """A message as one line: trailing newlines and NULs dropped, inner line breaks made spaces."""
    m = message[:MAX_MESSAGE].rstrip(b"\r\n\x00")
    if b"\n" in m or b"\r" in m:
        m = m.replace(b"\r\n", b" ").replace(b"\n", b" ").replace(b"\r", b" ")
    return m
