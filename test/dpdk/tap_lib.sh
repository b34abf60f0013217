# SPDX-License-Identifier: MIT
# Sourced by the tap tests. tap_fds_async PID: "TUN ASYNC", how many of the
# process's fds are /dev/net/tun, and how many of those still have O_ASYNC
# (020000 in fdinfo's octal flags): the tap PMD's signal per received frame,
# which devices/dpdk/dpdk_tap.c turns off.
tap_fds_async() {
    local f fl ntun=0 nasync=0
    for f in /proc/"$1"/fd/*; do
        [ "$(readlink "$f")" = /dev/net/tun ] || continue
        fl=$(sed -n 's/^flags:[[:space:]]*//p' "/proc/$1/fdinfo/${f##*/}")
        ntun=$((ntun + 1))
        [ $((0$fl & 020000)) -ne 0 ] && nasync=$((nasync + 1))
    done
    echo "$ntun $nasync"
}
# tap_wait_tuns PID: how many tun fds the process's wait set holds (the
# epoll set devices/dpdk/dpdk_tap.c sleeps on: its own queue's fd and
# those of the free queues it polls), the most of any of its epoll sets.
tap_wait_tuns() {
    local f n best=0 tfd
    for f in /proc/"$1"/fd/*; do
        [ "$(readlink "$f")" = "anon_inode:[eventpoll]" ] || continue
        n=0
        for tfd in $(sed -n 's/^tfd:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/fdinfo/${f##*/}"); do
            [ "$(readlink "/proc/$1/fd/$tfd")" = /dev/net/tun ] && n=$((n + 1))
        done
        [ $n -gt $best ] && best=$n
    done
    echo $best
}
