#!/usr/bin/python3
# Tests/Lab/guest/labhttp.py: the lab's tiny HTTP tools, for python3-minimal (no http.server,
# no urllib, no json in the guest image). Runs inside the guest.
#
#   labhttp.py serve FILE ADDR:PORT [ADDR:PORT...]
#       Webhook receiver: listens on every ADDR:PORT, answers each request 200 (HTTP/1.1,
#       keep-alive), and appends one line per POST to FILE: "<CLOCK_MONOTONIC seconds> <body>"
#       (the body with newlines turned into spaces), flushed at once. The time is taken when the
#       whole body has arrived. A connection that sends nothing (a TCP probe) is just closed, so
#       the same command stands in for SAN management hosts (FILE /dev/null). Stops on SIGTERM.
#   labhttp.py get URL
#       GET http://HOST:PORT/PATH; prints the body; exit 0 on 2xx, 1 otherwise (status on stderr).
import os
import selectors
import signal
import socket
import sys
import time


def serve(path, addresses):
    out = open(path, "ab", buffering=0)
    sel = selectors.DefaultSelector()
    for spec in addresses:
        host, port = spec.rsplit(":", 1)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, int(port)))
        listener.listen(64)
        listener.setblocking(False)
        sel.register(listener, selectors.EVENT_READ, None)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    buffers = {}
    while True:
        for key, _ in sel.select():
            if key.data is None:
                conn, _ = key.fileobj.accept()
                conn.setblocking(False)
                buffers[conn] = b""
                sel.register(conn, selectors.EVENT_READ, "conn")
                continue
            conn = key.fileobj
            try:
                chunk = conn.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                sel.unregister(conn)
                conn.close()
                buffers.pop(conn, None)
                continue
            buffers[conn] += chunk
            # every complete request in the buffer (keep-alive: several may come in a row)
            while True:
                data = buffers[conn]
                end = data.find(b"\r\n\r\n")
                if end < 0:
                    break
                head = data[:end].decode("latin-1").split("\r\n")
                length, close = 0, False
                for line in head[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                    if name.strip().lower() == "connection" and value.strip().lower() == "close":
                        close = True
                if len(data) < end + 4 + length:
                    break
                body = data[end + 4:end + 4 + length]
                buffers[conn] = data[end + 4 + length:]
                if head[0].startswith("POST "):
                    stamp = time.clock_gettime(time.CLOCK_MONOTONIC)
                    out.write(b"%.6f " % stamp + body.replace(b"\n", b" ") + b"\n")
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                if close:
                    conn.shutdown(socket.SHUT_WR)
                    break


def get(url):
    rest = url.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    conn = socket.create_connection((host, int(port or 80)), timeout=30)
    conn.sendall(("GET /%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, hostport)).encode())
    data = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    if any(l.lower().replace(" ", "") == "transfer-encoding:chunked" for l in lines[1:]):
        plain = b""
        while body:
            size_line, _, body = body.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            plain += body[:size]
            body = body[size + 2:]
        body = plain
    os.write(1, body)
    if not 200 <= status < 300:
        sys.stderr.write("labhttp: GET %s answered %s\n" % (url, lines[0]))
        sys.exit(1)


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 3 and sys.argv[1] == "get":
        get(sys.argv[2])
    else:
        sys.stderr.write("usage: labhttp.py serve FILE ADDR:PORT... | labhttp.py get URL\n")
        sys.exit(2)
