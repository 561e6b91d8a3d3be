#!/usr/bin/env python3
"""Measures one exporter of the macro benchmark (bench/run.sh), or prints the side-by-side report.

  measure.py ours     --pid P --origins N --interval S --cycles K --metrics URL --out FILE
  measure.py blackbox --pid P --origins N --interval S --cycles K --metrics URL --probe URL --out FILE
  measure.py report   --machine TEXT FILE...

Both exporters are measured the same way: one warm-up interval, then K whole intervals during
which CPU time (utime+stime of the process, /proc/PID/stat) is counted; peak RSS is VmHWM at the
end. origin_exporter schedules its own probes and /metrics is scraped once per interval (inside
the window); blackbox_exporter is driven by a loader that requests /probe once per origin per
interval, spread evenly over it (inside and outside the window alike), and its own /metrics is
scraped once per interval too.
"""

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")
# A probe cycle on loopback takes milliseconds; its end may trail its scheduled start by this.
AGE_SLACK = 1.0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of proc(5); `rest` starts at field 3.
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def wait_ready(url, pid, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}"):
            sys.exit(f"process {pid} exited")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                r.read()
                return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"{url} not ready after {timeout}s")


def scrape(url):
    """(seconds to the whole body, body). Timed by curl, a C client like Prometheus' Go one:
    Python's http.client adds ~45 ms of its own to a 30 MB chunked body."""
    with tempfile.NamedTemporaryFile() as f:
        out = subprocess.run(
            ["curl", "-sf", "-m", "60", "-o", f.name, "-w", "%{time_total}", url],
            check=True, capture_output=True, text=True,
        ).stdout
        return float(out), f.read()


# What Prometheus 2.x asks for: OpenMetrics first, gzip.
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                     "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


def scrape_gzip(url):
    """(seconds to the whole compressed body, its bytes) for a scrape as Prometheus makes it
    (OpenMetrics, gzip); the body is not decompressed (as Prometheus, curl times the transfer)."""
    out = subprocess.run(
        ["curl", "-sf", "-m", "60", "-o", "/dev/null", "-w", "%{time_total} %{size_download}",
         "-H", "Accept-Encoding: gzip", "-H", f"Accept: {PROMETHEUS_ACCEPT}", url],
        check=True, capture_output=True, text=True,
    ).stdout.split()
    return float(out[0]), int(out[1])


def sleep_until(t):
    left = t - time.monotonic()
    if left > 0:
        time.sleep(left)


TS = re.compile(rb'^origin_last_probe_timestamp_seconds\{origin="([^"]*)"[^}]*\} (\S+)$', re.M)
TLS_OK = re.compile(rb'^origin_probe_success\{[^}]*check="tls"[^}]*\} 1$', re.M)


def measure_ours(a):
    wait_ready(a.metrics, a.pid)
    start = time.monotonic()
    # Warm-up: every origin's first run falls within the first interval (spread by name).
    t0 = start + a.interval + 2
    sleep_until(t0)
    c0 = cpu_seconds(a.pid)
    scrapes = []
    for k in range(1, a.cycles + 1):
        sleep_until(t0 + k * a.interval - 1)
        wall = time.time()
        seconds, body = scrape(a.metrics)
        gzip_seconds, gzip_bytes = scrape_gzip(a.metrics)
        ts = {m[0]: float(m[1]) for m in TS.findall(body)}
        # Probed within its interval: the origin's last cycle ended at most one interval (plus
        # AGE_SLACK for the cycle's own duration) before the scrape. (Comparing with the previous
        # scrape instead would miscount origins whose cycle ends right at a scrape.)
        stale = sum(1 for v in ts.values() if wall - v > a.interval + AGE_SLACK)
        scrapes.append(
            {
                "seconds": seconds,
                "bytes": len(body),
                "gzip_seconds": gzip_seconds,
                "gzip_bytes": gzip_bytes,
                "series": sum(1 for line in body.split(b"\n") if line and not line.startswith(b"#")),
                "origins": len(ts),
                "not_probed_this_interval": stale + (a.origins - len(ts)),
                "max_age_s": max((wall - v for v in ts.values()), default=None),
                "tls_success": len(TLS_OK.findall(body)),
            }
        )
        print(f"  ours cycle {k}: /metrics {seconds*1000:.0f} ms {len(body)/1e6:.1f} MB, "
              f"gzip {gzip_seconds*1000:.0f} ms {gzip_bytes/1e6:.1f} MB, "
              f"{scrapes[-1]['not_probed_this_interval']} origins not probed, "
              f"tls ok {scrapes[-1]['tls_success']}/{a.origins}", file=sys.stderr)
    sleep_until(t0 + a.cycles * a.interval)
    c1 = cpu_seconds(a.pid)
    per_cycle = (c1 - c0) / a.cycles
    return {
        "exporter": "origin_exporter",
        "origins": a.origins,
        "interval_s": a.interval,
        "cycles": a.cycles,
        "cpu_s_per_cycle": per_cycle,
        "cpu_ms_per_probe": per_cycle / a.origins * 1000,
        "peak_rss_mib": status_kib(a.pid, "VmHWM") / 1024,
        "rss_end_mib": status_kib(a.pid, "VmRSS") / 1024,
        "all_probed_each_interval": all(
            s["not_probed_this_interval"] == 0 and s["tls_success"] == a.origins for s in scrapes
        ),
        "metrics_ms_median": statistics.median(s["seconds"] for s in scrapes) * 1000,
        "metrics_ms_max": max(s["seconds"] for s in scrapes) * 1000,
        "metrics_bytes": scrapes[-1]["bytes"],
        "metrics_gzip_ms_median": statistics.median(s["gzip_seconds"] for s in scrapes) * 1000,
        "metrics_gzip_bytes": scrapes[-1]["gzip_bytes"],
        "metrics_series": scrapes[-1]["series"],
        "max_age_s": max(s["max_age_s"] or 0 for s in scrapes),
        "scrapes": scrapes,
        "load": loadavg(),
    }


async def probe(url):
    """(ok, seconds): one /probe request, HTTP/1.0, a new connection like Prometheus' first."""
    u = urllib.parse.urlsplit(url)
    start = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection(u.hostname, u.port)
        writer.write(f"GET {u.path}?{u.query} HTTP/1.0\r\nHost: {u.netloc}\r\n\r\n".encode())
        await writer.drain()
        body = await reader.read()
        writer.close()
    except OSError:
        return False, time.monotonic() - start
    ok = body.startswith(b"HTTP/1.") and b" 200 " in body[:16] and b"\nprobe_success 1" in body
    return ok, time.monotonic() - start


async def load(a, start, results):
    """Requests /probe for origin i at start + c*interval + i*interval/N, c = 0..cycles."""
    tasks = []

    async def one(cycle, i, due):
        lag = time.monotonic() - due
        ok, seconds = await probe(a.probe.replace("{i}", str(i)))
        results.append((cycle, i, ok, seconds, lag))

    for c in range(a.cycles + 1):
        for i in range(1, a.origins + 1):
            due = start + c * a.interval + (i - 1) * a.interval / a.origins
            left = due - time.monotonic()
            if left > 0:
                await asyncio.sleep(left)
            tasks.append(asyncio.create_task(one(c, i, due)))
    await asyncio.gather(*tasks)


def measure_blackbox(a):
    wait_ready(a.metrics, a.pid)
    start = time.monotonic() + 1
    t0 = start + a.interval
    results = []
    scrapes = []
    cpu = {}

    async def main():
        loader = asyncio.create_task(load(a, start, results))
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0, t0 - time.monotonic()))
        cpu["c0"] = cpu_seconds(a.pid)
        for k in range(1, a.cycles + 1):
            await asyncio.sleep(max(0, t0 + k * a.interval - 1 - time.monotonic()))
            scrapes.append(await loop.run_in_executor(None, scrape, a.metrics))
        await asyncio.sleep(max(0, t0 + a.cycles * a.interval - time.monotonic()))
        cpu["c1"] = cpu_seconds(a.pid)
        await loader

    asyncio.run(main())
    per_cycle = (cpu["c1"] - cpu["c0"]) / a.cycles
    measured = [r for r in results if r[0] >= 1]
    failed = sum(1 for r in measured if not r[2])
    late = sum(1 for r in measured if r[3] + r[4] > a.interval)
    for k in range(1, a.cycles + 1):
        c = [r for r in results if r[0] == k]
        print(f"  blackbox cycle {k}: {sum(1 for r in c if r[2])}/{len(c)} probes ok, "
              f"slowest {max(r[3] for r in c)*1000:.0f} ms", file=sys.stderr)
    return {
        "exporter": "blackbox_exporter",
        "origins": a.origins,
        "interval_s": a.interval,
        "cycles": a.cycles,
        "cpu_s_per_cycle": per_cycle,
        "cpu_ms_per_probe": per_cycle / a.origins * 1000,
        "peak_rss_mib": status_kib(a.pid, "VmHWM") / 1024,
        "rss_end_mib": status_kib(a.pid, "VmRSS") / 1024,
        "all_probed_each_interval": failed == 0 and late == 0
        and len(measured) == a.origins * a.cycles,
        "probes_failed": failed,
        "probes_late": late,
        "probe_ms_median": statistics.median(r[3] for r in measured) * 1000,
        "probe_ms_max": max(r[3] for r in measured) * 1000,
        "loader_max_lag_ms": max(r[4] for r in measured) * 1000,
        "metrics_ms_median": statistics.median(s[0] for s in scrapes) * 1000,
        "metrics_bytes": len(scrapes[-1][1]),
        "load": loadavg(),
    }


def report(a):
    runs = {}
    for path in a.files:
        if os.path.exists(path):
            with open(path) as f:
                r = json.load(f)
            runs[r["exporter"]] = r
    print(f"\nmachine: {a.machine}")
    rows = [
        ("CPU s per cycle", "cpu_s_per_cycle", "{:.2f}"),
        ("CPU ms per origin probe", "cpu_ms_per_probe", "{:.3f}"),
        ("peak RSS MiB (VmHWM)", "peak_rss_mib", "{:.1f}"),
        ("every origin probed each interval", "all_probed_each_interval", "{}"),
        ("/metrics ms (median)", "metrics_ms_median", "{:.0f}"),
        ("/metrics bytes", "metrics_bytes", "{}"),
        ("/metrics gzip+OpenMetrics ms (median)", "metrics_gzip_ms_median", "{:.0f}"),
        ("/metrics gzip+OpenMetrics bytes", "metrics_gzip_bytes", "{}"),
        ("load average at end", "load", "{}"),
    ]
    names = [n for n in ("origin_exporter", "blackbox_exporter") if n in runs]
    if not names:
        sys.exit("no results")
    first = runs[names[0]]
    print(f"N={first['origins']} origins, interval {first['interval_s']} s, {first['cycles']} cycles")
    print(f"{'':40}" + "".join(f"{n:>20}" for n in names))
    for label, key, fmt in rows:
        cells = (fmt.format(runs[n][key]) if key in runs[n] else "-" for n in names)
        print(f"{label:40}" + "".join(f"{c:>20}" for c in cells))
    if len(names) == 2:
        o, b = runs["origin_exporter"], runs["blackbox_exporter"]
        print(f"ratio CPU per probe (ours/blackbox): {o['cpu_ms_per_probe'] / b['cpu_ms_per_probe']:.3f}"
              " (target <= 0.125)")
        print(f"ratio peak RSS (ours/blackbox):      {o['peak_rss_mib'] / b['peak_rss_mib']:.3f}"
              " (target <= 1)")
    print(json.dumps(runs, indent=1, default=str))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["ours", "blackbox", "report"])
    p.add_argument("--pid", type=int)
    p.add_argument("--origins", type=int)
    p.add_argument("--interval", type=float)
    p.add_argument("--cycles", type=int)
    p.add_argument("--metrics")
    p.add_argument("--probe")
    p.add_argument("--out")
    p.add_argument("--machine", default="")
    p.add_argument("files", nargs="*")
    a = p.parse_intermixed_args()
    if a.mode == "report":
        return report(a)
    result = measure_ours(a) if a.mode == "ours" else measure_blackbox(a)
    with open(a.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
