# SPDX-License-Identifier: MIT
# A listening socket handed to a new program across exec (as systemd socket
# activation or nginx's binary upgrade do): the new program accepts on it
# and answers in upper case. Run with the preload, the exec'd program must
# adopt the inherited listener (see inherit.sh).
import os
import socket
import sys
import time

if len(sys.argv) > 1:
    l = socket.socket(fileno=int(sys.argv[1]))
    c, _ = l.accept()
    c.sendall(c.recv(100).upper())
    c.close()
    sys.exit(0)

l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(8)
port = l.getsockname()[1]
if os.environ.get("INHERIT_USED"):
    # serve one connection first: under the preload the listener is then
    # the datapath's, and its kernel socket must listen again for the exec
    l.settimeout(10)
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    a, _ = l.accept()
    c.sendall(b"first")
    print(a.recv(100).decode())
    a.close()
    c.close()
    l.settimeout(None)
l.set_inheritable(True)
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, sys.argv[0], str(l.fileno())])
l.close()
time.sleep(0.5)  # let the new program hand the listener over first
c = socket.create_connection(("127.0.0.1", port), timeout=10)
c.sendall(b"inherited")
print(c.recv(100).decode())
_, st = os.waitpid(pid, 0)
print("child exit", os.waitstatus_to_exitcode(st))
