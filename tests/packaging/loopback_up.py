"""Brings the loopback interface up in a new network namespace, then runs the command given.

`unshare -n` leaves a namespace whose loopback is down: no network at all, not even the
machine's own, which every real machine has and the installed app's 2-process self-test uses
(its processes meet on localhost). The outside network stays out of reach.

    unshare -n python loopback_up.py PROGRAM [ARGS...]
"""

import fcntl
import os
import socket
import struct
import sys

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1

with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    flags = struct.unpack("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sh", b"lo", 0)))[1]
    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))
os.execv(sys.argv[1], sys.argv[1:])
