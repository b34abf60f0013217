#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# nginx_peers.py DIR: the kernel-side peers of app-nginx-features.sh, in one
# process that is never preloaded:
#   - an HTTP upstream on 127.0.0.1 that answers every GET with the source
#     address its connection came from (what nginx's proxy_bind chose);
#   - a syslog receiver on UDP 127.0.0.1 that appends every datagram, one
#     line each, to DIR/syslog.txt.
# Both bind port 0; "HTTP_PORT UDP_PORT" is written to DIR/ports once both
# listen. It runs until killed.
import http.server
import os
import socket
import sys
import threading

d = sys.argv[1]


class Peer(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = (self.client_address[0] + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # nginx's workers connect many at once


httpd = Server(("127.0.0.1", 0), Peer)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)  # no drop in a burst
udp.bind(("127.0.0.1", 0))
tmp = os.path.join(d, "ports.tmp")
with open(tmp, "w") as f:
    f.write("%d %d\n" % (httpd.server_address[1], udp.getsockname()[1]))
os.rename(tmp, os.path.join(d, "ports"))
threading.Thread(target=httpd.serve_forever, daemon=True).start()
with open(os.path.join(d, "syslog.txt"), "ab", buffering=0) as log:
    while True:
        data = udp.recv(65536)
        log.write(data.replace(b"\n", b" ") + b"\n")
