#!/usr/bin/env python3
"""A tiny DNS server for the e2e lab (UDP, loopback only), enough to stand in for a recursive
resolver or for one authoritative nameserver of a lab zone.

  dns_stub.py ZONE_JSON ADDR:PORT [ADDR:PORT...]
  dns_stub.py --query ADDR:PORT NAME TYPE     one query (no recursion); prints rcode, aa, answers

ZONE_JSON: {"authoritative": true, "refuse": false,
            "records": {"healthy.lab.test.": {"A": ["127.0.0.1"]},
                        "lab.test.": {"NS": ["ns1.lab.test."], "SOA": 2026112401}}}
Known name and type: answer with the records (AA set when "authoritative"); known name, other
type: NOERROR without answers; unknown name: NXDOMAIN; both negative answers carry the enclosing
zone's SOA in the authority section; "refuse": REFUSED to everything (a lame server). Runs until killed; it never forwards anything anywhere.
"""
import json
import socket
import struct
import sys
import threading

A, NS, SOA = 1, 2, 6
TYPES = {"A": A, "NS": NS, "SOA": SOA}


def read_name(msg, off):
    labels = []
    while True:
        n = msg[off]
        if n == 0:
            return ".".join(labels).lower() + ".", off + 1
        if n & 0xC0:
            raise ValueError("compressed question names are not expected")
        labels.append(msg[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def rdata(rtype, value, zone):
    if rtype == A:
        return socket.inet_aton(value)
    if rtype == NS:
        return encode_name(value)
    if rtype == SOA:
        return (encode_name("ns1." + zone) + encode_name("hostmaster." + zone)
                + struct.pack("!IIIII", int(value), 3600, 600, 86400, 60))
    raise ValueError(rtype)


def answer(zone_cfg, query):
    qid, flags, qd = struct.unpack("!HHH", query[:6])
    name, off = read_name(query, 12)
    qtype, _qclass = struct.unpack("!HH", query[off:off + 4])
    question = query[12:off + 4]
    records = zone_cfg.get("records", {})
    rd = flags & 0x0100
    aa = 0x0400 if zone_cfg.get("authoritative", True) else 0
    answers = []
    if zone_cfg.get("refuse"):
        rcode, aa = 5, 0
    elif name in records:
        rcode = 0
        for tname, values in records[name].items():
            if TYPES.get(tname) == qtype:
                for v in values if isinstance(values, list) else [values]:
                    data = rdata(qtype, v, name)
                    answers.append(encode_name(name) + struct.pack("!HHIH", qtype, 1, 60, len(data)) + data)
    else:
        rcode = 3
    # A negative answer (NXDOMAIN, or no record of that type) carries the SOA of the enclosing
    # zone in the authority section, as real servers do: that is how a client finds the zone.
    authority = []
    if not answers and rcode in (0, 3):
        labels = name.rstrip(".").split(".")
        for i in range(len(labels)):
            zone = ".".join(labels[i:]) + "."
            if "SOA" in records.get(zone, {}):
                data = rdata(SOA, records[zone]["SOA"], zone)
                authority.append(encode_name(zone) + struct.pack("!HHIH", SOA, 1, 60, len(data)) + data)
                break
    head = struct.pack("!HHHHHH", qid, 0x8000 | aa | rd | 0x0080 | rcode, 1, len(answers), len(authority), 0)
    return head + question + b"".join(answers) + b"".join(authority)


def serve(zone_cfg, addr):
    host, port = addr.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, int(port)))
    while True:
        query, peer = sock.recvfrom(4096)
        try:
            sock.sendto(answer(zone_cfg, query), peer)
        except (ValueError, IndexError, struct.error):
            continue


def query(addr, name, qtype):
    host, port = addr.rsplit(":", 1)
    msg = struct.pack("!HHHHHH", 4242, 0, 1, 0, 0, 0) + encode_name(name) + struct.pack("!HH", TYPES[qtype], 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    sock.sendto(msg, (host, int(port)))
    reply = sock.recv(4096)
    _qid, flags, _qd, an = struct.unpack("!HHHH", reply[:8])
    print(f"rcode={flags & 0xF} aa={int(bool(flags & 0x0400))} answers={an}")


def main():
    if sys.argv[1] == "--query":
        query(*sys.argv[2:5])
        return
    zone_cfg = json.loads(sys.argv[1])
    threads = [threading.Thread(target=serve, args=(zone_cfg, a), daemon=True) for a in sys.argv[2:]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
