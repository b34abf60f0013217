/* SPDX-License-Identifier: MIT */
/*
 * Every DEMI_* variable, once: the parser (core/config.c), the lookups
 * (dm_cfg_int(cfg, DM_CFG_SPIN_US, ...): a misspelt name does not compile),
 * docs/configuration.md (generated from this list by core/config_doc.c) and
 * the test that finds a DEMI_* name in the sources missing here all read it.
 *
 * X(ID, TYPE, DEFAULT, MIN, MAX, CHOICES, AUTO, OWNER, DOC)
 *   ID       the name without DEMI_; DM_CFG_<ID> is its key
 *   TYPE     INT, SIZE (k/m/g suffixes), US/MS/S (a duration in that
 *            unit), BOOL, ENUM (one of CHOICES, "a|b|c") or STR (free
 *            text its owner parses, reporting errors with dm_cfg_bad)
 *   DEFAULT  the value when unset, as a user would write it; NULL: unset
 *            (the owner decides), "auto": the AUTO rule applies
 *   MIN/MAX  the accepted range of INT, SIZE and durations
 *   AUTO     NULL: "auto" is not a value; else what "auto" means (the
 *            owner computes it: the getter answers DM_CFG_AUTO)
 *   OWNER    the module that reads it; the doc groups by it
 *   DOC      one line for docs/configuration.md (Markdown)
 *
 * Adding a variable: a line here, then `ninja -C build config-doc`.
 */
#ifndef DM_CONFIG_VARS_H
#define DM_CONFIG_VARS_H

#define DM_CFG_VARS(X)                                                                                              \
    /* core: every instance */                                                                                      \
    X(BACKEND, STR, NULL, 0, 0, NULL, NULL, "core",                                                                 \
      "Backend of an instance: `posix`, `uring`, `loop`, `dpdk`, `memif`, `xdp`, `rdma` (those built), or a "             \
      "preference list (`uring,posix`: the first that starts; each passed over is logged at info). Unset: "      \
      "`posix` for the native API, `uring,posix` for the preload.")                            \
    X(LOG, ENUM, "warn", 0, 0, "error|warn|info|debug|warning", NULL, "core",                                       \
      "Log level (`warning` = `warn`). `debug` explains every offload decision of the preload.")                  \
    X(CLOCK, ENUM, "auto", 0, 0, "auto|tsc|sys",                                                                    \
      "`tsc` where the kernel's clocksource is `tsc`, else `sys`", "core",                                          \
      "The datapath's clock, read several times per round trip: `tsc` scales the TSC to `CLOCK_MONOTONIC` "       \
      "(11 ns a read here; core/clock.c), `sys` reads `CLOCK_MONOTONIC` (29 ns). Read once a process; "            \
      "`tsc` where the kernel does not keep time with the TSC is taken as `sys`.")                                  \
    X(STRICT, BOOL, "0", 0, 0, NULL, NULL, "core",                                                                 \
      "`1`: a datapath that cannot start is fatal (the preload exits with a message) instead of falling back: "   \
      "no next backend of a `DEMI_BACKEND` list, no kernel sockets.")                                              \
    X(STATS, STR, NULL, 0, 0, NULL, NULL, "core",                                                                   \
      "`1`: print every non-zero counter to stderr when an instance ends (the preload: at exit); `0`: off; "      \
      "anything else: a FILE the counters are appended to.")                                                       \
    X(BUF_COUNT, INT, "32768", 64, 1 << 24, NULL, NULL, "core",                                                     \
      "Data buffers per instance; the application's bytes leave the last eighth to the stack's own frames.")      \
    X(BUF_SIZE, SIZE, "2048", 256, 65536, NULL, NULL, "core", "Size of one data buffer.")                           \
    X(HDR_COUNT, INT, "auto", 64, 1 << 25, NULL, "2 x `DEMI_BUF_COUNT`", "core",                                   \
      "Bare buffer headers (slices, wrapped device buffers).")                                                     \
    X(MAX_QUEUES, INT, "65536", 16, 1 << 22, NULL, NULL, "core", "Queue descriptors per instance.")                 \
    X(MAX_OPS, INT, "65536", 16, 1 << 24, NULL, NULL, "core", "In-flight tokens per instance.")                     \
    X(SPIN_US, US, "50", 0, 10000000, NULL, NULL, "core",                                                           \
      "A `demi_wait*` with a timeout (under the preload, a blocking call) polls this long before it sleeps in "   \
      "the backend; `0`: sleep at once. Devices that give nothing to sleep on (DPDK ports other than tap, "         \
      "the loop) always poll.")                                                                                     \
    X(SPIN_YIELD_US, US, "auto", 0, 10000000, NULL,                                                                 \
      "4 when the thread may run on one CPU only (`taskset -c N`, a one-CPU cpuset), else 0 (never)", "core",     \
      "A spinning wait gives its CPU up (`sched_yield`) this far into the spin, then each time it has doubled; "  \
      "set it when threads outnumber CPUs without pinning.")                                                       \
    X(SPIN_CROWDED, BOOL, "auto", 0, 0, NULL,                                                                        \
      "1 for a backend with its own TCP/IP (dpdk, xdp: its waits also drive the stack), else 0", "core",          \
      "`1`: spin also while more tasks are runnable than there are CPUs. `0`: such a wait sleeps at once "        \
      "(checked in `/proc/loadavg` at most once a millisecond per thread): the spin would take a CPU the "          \
      "process that answers may be waiting for (Apache prefork, PostgreSQL: a process per connection).")          \
    X(FAULTS, STR, NULL, 0, 0, NULL, NULL, "fault",                                                                 \
      "Seeded fault injection on any L2 device, e.g. "                                                             \
      "`drop=0.02,reorder=0.05,dup=0.01,corrupt=0.001,delay_us=50,seed=7`.")                                       \
    X(PCAP, STR, NULL, 0, 0, NULL, NULL, "pcap", "Write every frame sent and received to this pcap file.")          \
    /* shim: the preload */                                                                                         \
    X(OFFLOAD, STR, NULL, 0, 0, NULL, NULL, "shim",                                                                 \
      "Unset: every candidate socket is offloaded. `none`: nothing is. Or comma-separated rules `port=N`, "       \
      "`port=N-M`, `net=A.B.C.D/LEN`: only sockets matching one rule (a bad rule: nothing is offloaded).")        \
    X(OFFLOAD_UDP, BOOL, "1", 0, 0, NULL, NULL, "shim", "`0` keeps UDP in the kernel.")                              \
    X(TX_BATCH, INT, "32", 1, 4096, NULL, NULL, "shim",                                                              \
      "Sends of one event-loop turn go to the backend together, at most this many per submission (after a "       \
      "wait returned k events, the k-th send of the turn and every N-th flush). `1`: every send flushes.")        \
    X(OFFLOAD_LOOPBACK, BOOL, "auto", 0, 0, NULL,                                                                   \
      "1 with kernel-socket backends (posix, uring), 0 with backends that have their own stack", "shim",          \
      "Whether 127.0.0.0/8 is offloaded.")                                                                          \
    X(RCVBUF, SIZE, "1m", 4096, 1 << 30, NULL, NULL, "shim",                                                        \
      "Bytes a socket buffers from the datapath before it stops posting receives (less when the application "     \
      "sets a smaller `SO_RCVBUF`: Linux's doubled value).")                                                        \
    X(SNDBUF, SIZE, "1m", 4096, 1 << 30, NULL, NULL, "shim",                                                        \
      "Bytes in flight per socket; beyond it `send` gives `EAGAIN` or waits.")                                     \
    X(LINGER_MS, MS, "2000", 0, 3600000, NULL, NULL, "shim",                                                        \
      "At `exit` (`_exit` too) and before `exec`, data still queued, of open sockets and of closed ones, "   \
      "is pushed out while it moves (a slow reader), giving up after this long without progress (10 min "     \
      "in all).")                                                                                                  \
    X(WAKE_SLICE_MS, MS, "auto", 1, 3600000, NULL,                                                               \
      "100 for a blocking call, 1000 for `epoll_wait`/`poll`/`select`", "shim",                                  \
      "A sleep inside a call lasts at most this long before the call looks again: what a missed wake-up "        \
      "would cost (tests set it long, so that one shows).")                                                        \
    X(HELPER_US, US, "1000", 0, 10000000, NULL, NULL, "shim",                                                       \
      "Backends with their own TCP/IP: a helper thread polls the datapath this often when no thread did; "        \
      "`0`: no helper.")                                                                                            \
    /* inet: the TCP/IP stack over loop, dpdk, xdp */                                                               \
    X(IPV4, STR, NULL, 0, 0, NULL, NULL, "inet",                                                                    \
      "Our address/prefix, e.g. `10.9.0.1/24`: required for dpdk, memif and xdp, `10.0.0.1/24` for loop.")               \
    X(GATEWAY, STR, NULL, 0, 0, NULL, NULL, "inet", "Default gateway, on our subnet (unset: off-subnet is `ENETUNREACH`).") \
    X(IPV6, STR, NULL, 0, 0, NULL, NULL, "inet",                                                                    \
      "Our IPv6 address/prefix, e.g. `fd00::1/64` (prefix 1..128, default 64); unset: only the link-local address " \
      "derived from `DEMI_MAC` (`fe80::`, modified EUI-64).")                                                        \
    X(GATEWAY6, STR, NULL, 0, 0, NULL, NULL, "inet",                                                                \
      "IPv6 default gateway, link-local or inside `DEMI_IPV6`'s prefix (unset: off-link is `ENETUNREACH`).")      \
    X(MAC, STR, NULL, 0, 0, NULL, NULL, "inet",                                                                     \
      "Our MAC (`02:00:00:00:00:01`); unset: the device's, else `02:00:<ip>`.")                                    \
    X(ARP, STR, NULL, 0, 0, NULL, NULL, "inet", "Static neighbour entries `ip=mac;ip=mac` (IPv4 or IPv6 addresses).")                              \
    X(ARP_TTL_S, S, "60", 1, 86400, NULL, NULL, "inet", "Lifetime of learnt ARP and IPv6 neighbour entries.")                          \
    X(MTU, INT, "auto", 576, 9216, NULL, "the device's (1500 for loop, the port's or interface's for dpdk and xdp)", "inet",      \
      "IP MTU; the loop and dpdk devices carry at most 9000.")                                                     \
    X(TSO, BOOL, "1", 0, 0, NULL, NULL, "inet",                                                                     \
      "TCP segmentation offload where the device has it (`DM_DEV_CAP_TX_TCP_TSO`): TCP hands the device frames "  \
      "of up to 64 KiB, which it cuts into MSS-sized segments. `0`: one segment a frame.")                        \
    X(TCP_MAX_CONNS, INT, "4096", 1, 1 << 20, NULL, NULL, "inet", "Connection table, preallocated.")                \
    X(TCP_SNDBUF, SIZE, "256k", 4096, 1 << 30, NULL, NULL, "inet", "Default `SO_SNDBUF`.")                         \
    X(TCP_RCVBUF, SIZE, "256k", 4096, 1 << 30, NULL, NULL, "inet", "Default `SO_RCVBUF`.")                         \
    X(TCP_RCVBUF_MAX, SIZE, "6m", 4096, 1 << 30, NULL, NULL, "inet",                                                \
      "Receive buffer auto-tuning's ceiling (Linux's `tcp_rmem` max): a connection whose application reads "        \
      "faster than the window allows grows its buffer up to this; one with `SO_RCVBUF` set keeps that.")            \
    X(TCP_TIMEWAIT_MS, MS, "1000", 0, 240000, NULL, NULL, "inet", "TIME_WAIT duration (short, not 2 MSL).")         \
    X(TCP_DELACK_MS, MS, "0", 0, 500, NULL, NULL, "inet",                                                          \
      "Delayed ACK timeout; `0`: none, the answer carries the ACK (request/response: up to 10 ms) or the next "    \
      "poll sends it.")                                                                                            \
    X(TCP_RTO_MIN_MS, MS, "200", 1, 60000, NULL, NULL, "inet", "RTO floor.")                                        \
    X(TCP_RTO_INIT_MS, MS, "1000", 1, 60000, NULL, NULL, "inet", "Initial RTO.")                                    \
    X(TCP_SYN_RETRIES, INT, "6", 0, 127, NULL, NULL, "inet", "SYN retransmissions before `ETIMEDOUT`.")             \
    X(TCP_RETRIES, INT, "15", 1, 255, NULL, NULL, "inet", "RTO back-offs before `ETIMEDOUT`.")                      \
    X(TCP_CC, STR, "cubic", 0, 0, NULL, NULL, "inet",                                                               \
      "Congestion control, `cubic` or `newreno` (per socket: `TCP_CONGESTION`).")                                  \
    /* loop device */                                                                                               \
    X(LOOP_LINK, STR, NULL, 0, 0, NULL, NULL, "loop", "Name of a link joining two instances in one process.")       \
    X(LOOP_RING, INT, "1024", 2, 1 << 20, NULL, NULL, "loop", "Frames queued per direction (a power of two).")     \
    X(LOOP_CSUM_OFFLOAD, BOOL, "0", 0, 0, NULL, NULL, "loop", "Pretend to offload checksums (tests).")              \
    X(LOOP_TSO, BOOL, "0", 0, 0, NULL, NULL, "loop",                                                              \
      "Pretend to offload TCP segmentation (tests; implies `DEMI_LOOP_CSUM_OFFLOAD`): frames of up to 64 KiB "    \
      "are cut into MSS-sized segments as a NIC would (`devices/loop/l2tso.c`).")                                  \
    /* dpdk device */                                                                                               \
    X(DPDK_ARGS, STR, NULL, 0, 0, NULL, NULL, "dpdk",                                                               \
      "EAL arguments, shell-like quoting, e.g. `--vdev=net_memif0,role=server,socket=/tmp/x.sock`. Required.")    \
    X(DPDK_ALLOW_PCI, BOOL, "0", 0, 0, NULL, NULL, "dpdk", "`1`: do not add `--no-pci` (real NICs).")               \
    X(DPDK_PREFIX, STR, NULL, 0, 0, NULL, NULL, "dpdk", "`--file-prefix` (unset: `demi<pid>`).")                    \
    X(DPDK_PORT, INT, "0", 0, 65535, NULL, NULL, "dpdk", "Port id.")                                                \
    X(DPDK_MBUFS, INT, "8191", 512, 1 << 20, NULL, NULL, "dpdk", "Mbufs per pool (two pools per port).")            \
    X(DPDK_RXD, INT, "1024", 64, 16384, NULL, NULL, "dpdk", "RX ring size.")                                        \
    X(DPDK_TXD, INT, "1024", 64, 16384, NULL, NULL, "dpdk", "TX ring size.")                                        \
    X(DPDK_TX_COPY, SIZE, "auto", 0, 9000, NULL, "256; on memif every frame (measured faster)", "dpdk",           \
      "Frames up to this size are copied into one fresh mbuf.")                                                    \
    X(DPDK_DMA_MAP, ENUM, "auto", 0, 0, "auto|0|1", "`1` on ports that are not virtual (NICs), `0` on the others",  \
      "dpdk",                                                                                                      \
      "`1`: register the buffer pool with DPDK and map it for the port's DMA (`rte_extmem_register`, "           \
      "`rte_dev_dma_map`; IOVA as VA only), so that the port sends our buffers by reference (and takes TSO "       \
      "frames); a frame with a segment outside the pool is copied. `0`: NICs get copies.")                         \
    X(DPDK_LINK_WAIT_MS, MS, "0", 0, 600000, NULL, NULL, "dpdk", "Start-up waits this long for the link.")          \
    X(DPDK_CLAIM_WAIT_MS, MS, "60000", 0, 600000, NULL, NULL, "dpdk",                                              \
      "A secondary that finds every queue of the primary held by live processes waits this long for one (an "     \
      "old worker finishing its connections at nginx's reload) before it gives up.")                               \
    X(DPDK_MEMIF_RX_CKSUM, ENUM, "trust", 0, 0, "trust|verify", NULL, "dpdk",                                     \
      "memif (shared memory, no wire): `trust` takes received TCP/UDP checksums as good, as Linux does across a "   \
      "veth pair; `verify` checks them (a peer that injects corruption, `DEMI_FAULTS` corrupt).")                 \
    X(DPDK_INTR_TURN_US, US, "20000", 10, 1000000, NULL, NULL, "dpdk",                                             \
      "Native API with a memif port: DPDK's interrupt thread sleeps this long between its turns with the bursts "  \
      "once the link is up (1 ms before).")                                                                       \
    X(DPDK_PROC, ENUM, "auto", 0, 0, "auto|own|secondary",                                                         \
      "secondary when a primary with this prefix is alive under `DEMI_DPDK_RUNDIR`, else own", "dpdk",             \
      "`own`: this process owns the port (its own EAL); `secondary`: attach to a running `demi-dpdk-primary` "     \
      "(same `DEMI_DPDK_PREFIX`) and serve one of its queues; `auto`: secondary when that primary is alive.")      \
    X(DPDK_QUEUES, INT, "2", 1, 16, NULL, NULL, "dpdk",                                                            \
      "`demi-dpdk-primary`: queue pairs of the shared port, one per attached process (tap: at most 4).")          \
    X(DPDK_RUNDIR, STR, "/run/demi-dpdk", 0, 0, NULL, NULL, "dpdk",                                                \
      "Primary and secondaries: the EAL's runtime files go to `DIR/dpdk/<prefix>` (so that an unprivileged "       \
      "secondary finds the root primary's).")                                                                       \
    X(DPDK_PRIMARY, STR, NULL, 0, 0, NULL, NULL, "dpdk",                                                            \
      "`demi-run --dpdk-primary`: the `demi-dpdk-primary` program to start (unset: beside the library, "          \
      "beside demi-run, or on `PATH`).")                                                                            \
    X(DPDK_MP_GROUP, STR, NULL, 0, 0, NULL, NULL, "dpdk",                                                           \
      "`demi-dpdk-primary`: a user or group name whose processes may attach as secondaries (unset: root only).")  \
    /* memif device (ours, no DPDK) */                                                                              \
    X(MEMIF_SOCKET, STR, "/run/memif.sock", 0, 0, NULL, NULL, "memif",                                              \
      "The control socket's path (with `DEMI_MEMIF_ABSTRACT`, a name in the abstract namespace, as DPDK's "       \
      "`net_memif` uses by default).")                                                                             \
    X(MEMIF_ABSTRACT, BOOL, "1", 0, 0, NULL, NULL, "memif",                                                         \
      "`1`: the socket is abstract (no file; DPDK's `socket-abstract=yes`); `0`: a file at the path.")             \
    X(MEMIF_ROLE, ENUM, "client", 0, 0, "client|server", NULL, "memif",                                             \
      "`server` listens and copies frames in and out of the client's memory; `client` connects, owns the shared " \
      "memory, and tries again every 100 ms while no server answers.")                                            \
    X(MEMIF_ID, INT, "0", 0, 2147483647, NULL, NULL, "memif", "The interface id (both ends the same).")             \
    X(MEMIF_SECRET, STR, NULL, 0, 0, NULL, NULL, "memif", "A shared secret of up to 24 characters (both ends).")    \
    X(MEMIF_RING, INT, "1024", 64, 16384, NULL, NULL, "memif",                                                      \
      "Client: descriptors per ring (a power of two; the server may ask for fewer, not under 64).")               \
    X(MEMIF_BUF_SIZE, INT, "2048", 128, 65536, NULL, NULL, "memif",                                                 \
      "Client: bytes per shared buffer (a multiple of 64); a longer frame takes several.")                         \
    X(MEMIF_LINK_WAIT_MS, MS, "0", 0, 600000, NULL, NULL, "memif", "Start-up waits this long for the peer.")         \
    X(MEMIF_RX_CKSUM, ENUM, "trust", 0, 0, "trust|verify", NULL, "memif",                                           \
      "`trust` takes received TCP/UDP checksums as good (shared memory, no wire: Linux does so across a veth); "  \
      "`verify` checks them.")                                                                                     \
    /* xdp device */                                                                                                \
    X(XDP_IFACE, STR, NULL, 0, 0, NULL, NULL, "xdp", "The interface. Required.")                                    \
    X(XDP_QUEUE, INT, "auto", 0, 1023, NULL, "the first queue no live process holds", "xdp",                        \
      "The RX/TX queue our socket binds; each process of an interface takes its own.")                            \
    X(XDP_CLAIM_WAIT_MS, MS, "60000", 0, 600000, NULL, NULL, "xdp",                                               \
      "With `DEMI_XDP_QUEUE=auto`, a process that finds every queue held by live processes waits this long for "  \
      "one (an old worker finishing its connections at nginx's reload) before it gives up.")                      \
    X(XDP_HELPER, BOOL, "auto", 0, 0, NULL,                                                                         \
      "on in a process that starts able to create AF_XDP sockets (root) with `DEMI_BACKEND=xdp`", "xdp",           \
      "A privileged helper started at load gives forked workers that dropped root their AF_XDP socket.")          \
    X(XDP_FILTER, ENUM, "ip", 0, 0, "ip|all", NULL, "xdp",                                                          \
      "`ip`: our XDP program, frames for `DEMI_IPV4` only; `all`: libxdp's, every frame of the queue.")           \
    X(XDP_FRAMES, INT, "4096", 4096, 1 << 20, NULL, NULL, "xdp", "UMEM frames of 4 KiB.")                           \
    X(XDP_COPY, BOOL, "0", 0, 0, NULL, NULL, "xdp", "`1`: skip the zero-copy attempt.")                             \
    X(XDP_TX_REF, BOOL, "0", 0, 0, NULL, NULL, "xdp",                                                              \
      "`1`: the buffer pool moves into the UMEM (pinned) and frames go out by reference, not copied.")          \
    X(XDP_TX_CKSUM, ENUM, "offload", 0, 0, "offload|sw|stack", NULL, "xdp",                                        \
      "TCP/UDP checksums of what we send: `offload` asks the kernel for them (AF_XDP TX metadata: copy "          \
      "mode, Linux 6.11+; on a veth nobody computes them, as for Linux's own sends), else the stack sums; `sw`: "   \
      "the kernel sums them in software (a peer then verifies them); `stack`: the stack sums them.")              \
    /* uring backend */                                                                                             \
    X(URING_ENTRIES, INT, "256", 8, 32768, NULL, NULL, "uring", "SQ entries (the CQ has 4x).")                      \
    X(URING_SQPOLL, BOOL, "0", 0, 0, NULL, NULL, "uring",                                                           \
      "Kernel SQ polling thread (replaces defer_taskrun): one per process, its rings attached to it.")          \
    X(URING_SQPOLL_CPU, INT, "auto", 0, 4095, NULL, "the scheduler's choice among the process's CPUs", "uring",   \
      "The CPU the SQ polling thread is bound to: one the application does not run on.")                        \
    X(URING_BUSYPOLL, BOOL, "0", 0, 0, NULL, NULL, "uring", "Never sleep in the kernel; no syscall while idle.")     \
    X(URING_SHARED, BOOL, "auto", 0, 0, NULL,                                                                       \
      "bound to the thread that made the instance until another thread uses it, then shared", "uring",            \
      "Whether the ring is shared between threads (`0`: thread-bound, `1`: shared from the start).")             \
    X(URING_DEFER_TASKRUN, BOOL, "auto", 0, 0, NULL,                                                                \
      "used unless the kernel does not signal the wait fd promptly with it", "uring",                             \
      "`IORING_SETUP_DEFER_TASKRUN` (`1`: whenever the kernel has it; `0`: never).")                              \
    X(URING_DISABLE, STR, NULL, 0, 0, NULL, NULL, "uring",                                                          \
      "Comma list of features to leave off (see stacks/uring/README.md; tests play older kernels).")              \
    X(URING_BUF_COUNT, INT, "auto", 0, 32768, NULL, "32 with `buf_inc`, else 128 (also `0`)", "uring",             \
      "Ring buffers (a power of two >= 8).")                                                                        \
    X(URING_BUF_SIZE, SIZE, "auto", 0, 1 << 20, NULL, "128k with `buf_inc`, else 64k (also `0`)", "uring",         \
      "Size of a ring buffer (>= 512).")                                                                            \
    X(URING_BUF_HOT, INT, "auto", 0, 32768, NULL, "4 with `buf_inc`, else 8; all when COUNT or SIZE is set (also `0`)", \
      "uring", "Buffers published to the kernel at a time; the others are spares.")                               \
    X(URING_RX_QUEUE, INT, "16", 1, 64, NULL, NULL, "uring",                                                         \
      "Chunks queued per socket before its receive pauses (or sooner: the bytes of its `SO_RCVBUF`, if set).")    \
    X(URING_ZC_MIN, SIZE, "0", 0, 1 << 30, NULL, NULL, "uring", "`SEND_ZC` from this many bytes; `0`: off.")        \
    X(URING_FILES, INT, "16384", 0, 1 << 20, NULL, NULL, "uring", "Registered file table (capped by `RLIMIT_NOFILE`).") \
    X(MOVABLE_ACCEPTS, BOOL, "0", 0, 0, NULL, NULL, "uring",                                                        \
      "`1` (the preload sets it): an accepted connection's receive is armed at its first pop, so it can move "    \
      "to another instance.")                                                                                       \
    X(PROMPT_READINESS, BOOL, "0", 0, 0, NULL, NULL, "uring",                                                       \
      "`1` (the preload sets it): a look that does not wait (a zero timeout, `MSG_DONTWAIT`) must see what the "   \
      "kernel holds, so no receive may complete on its own time: `DEMI_URING_SQPOLL` is not taken.")              \
    /* rdma backend */                                                                                              \
    X(RDMA_PROVIDER, ENUM, "auto", 0, 0, "real|emu", "`real` when a device is found, else `emu` (warned once)",     \
      "rdma", "Verbs provider; `emu` is an in-process emulation (no wire).")                                      \
    X(RDMA_DEVICE, STR, NULL, 0, 0, NULL, NULL, "rdma", "Refuse connections whose address resolves to another device.") \
    X(RDMA_RQ_DEPTH, INT, "64", 4, 8192, NULL, NULL, "rdma", "Receive buffers per connection (the peer's credits).") \
    X(RDMA_SQ_DEPTH, INT, "128", 8, 8192, NULL, NULL, "rdma", "Send queue depth.")                                  \
    X(RDMA_CQ_DEPTH, INT, "65536", 64, 1 << 22, NULL, NULL, "rdma", "One CQ per instance (capped by the device).")  \
    X(RDMA_INLINE, SIZE, "64", 0, 256, NULL, NULL, "rdma", "Bytes sent inline in the WQE.")                         \
    X(RDMA_RNR_RETRY, INT, "1", 0, 7, NULL, NULL, "rdma", "RNR retries (`7`: forever).")                            \
    X(RDMA_LINGER_MS, MS, "5000", 0, 3600000, NULL, NULL, "rdma", "Limit for a closed connection to deliver its data.") \
    X(RDMA_TIMEOUT_MS, MS, "2000", 1, 60000, NULL, NULL, "rdma", "Address and route resolution.")                   \
    X(RDMA_MAX_CONNS, INT, "65536", 16, 1 << 22, NULL, NULL, "rdma", "Connection table.")                           \
    /* scripts and tests: read outside the library, listed so that the */                                           \
    /* environment snapshot knows them and the doc has them */                                                      \
    X(PRELOAD_LIB, STR, NULL, 0, 0, NULL, NULL, "scripts",                                                          \
      "`demi-run`: the library to preload (unset: the build directory, then the install location).")              \
    X(TEST_ARGS, STR, NULL, 0, 0, NULL, NULL, "scripts", "`scripts/test.sh`: extra `meson test` arguments.")        \
    X(TEST_WRAPPER, STR, NULL, 0, 0, NULL, NULL, "scripts", "`scripts/test.sh`: a `meson test --wrapper`.")         \
    X(TEST_ADDR, STR, NULL, 0, 0, NULL, NULL, "test", "Conformance tests and benchmarks: the address to listen on (an IPv6 one: the conformance suite over AF_INET6).") \
    X(TEST_SANITIZED, BOOL, "0", 0, 0, NULL, NULL, "test", "`1`: a sanitizer build; tests use smaller rings.")

#endif /* DM_CONFIG_VARS_H */
