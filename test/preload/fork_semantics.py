# SPDX-License-Identifier: MIT
# What a forked child sees of a TCP connection it inherited, and what its
# close and shutdown do while another process still holds it: a reset
# (RST) from the peer, a close that only drops a reference, a shutdown
# that sends the FIN at once; a grandchild (and a great-grandchild) that
# serves a connection its parents never used. One scenario per
# connection, in order; both ends write one transcript line per scenario
# (errno names, bytes), which relay-semantics-dpdk.sh compares between
# the kernel and the preload.
#   fork_semantics.py server PORTFILE OUT [ADDR]   serve every scenario, exit
#   fork_semantics.py client PORT OUT [ADDR]       run every scenario
import errno
import os
import select
import socket
import struct
import sys
import time

SCENARIOS = ["reset_recv", "reset_data", "reset_send", "reset_soerror", "close_shared", "close_two",
             "shutdown_shared", "shutdown_close", "shutdown_unread", "exec_close", "exec_shutdown", "grandchild", "great_grandchild"]

# exec_*: the child execs a program without the preload on the connection's
# fd, which writes, then shuts down or only closes (exits) half a second
# later, while the parent still holds the connection
EXEC = """import socket, sys, time
s = socket.socket(fileno=int(sys.argv[1]))
s.sendall(b"exec\\n")
if sys.argv[2] == "exec_shutdown":
    s.shutdown(socket.SHUT_WR)
time.sleep(0.5)
"""


def out(path, line):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, (line + "\n").encode())
    os.close(fd)


def attempt(f):
    """What a call gave: its bytes, or the errno's name."""
    try:
        r = f()
        return repr(r) if r is not None else "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def readable(c):
    r, _, _ = select.select([c], [], [], 10)
    return "readable" if r else "timeout"


def child(name, c, res):
    """The child's side of one scenario; returns its transcript line."""
    if name.startswith("reset_"):
        c.sendall(b"ready\n")
        if name == "reset_recv":
            return [attempt(lambda: c.recv(100)), attempt(lambda: c.recv(100)), attempt(lambda: c.send(b"y"))]
        if name == "reset_data":
            time.sleep(0.5)  # the bytes, then the reset, have arrived
            return [attempt(lambda: c.recv(100)), attempt(lambda: c.recv(100)), attempt(lambda: c.recv(100))]
        if name == "reset_send":
            return [readable(c), attempt(lambda: c.send(b"y")), attempt(lambda: c.send(b"y")),
                    attempt(lambda: c.recv(100))]
        if name == "reset_soerror":
            return [readable(c), errno.errorcode.get(c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), "0"),
                    attempt(lambda: c.recv(100))]
    if name in ("close_shared", "close_two"):
        c.sendall(b"child\n")
        c.close()  # the parent (or a sibling) still holds it: no FIN
        return ["closed"]
    if name.startswith("exec_"):
        os.set_inheritable(c.fileno(), True)
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        os.execve(sys.executable, [sys.executable, "-c", EXEC, str(c.fileno()), name], env)
    if name == "shutdown_unread":
        readable(c)  # bytes it never reads: its close resets its end of a relay
        name = "shutdown_close"
    if name == "shutdown_close":
        c.sendall(b"child\n")
        c.shutdown(socket.SHUT_WR)  # the FIN, although the close follows at once
        c.close()
        return ["closed"]
    if name == "shutdown_shared":
        c.sendall(b"child\n")
        c.shutdown(socket.SHUT_WR)  # the FIN now, whoever else holds it
        got = b""
        while True:
            d = c.recv(100)
            if not d:
                break
            got += d
        c.close()
        return [repr(got)]
    return ["?"]


def fork_child(name, c, res):
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            out(res, "server %s child: %s" % (name, " ".join(child(name, c, res))))
        except Exception as e:  # noqa: BLE001 (reported in the transcript)
            out(res, "server %s child: %r" % (name, e))
            code = 1
        os._exit(code)
    return pid


def descend(name, c, res, depth):
    """Forks depth processes deep, each closing its copy of c and waiting
    for its child: the last one serves c (one line)."""
    pid = os.fork()
    if pid == 0:
        if depth > 1:
            descend(name, c, res, depth - 1)
            os._exit(0)
        got = b""
        try:
            while not got.endswith(b"\n"):
                d = c.recv(100)
                if not d:
                    break
                got += d
            line = "%r %s" % (got, attempt(lambda: c.sendall(b"%s got %s" % (name.encode(), got))))
        except OSError as e:
            line = errno.errorcode.get(e.errno, str(e.errno))
        c.close()
        out(res, "server %s: %s" % (name, line))
        os._exit(0)
    c.close()
    os.waitpid(pid, 0)


def serve(name, c, res):
    if name.endswith("grandchild"):
        # the child forks again before it uses the connection, and closes
        # its copy: the grandchild (or its child) serves it
        descend(name, c, res, 3 if name == "great_grandchild" else 2)
        return
    if name == "close_two":
        # two children hold it, the parent closes its copy: the first
        # child's close leaves it to the second, whose close sends the FIN
        a = fork_child(name, c, res)
        os.waitpid(a, 0)
        pid = os.fork()
        if pid == 0:
            c.sendall(b"second\n")
            c.close()
            out(res, "server close_two second: closed")
            os._exit(0)
        c.close()
        os.waitpid(pid, 0)
        return
    pid = fork_child(name, c, res)
    if name.startswith("reset_"):
        c.close()  # fork per connection: the child's alone
        os.waitpid(pid, 0)
        return
    # the parent keeps its copy while the child closes or shuts it down
    os.waitpid(pid, 0)
    time.sleep(0.2)
    out(res, "server %s parent: send %s" % (name, attempt(lambda: c.send(b"parent\n"))))
    c.close()


def server(portfile, res, addr):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, 0))
    ls.listen(4)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    for name in SCENARIOS:
        c, _ = ls.accept()
        serve(name, c, res)
    ls.close()


def read_to_eof(k):
    """The bytes up to EOF, then "then EOF" or the errno's name."""
    got = b""
    while True:
        try:
            d = k.recv(100)
        except OSError as e:
            return "%r then %s" % (got, errno.errorcode.get(e.errno, str(e.errno)))
        if not d:
            return "%r then EOF" % got
        got += d


def client(port, res, addr):
    for name in SCENARIOS:
        k = socket.create_connection((addr, port), timeout=10)
        if name.startswith("reset_"):
            got = b""
            while not got.endswith(b"\n"):
                got += k.recv(100)
            if name == "reset_data":
                k.sendall(b"tail")
            k.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            k.close()  # RST
            out(res, "client %s: reset sent after %r" % (name, got))
        elif name == "shutdown_unread":
            k.sendall(b"unread\n")
            out(res, "client %s: %s" % (name, read_to_eof(k)))
            k.close()
        elif name.endswith("grandchild"):
            k.sendall(b"ping\n")
            out(res, "client %s: %s" % (name, read_to_eof(k)))
            k.close()
        elif name == "shutdown_shared":
            got = read_to_eof(k)  # the child's FIN, before it exits
            k.sendall(b"bye\n")
            out(res, "client %s: %s" % (name, got))
            k.close()
        else:
            out(res, "client %s: %s" % (name, read_to_eof(k)))
            k.close()
        time.sleep(0.1)


addr = sys.argv[4] if len(sys.argv) > 4 else "127.0.0.1"
if sys.argv[1] == "server":
    server(sys.argv[2], sys.argv[3], addr)
else:
    client(int(sys.argv[2]), sys.argv[3], addr)
