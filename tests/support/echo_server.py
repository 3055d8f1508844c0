#!/usr/bin/env python3
"""TCP echo server for tcp-mode and CONNECT tests (library and CLI).

Every byte received is sent back.  When the peer half-closes (EOF), the server
finishes echoing and half-closes its side too, then closes.

CLI: python3 echo_server.py --port N
"""

import argparse
import json
import signal
import socket
import sys
import threading


class EchoServer:
    def __init__(self, host="127.0.0.1", port=0):
        self.host = host
        self.port = port
        self.connections = 0
        self.bytes_echoed = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._socks = set()
        self._lsock = None
        self._thread = None

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.listen(1024)
        s.settimeout(0.2)
        self._lsock = s
        self.port = s.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, name="echo-server", daemon=True)
        self._thread.start()
        return self.port

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        with self._lock:
            socks = list(self._socks)
        for c in socks:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass

    def stats(self):
        with self._lock:
            return {"connections": self.connections, "bytes": self.bytes_echoed}

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                c, _ = self._lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            c.settimeout(None)
            with self._lock:
                self.connections += 1
                self._socks.add(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()
        try:
            self._lsock.close()
        except OSError:
            pass

    def _serve(self, c):
        try:
            while True:
                data = c.recv(65536)
                if not data:
                    break
                c.sendall(data)
                with self._lock:
                    self.bytes_echoed += len(data)
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            with self._lock:
                self._socks.discard(c)
            try:
                c.close()
            except OSError:
                pass


def main(argv=None):
    ap = argparse.ArgumentParser(description="TCP echo server")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args(argv)
    srv = EchoServer(args.host, args.port)
    port = srv.start()
    print(json.dumps({"msg": "echo server listening", "address": "%s:%d" % (args.host, port)}), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.wait(0.5):
        pass
    srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
