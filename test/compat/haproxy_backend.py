# SPDX-License-Identifier: MIT
# haproxy_backend.py ADDR HTTP_PORT ECHO_PORT DIR NAME: the servers behind
# app_haproxy.sh's proxy, on kernel sockets: HTTP/1.1 keep-alive (GET of a
# file in DIR, or of anything else: NAME; POST: the body's sha256) and a
# TCP echo. Threads, one per connection.
import hashlib, http.server, os, socket, socketserver, sys, threading

addr, hport, eport, root, name = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes

    def log_message(self, *a):
        pass

    def answer(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = os.path.join(root, os.path.basename(self.path))
        if self.path != "/" and os.path.isfile(path):
            with open(path, "rb") as f:
                return self.answer(f.read())
        self.answer(name.encode() + b"\n")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        h = hashlib.sha256()
        while n:
            b = self.rfile.read(min(n, 1 << 16))
            if not b:
                break
            h.update(b)
            n -= len(b)
        self.answer(h.hexdigest().encode())


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            b = self.request.recv(1 << 16)
            if not b:
                break
            self.request.sendall(b)


class TS(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128


class HS(http.server.ThreadingHTTPServer):
    request_queue_size = 128


hs, es = HS((addr, hport), H), TS((addr, eport), Echo)
threading.Thread(target=es.serve_forever, daemon=True).start()
print("backend %s up" % name, flush=True)
hs.serve_forever()
