#!/usr/bin/env python3
"""Forged traffic for tapip's kernel-side flood tests, sent as raw Ethernet frames on the
kernel's side of the tap (an AF_PACKET socket, Python's standard library only).

  flood.py syn  DEV COUNT FIRST_SECS REST_SECS PORT   spoofed SYNs from 10.0.0.3-254
  flood.py frag DEV COUNT                             first fragments that never complete
  flood.py arp  DEV COUNT                             ARP requests from many senders
  flood.py oow  DEV PORT                              out-of-window ACKs and RSTs on a
                                                       real connection; prints the answers
  flood.py ooo  DEV PORT CONNS SEGS                   SEGS one-byte segments, every other
                                                       byte, on each of CONNS connections

The stack is 10.0.0.1 (its MAC read from the kernel's neighbour table: ping it first), the
kernel 10.0.0.2. Prints one line of results.
"""
import random
import socket
import struct
import sys
import time

STACK = "10.0.0.1"
ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806


def mac_bytes(text):
    return bytes(int(x, 16) for x in text.split(":"))


def stack_mac():
    with open("/proc/net/arp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[0] == STACK and fields[3] != "00:00:00:00:00:00":
                return mac_bytes(fields[3])
    sys.exit("no neighbour entry for " + STACK + ": ping it first")


def own_mac(dev):
    with open("/sys/class/net/%s/address" % dev) as f:
        return mac_bytes(f.read().strip())


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, payload, ident=0, frag=0):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    return hdr + payload


def tcp(src, dst, sport, dport, seq, ack, flags, opts=b"", window=65535, data=b""):
    off = (20 + len(opts)) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, off << 4,
                      flags, window, 0, 0) + opts
    pseudo = struct.pack("!4s4sBBH", socket.inet_aton(src), socket.inet_aton(dst), 0, 6,
                         len(hdr) + len(data))
    c = checksum(pseudo + hdr + data)
    return hdr[:16] + struct.pack("!H", c) + hdr[18:] + data


def eth(dst, src, kind, payload):
    return dst + src + struct.pack("!H", kind) + payload


def random_mac():
    return bytes([0x02] + [random.randrange(256) for _ in range(5)])


def raw(dev):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((dev, 0))
    return s


def paced(frames, secs):
    """Yield the frames spread evenly over `secs` seconds."""
    start = time.monotonic()
    n = max(len(frames), 1)
    for i, f in enumerate(frames):
        due = start + secs * i / n
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield f


def syn_flood(dev, count, first_secs, rest_secs, port):
    s, dmac = raw(dev), stack_mac()
    frames = []
    for _ in range(count):
        src = "10.0.0.%d" % random.randrange(3, 255)
        opts = struct.pack("!BBH", 2, 4, 1460)
        seg = tcp(src, STACK, random.randrange(1024, 65536), port, random.getrandbits(32), 0,
                  0x02, opts)
        frames.append(eth(dmac, random_mac(), ETH_P_IP, ipv4(src, STACK, 6, seg)))
    half = count // 2
    for f in paced(frames[:half], first_secs):
        s.send(f)
    for f in paced(frames[half:], rest_secs):
        s.send(f)
    print("sent %d SYNs" % count)


def frag_flood(dev, count):
    s, dmac = raw(dev), stack_mac()
    for i in range(count):
        src = "10.0.%d.%d" % (random.randrange(256), random.randrange(1, 255))
        # The first 1000 bytes of a 3000-byte UDP datagram: more fragments (MF) follow,
        # but never come.
        payload = bytes(1000)
        pkt = ipv4(src, STACK, 17, payload, ident=i & 0xFFFF, frag=0x2000)
        s.send(eth(dmac, random_mac(), ETH_P_IP, pkt))
    print("sent %d fragments" % count)


def arp_flood(dev, count):
    s = raw(dev)
    bcast = b"\xff" * 6
    for i in range(count):
        mac = random_mac()
        if i % 2:
            sender = "10.0.0.%d" % random.randrange(3, 255)
        else:
            sender = "10.%d.%d.%d" % (random.randrange(256), random.randrange(256),
                                      random.randrange(1, 255))
        arp = struct.pack("!HHBBH6s4s6s4s", 1, ETH_P_IP, 6, 4, 1, mac, socket.inet_aton(sender),
                          bytes(6), socket.inet_aton(STACK))
        s.send(eth(bcast, mac, ETH_P_ARP, arp))
    print("sent %d ARP requests" % count)


def pure_acks_from_stack(sniff, lport, until):
    """Count segments from the stack to `lport` with only ACK set, no data, until then."""
    n = 0
    while True:
        left = until - time.monotonic()
        if left <= 0:
            return n
        sniff.settimeout(left)
        try:
            frame = sniff.recv(2048)
        except socket.timeout:
            return n
        if len(frame) < 54 or frame[12:14] != b"\x08\x00":
            continue
        ip = frame[14:]
        ihl = (ip[0] & 0xF) * 4
        if ip[9] != 6 or socket.inet_ntoa(ip[12:16]) != STACK:
            continue
        seg = ip[ihl:]
        dport = struct.unpack("!H", seg[2:4])[0]
        off = (seg[12] >> 4) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        if dport == lport and seg[13] == 0x10 and total - ihl - off == 0:
            n += 1


def handshake(dev, port):
    """Connect to the stack's `port` with the kernel's TCP; find the handshake's sequence
    numbers in a capture: (socket, local port, our next seq, the stack's next seq)."""
    sniff = raw(dev)
    c = socket.create_connection((STACK, port), timeout=5)
    lport = c.getsockname()[1]
    my_isn = stack_isn = None
    deadline = time.monotonic() + 5
    while (my_isn is None or stack_isn is None) and time.monotonic() < deadline:
        sniff.settimeout(1)
        frame = sniff.recv(2048)
        if len(frame) < 54 or frame[12:14] != b"\x08\x00":
            continue
        ip = frame[14:]
        ihl = (ip[0] & 0xF) * 4
        seg = ip[ihl:]
        if ip[9] != 6:
            continue
        sport, dport, seq = struct.unpack("!HHI", seg[:8])
        if seg[13] == 0x02 and sport == lport:
            my_isn = seq
        elif seg[13] == 0x12 and dport == lport:
            stack_isn = seq
    if my_isn is None or stack_isn is None:
        sys.exit("handshake not seen")
    sniff.close()
    return c, lport, my_isn + 1, stack_isn + 1


def ooo(dev, port, conns, segs):
    out = raw(dev)
    mac, dmac = own_mac(dev), stack_mac()
    held = []
    for _ in range(conns):
        c, lport, mine, theirs = handshake(dev, port)
        held.append(c)
        for i in range(segs):
            seg = tcp("10.0.0.2", STACK, lport, port, mine + 2 + 2 * i, theirs, 0x10,
                      data=b"x")
            out.send(eth(dmac, mac, ETH_P_IP, ipv4("10.0.0.2", STACK, 6, seg)))
        # Let the stack's answers (a duplicate ACK each) pass before the next handshake.
        time.sleep(0.5)
    # The connections stay open (the stack holds their queues) until this ends.
    time.sleep(1)
    print("sent %d out-of-order segments on %d connections" % (conns * segs, conns))


def oow(dev, port):
    sniff = raw(dev)
    c, lport, mine, theirs = handshake(dev, port)
    mac, dmac = own_mac(dev), stack_mac()
    time.sleep(0.2)

    def send(seq, flags):
        seg = tcp("10.0.0.2", STACK, lport, port, seq, theirs if flags & 0x10 else 0, flags)
        sniff.send(eth(dmac, mac, ETH_P_IP, ipv4("10.0.0.2", STACK, 6, seg)))

    def drain():
        sniff.setblocking(False)
        try:
            while sniff.recv(2048):
                pass
        except BlockingIOError:
            pass

    # Drain what the capture holds (our own frames, the handshake).
    drain()
    # Ten pure ACKs far outside the window within 90 ms. The stack's answers are counted
    # for 1 s after (a loaded machine can hold the stack back past a shorter wait; the
    # burst draws nothing else), which also lets its 500 ms rate-limit interval pass.
    t0 = time.monotonic()
    for i in range(10):
        send(mine + (1 << 30) + i, 0x10)
        time.sleep(0.009 if i < 9 else 0)
    burst_acks = time.monotonic() - t0
    acks = pure_acks_from_stack(sniff, lport, time.monotonic() + 1.0)
    # Nothing of the first burst is counted as an answer to the second.
    drain()
    # Ten RSTs inside the window but not at RCV.NXT.
    t0 = time.monotonic()
    for i in range(10):
        send(mine + 1000 + i, 0x04)
        time.sleep(0.009 if i < 9 else 0)
    burst_rsts = time.monotonic() - t0
    challenges = pure_acks_from_stack(sniff, lport, time.monotonic() + 1.0)
    # The connection still works.
    c.sendall(b"still here")
    got = b""
    while len(got) < 10:
        d = c.recv(100)
        if not d:
            break
        got += d
    c.close()
    print("acks=%d challenges=%d echo=%s bursts=%.0fms,%.0fms" %
          (acks, challenges, got == b"still here", burst_acks * 1000, burst_rsts * 1000))


def main():
    a = sys.argv[1:]
    if a[:1] == ["syn"] and len(a) == 6:
        syn_flood(a[1], int(a[2]), float(a[3]), float(a[4]), int(a[5]))
    elif a[:1] == ["frag"] and len(a) == 3:
        frag_flood(a[1], int(a[2]))
    elif a[:1] == ["arp"] and len(a) == 3:
        arp_flood(a[1], int(a[2]))
    elif a[:1] == ["oow"] and len(a) == 3:
        oow(a[1], int(a[2]))
    elif a[:1] == ["ooo"] and len(a) == 5:
        ooo(a[1], int(a[2]), int(a[3]), int(a[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
