#!/usr/bin/env python3
# Usage: python3 bench/resident.py PID BINARY  (root: reads /proc/PID/pagemap; needs binutils nm, readelf)
# Which code of a running binary is resident: present pages of its file mappings, by crate.
import sys, struct, subprocess, collections, bisect, re
pid, binary = sys.argv[1], sys.argv[2]
maps = []
for line in open(f"/proc/{pid}/maps"):
    f = line.split()
    if len(f) >= 6 and f[5] == binary:
        a, b = (int(x, 16) for x in f[0].split("-"))
        maps.append((a, b, f[1], int(f[2], 16)))
pm = open(f"/proc/{pid}/pagemap", "rb")
present = []  # file offsets of present pages
for a, b, perms, off in maps:
    n = (b - a) // 4096
    pm.seek(a // 4096 * 8)
    data = pm.read(n * 8)
    for i in range(n):
        (e,) = struct.unpack_from("<Q", data, i * 8)
        if e >> 63 & 1:
            present.append((off + i * 4096, perms))
# symbols: vaddr -> name (for a PIE, file offset == vaddr - segment vaddr + segment offset; use readelf)
segs = []
for line in subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True).stdout.splitlines():
    f = line.split()
    if f and f[0] == "LOAD":
        segs.append((int(f[1], 16), int(f[2], 16), int(f[4], 16)))  # offset, vaddr, filesz
def off2va(o):
    for so, sv, sz in segs:
        if so <= o < so + sz:
            return sv + (o - so)
syms = []
out = subprocess.run(["nm", "-n", "-C", "--defined-only", binary], capture_output=True, text=True).stdout
for line in out.splitlines():
    p = line.split(" ", 2)
    if len(p) == 3 and p[1] in "tTwW":
        syms.append((int(p[0], 16), p[2]))
addrs = [s[0] for s in syms]
def crate(name):
    name = re.sub(r"^(_?<|<)", "", name)
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)::", name)
    if m: return m.group(1)
    if name.startswith(("OPENSSL", "ossl_", "EVP_", "SSL_", "BN_", "ASN1_", "X509", "CRYPTO_", "ERR_", "EC_", "RSA_", "OBJ_", "PEM_", "BIO_", "tls", "ssl", "dtls", "aes", "sha", "ecp_", "bn_", "x25519", "ChaCha", "Poly", "gcm", "DH_", "DSA_", "ec_", "engine", "lh_", "sk_", "ct_", "OSSL", "asn1", "d2i", "i2d", "evp_", "rsa_", "x509", "OCSP", "CMS", "PKCS", "ECDSA", "CONF", "DSO", "RAND", "HMAC", "TS_", "UI_", "ossl")): return "openssl"
    if name.startswith(("ring_", "GFp", "p256", "p384", "LIMBS", "ecp_nistz", "CRYPTO_memcmp")): return "ring(C)"
    if name.startswith(("je_", "_rjem", "tikv")): return "jemalloc"
    return "other:" + name[:20]
by = collections.Counter(); tot = collections.Counter()
for o, perms in present:
    tot[perms] += 4096
    if "x" not in perms: continue
    va = off2va(o)
    if va is None: continue
    names = set()
    i = bisect.bisect_right(addrs, va) - 1
    j = i
    while j + 1 < len(addrs) and addrs[j + 1] < va + 4096: j += 1
    for k in range(max(i, 0), j + 1):
        names.add(crate(syms[k][1]))
    for n in names:
        by[n] += 4096 / len(names)
print("present by perms (KiB):", {k: v // 1024 for k, v in tot.items()})
oth = collections.Counter()
for n, v in by.items():
    if n.startswith("other:"): oth["other"] += v
    else: oth[n] += v
for n, v in oth.most_common(30):
    print(f"{v/1024:8.0f} KiB  {n}")
