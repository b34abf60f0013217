# SPDX-License-Identifier: MIT
# Helpers of xdp-mp.sh.
#   server PORT LOG          echo server (threads), logs "conn" per accept
#   server6 PORT LOG         the same on [::] (IPv6)
#   clients HOST PORT N BYTES [TIMEOUT_S]
#                            N connections at once, each sends BYTES random
#                            bytes and checks the echo; prints "ok I" per good
#                            one (socket timeout TIMEOUT_S, default 20)
#   userver PORT             UDP echo server (one socket)
#   uclients HOST PORT N     N connected UDP sockets, 8 datagrams of 1000 B each
#                            in turn, each echo checked (resent up to 5
#                            times, 0.5 s apart); prints "ok I" per good one
#   slow HOST PORT           one connection that echoes forever (until killed
#                            or the server goes): exits 0 on a reset/EOF
import os, signal, socket, socketserver, sys, threading, time

def server(port, log, family=socket.AF_INET):
    class H(socketserver.BaseRequestHandler):
        def handle(self):
            with open(log, 'a') as f:
                f.write('conn\n')
            while True:
                b = self.request.recv(65536)
                if not b:
                    break
                self.request.sendall(b)
    class S(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True
        request_queue_size = 64  # connections the clients open at once
        address_family = family
    s = S(('::' if family == socket.AF_INET6 else '0.0.0.0', port), H)
    # SIGTERM: a clean exit, so the preload's exit handlers (DEMI_STATS) run
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=s.shutdown).start())
    s.serve_forever(poll_interval=0.1)
    s.server_close()

def one(host, port, nbytes, i, res, timeout):
    try:
        data = os.urandom(nbytes)
        s = socket.create_connection((host, port), timeout=timeout)
        t = threading.Thread(target=lambda: s.sendall(data))
        t.start()
        got = bytearray()
        while len(got) < len(data):
            b = s.recv(65536)
            if not b:
                break
            got += b
        t.join()
        s.close()
        res[i] = got == data
    except Exception as e:
        print('client', i, 'failed:', e, file=sys.stderr)
        res[i] = False

def clients(host, port, n, nbytes, timeout=20.0):
    res = {}
    ts = [threading.Thread(target=one, args=(host, port, nbytes, i, res, timeout)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for i in range(n):
        if res.get(i):
            print('ok', i)
    return 0 if len(res) == n and all(res.values()) else 1

def userver(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', port))
    while True:
        b, a = s.recvfrom(65536)
        s.sendto(b, a)

def uclients(host, port, n):
    good = 0
    socks = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect((host, port))
        s.settimeout(0.5)
        socks.append(s)
    for i, s in enumerate(socks):
        ok = True
        for k in range(8):
            data = os.urandom(1000)
            for _ in range(5):
                try:
                    s.send(data)
                    if s.recv(65536) == data:
                        break
                except OSError as e:
                    print('uclient', i, 'datagram', k, e, file=sys.stderr)
            else:
                ok = False
                break
        if ok:
            print('ok', i)
            good += 1
    return 0 if good == n else 1

def slow(host, port):
    s = socket.create_connection((host, port), timeout=10)
    print('connected', flush=True)
    try:
        while True:
            s.sendall(b'x' * 1000)
            if not s.recv(65536):
                return 0
            time.sleep(0.01)
    except OSError:
        return 0

if __name__ == '__main__':
    a = sys.argv
    if a[1] == 'server':
        server(int(a[2]), a[3])
    elif a[1] == 'server6':
        server(int(a[2]), a[3], socket.AF_INET6)
    elif a[1] == 'clients':
        sys.exit(clients(a[2], int(a[3]), int(a[4]), int(a[5]), float(a[6]) if len(a) > 6 else 20.0))
    elif a[1] == 'userver':
        userver(int(a[2]))
    elif a[1] == 'uclients':
        sys.exit(uclients(a[2], int(a[3]), int(a[4])))
    elif a[1] == 'slow':
        sys.exit(slow(a[2], int(a[3])))
