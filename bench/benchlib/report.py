"""Medians, ratios, goals, the markdown report and the gnuplot chart."""

import os
import statistics

from . import handshakes as handshakelib
from . import syscalls as syscalllib
from . import tracing as tracinglib
from .procs import run_tool

CONFIG_ORDER = ["direct", "nginx", "haproxy", "hawser"]
PEERS = ["nginx", "haproxy"]
MIB = 1024.0

# Issue 5's goals (ratios from the same run).
GOAL_THROUGHPUT = 1.2      # hawser >= 1.2x the better peer
GOAL_ADDED_P99 = 0.8       # hawser's added p99 <= 0.8x the better peer's
GOAL_IDLE_MIB = 12.0
GOAL_PEAK_MIB = 40.0
GOAL_BYTES_PER_ENDPOINT = 1024.0
GOAL_METRICS_COST = 0.03
GOAL_IDLE_CONN_KIB = 16    # issue 13: memory per idle mTLS keep-alive connection
# Issue 13: syscalls per request per sidecar (wrk load): <= HAProxy's; stretch: the
# floor, 2 receives + 2 sends + at most one epoll_wait.
GOAL_SYSCALLS_VS_HAPROXY = 1.0
GOAL_SYSCALLS_FLOOR = sum(syscalllib.FLOOR.values())
# Issue 13: new mTLS connections per second through the pair: >= HAProxy's; stretch 1.5x.
GOAL_HANDSHAKES_VS_HAPROXY = 1.0
GOAL_HANDSHAKES_STRETCH = 1.5
# Issue 14: metrics + tracing against both off (throughput), and p99 with the collector
# down against tracing off at the latency run's rate.
GOAL_TRACING_1PCT_COST = 0.03
GOAL_TRACING_100PCT_COST = 0.10
# Issue 15, acceptance 9: capture on keeps >= 0.85x of capture off's throughput.
GOAL_CAPTURE_RATIO = 0.85
GOAL_COLLECTOR_DOWN_P99 = 1.10


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


FIELDS = ["rps", "p50_ms", "p99_ms", "p999_ms", "cpu_per_10k", "app_cpu_per_10k",
          "rss_idle_client_kib", "rss_idle_server_kib", "rss_peak_client_kib", "rss_peak_server_kib"]


def summarize(records):
    """{workers: {config: {field: median, "runs": n}}} over runs without errors."""
    out = {}
    for r in records:
        if r.get("failed"):
            continue
        out.setdefault(r["workers"], {}).setdefault(r["config"], []).append(r)
    summary = {}
    for workers, by_config in out.items():
        summary[workers] = {}
        for config, runs in by_config.items():
            s = {f: median([run.get(f) for run in runs]) for f in FIELDS}
            s["runs"] = len(runs)
            summary[workers][config] = s
    return summary


def _fmt(v, spec="%.0f"):
    return "—" if v is None else spec % v


def _ratio(a, b, spec="%.2fx"):
    if a is None or b is None or b == 0:
        return "—"
    return spec % (a / b)


def _mib(kib):
    return None if kib is None else kib / MIB


def added_p99(s, config):
    if config not in s or "direct" not in s:
        return None
    a, d = s[config]["p99_ms"], s["direct"]["p99_ms"]
    return None if a is None or d is None else a - d


def better_peer(s, key, higher_is_better=True):
    vals = [(s[p][key], p) for p in PEERS if p in s and s[p][key] is not None]
    if not vals:
        return None, None
    return (max if higher_is_better else min)(vals)


def _configs(s):
    return [c for c in CONFIG_ORDER if c in s]


def main_table(workers, s, rate):
    lines = ["### %d worker%s per proxy" % (workers, "" if workers == 1 else "s"), "",
             "| configuration | req/s (50 conns) | vs direct | p50 ms | p99 ms | p99.9 ms | added p99 ms "
             "| CPU s / 10k req (both sidecars) | RSS idle MiB client / server | RSS peak MiB client / server | runs |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    direct_rps = s.get("direct", {}).get("rps")
    for c in _configs(s):
        r = s[c]
        idle = "—" if c == "direct" else "%s / %s" % (_fmt(_mib(r["rss_idle_client_kib"]), "%.1f"),
                                                      _fmt(_mib(r["rss_idle_server_kib"]), "%.1f"))
        peak = "—" if c == "direct" else "%s / %s" % (_fmt(_mib(r["rss_peak_client_kib"]), "%.1f"),
                                                      _fmt(_mib(r["rss_peak_server_kib"]), "%.1f"))
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |" % (
            c, _fmt(r["rps"]), _ratio(r["rps"], direct_rps),
            _fmt(r["p50_ms"], "%.3f"), _fmt(r["p99_ms"], "%.3f"), _fmt(r["p999_ms"], "%.3f"),
            "—" if c == "direct" else _fmt(added_p99(s, c), "%.3f"),
            "—" if c == "direct" else _fmt(r["cpu_per_10k"], "%.3f"),
            idle, peak, r["runs"]))
    lines.append("")
    lines.append("Latency at a fixed %d req/s (h2load --h1, 10 connections); throughput with wrk "
                 "(50 connections); medians of the runs." % rate)
    lines.append("")
    return lines


def ratio_table(workers, s):
    if "hawser" not in s:
        return []
    h = s["hawser"]
    rows = ["| hawser vs | throughput | added p99 | CPU per request | RSS peak (client+server) |",
            "|---|---:|---:|---:|---:|"]
    for p in [c for c in CONFIG_ORDER if c in s and c != "hawser"]:
        q = s[p]
        if p == "direct":
            rows.append("| direct | %s | — | — | — |" % _ratio(h["rps"], q["rps"]))
            continue
        hp = _sum(h["rss_peak_client_kib"], h["rss_peak_server_kib"])
        qp = _sum(q["rss_peak_client_kib"], q["rss_peak_server_kib"])
        rows.append("| %s | %s | %s | %s | %s |" % (
            p, _ratio(h["rps"], q["rps"]), _ratio(added_p99(s, "hawser"), added_p99(s, p)),
            _ratio(h["cpu_per_10k"], q["cpu_per_10k"]), _ratio(hp, qp)))
    return ["Ratios, %d worker%s (hawser / other; throughput above 1 is better, the rest below 1 is better):"
            % (workers, "" if workers == 1 else "s"), ""] + rows + [""]


def _sum(a, b):
    return None if a is None or b is None else a + b


def goals(summary, metrics_cost, scaling):
    """[(goal, workers, measured text, met: True/False/None)]"""
    out = []
    for workers in sorted(summary):
        s = summary[workers]
        if "hawser" not in s:
            continue
        h = s["hawser"]
        peer_rps, peer = better_peer(s, "rps")
        if peer:
            ratio = h["rps"] / peer_rps
            out.append(("throughput >= %.1fx the better peer" % GOAL_THROUGHPUT, workers,
                        "%.2fx of %s (%.0f vs %.0f req/s)" % (ratio, peer, h["rps"], peer_rps),
                        ratio >= GOAL_THROUGHPUT))
        peer_added = [(added_p99(s, p), p) for p in PEERS if added_p99(s, p) is not None]
        hawser_added = added_p99(s, "hawser")
        if peer_added and hawser_added is not None:
            best, bp = min(peer_added)
            met = hawser_added <= GOAL_ADDED_P99 * best
            ratio = "%.2fx" % (hawser_added / best) if best > 0 else "n/a (peer adds nothing)"
            out.append(("added p99 <= %.1fx the better peer's" % GOAL_ADDED_P99, workers,
                        "%s of %s (%.3f vs %.3f ms)" % (ratio, bp, hawser_added, best), met))
        idle = max(x for x in (h["rss_idle_client_kib"], h["rss_idle_server_kib"]) if x is not None) / MIB
        peak = max(x for x in (h["rss_peak_client_kib"], h["rss_peak_server_kib"]) if x is not None) / MIB
        out.append(("RSS idle <= %.0f MiB per sidecar" % GOAL_IDLE_MIB, workers,
                    "%.1f MiB (larger side)" % idle, idle <= GOAL_IDLE_MIB))
        out.append(("RSS peak <= %.0f MiB per sidecar" % GOAL_PEAK_MIB, workers,
                    "%.1f MiB (larger side)" % peak, peak <= GOAL_PEAK_MIB))
    for point in scaling_per_endpoint(scaling):
        out.append(("discovery memory <= 1 KiB per endpoint", point["workers"],
                    "%.0f B per endpoint all-in (%d services x %d), %.0f B marginal" % (
                        point["all_in"], point["services"], point["per_service"],
                        point["marginal"]) if point["marginal"] is not None else
                    "%.0f B per endpoint all-in" % point["all_in"],
                    point["all_in"] <= GOAL_BYTES_PER_ENDPOINT))
    if metrics_cost is not None:
        m = metrics_cost
        out.append(("metrics on costs <= 3% throughput", m["workers"],
                    "%s (%.0f req/s off, %.0f on; median of %d runs; single runs vary by "
                    "several %% on a shared machine)" % (
                        "%.1f%%" % (100 * m["cost"]) if m["cost"] >= 0 else
                        "none measurable (on was %.1f%% faster: noise)" % (-100 * m["cost"]),
                        m["off"], m["on"], m["runs"]),
                    m["cost"] <= 0.03))
    return out


def scaling_per_endpoint(scaling):
    """For each worker count: bytes per endpoint all-in (vs no services) and marginal
    (the 10-per-service point against the 1-per-service point, same service count)."""
    out = []
    by_workers = {}
    for p in scaling:
        by_workers.setdefault(p["workers"], []).append(p)
    for workers, points in sorted(by_workers.items()):
        base = next((p for p in points if p["endpoints"] == 0), None)
        big = max(points, key=lambda p: p["endpoints"])
        if base is None or big["endpoints"] == 0:
            continue
        all_in = (big["rss_kib"] - base["rss_kib"]) * 1024.0 / big["endpoints"]
        small = next((p for p in points if p["services"] == big["services"]
                      and p["endpoints_per_service"] < big["endpoints_per_service"]), None)
        marginal = None
        if small:
            marginal = (big["rss_kib"] - small["rss_kib"]) * 1024.0 / (big["endpoints"] - small["endpoints"])
        out.append({"workers": workers, "services": big["services"],
                    "per_service": big["endpoints_per_service"], "all_in": all_in, "marginal": marginal,
                    "per_service_bytes": ((small["rss_kib"] - base["rss_kib"]) * 1024.0 / small["services"]
                                          if small else None)})
    return out


def idle_section(points):
    counts = sorted({p["count"] for p in points})
    lines = ["## Memory per idle mTLS keep-alive connection", "",
             "Connections opened straight to each proxy's server sidecar (TLS 1.3, the client sidecar's "
             "certificate, one request each, then left open); RSS of the server sidecar (nginx: master + "
             "workers) with them open minus before, divided by their number. 1 worker.", "",
             "| proxy | " + " | ".join("KiB per connection at %d" % c for c in counts) + " |",
             "|---|" + "---:|" * len(counts)]
    for config in [c for c in ("nginx", "haproxy", "hawser") if any(p["config"] == c for p in points)]:
        cells = []
        for c in counts:
            p = next((p for p in points if p["config"] == config and p["count"] == c), None)
            cells.append("%.1f" % p["per_conn_kib"] if p else "—")
        lines.append("| %s | %s |" % (config, " | ".join(cells)))
    return lines + [""]


def idle_goals(points):
    out = []
    for p in points:
        if p["config"] == "hawser":
            out.append(("memory per idle mTLS keep-alive connection <= %d KiB" % GOAL_IDLE_CONN_KIB, p["workers"],
                        "%.1f KiB at %d connections" % (p["per_conn_kib"], p["count"]),
                        p["per_conn_kib"] <= GOAL_IDLE_CONN_KIB))
    return out


# ------------------------------------------------------------------------------------
# syscalls per request

PROXIES = ["nginx", "haproxy", "hawser"]


def syscall_figures(result):
    """{workers: {config: {phase: {side: per_request dict, "mean": ..., "top": {side: [...]}}}}}"""
    out = {}
    for run in (result or {}).get("runs", []):
        by_phase = {}
        for ph, v in run["phases"].items():
            sides = {side: syscalllib.per_request(c, v["requests"]) for side, c in v["sides"].items()}
            mean = {k: (sides["client"][k] + sides["server"][k]) / 2 for k in sides["client"]}
            by_phase[ph] = {"client": sides["client"], "server": sides["server"], "mean": mean,
                            "requests": v["requests"],
                            "top": {side: syscalllib.top(c, v["requests"]) for side, c in v["sides"].items()}}
        out.setdefault(run["workers"], {})[run["config"]] = by_phase
    return out


def syscalls_section(result, rate):
    lines = ["## System calls per request per sidecar", ""]
    if not result.get("method"):
        return lines + ["Not measured: %s." % result["note"], ""]
    how = {"perf": "`perf stat` on the `raw_syscalls:sys_enter` tracepoint (every call) and one "
                   "`syscalls:sys_enter_*` tracepoint per call of interest, attached to every thread of "
                   "each sidecar (nginx: master and workers) and switched on only around the load",
           "strace": "`strace -c -f` attached to every thread of each sidecar (%s); strace stops the "
                     "process on every call, so the pair ran several times slower and each epoll_wait found "
                     "more events than it would" % result["note"]}[result["method"]]
    lines += ["Counted with %s, divided by the requests the load generator completed; two loads over "
              "kept-alive connections: wrk with 50 connections (the throughput load) and h2load at %d req/s "
              "over 10 connections. receive = read, readv, recvfrom, recvmsg (of which EAGAIN: a receive that "
              "found nothing); send = write, writev, sendto, sendmsg; wait = epoll_wait and its kin. "
              "The floor of issue 13 is %d receives + %d sends + at most %d wait = %d per sidecar." % (
                  how, rate, syscalllib.FLOOR["receive"], syscalllib.FLOOR["send"], syscalllib.FLOOR["wait"],
                  GOAL_SYSCALLS_FLOOR), ""]
    figures = syscall_figures(result)
    for workers in sorted(figures):
        by_config = figures[workers]
        lines += ["### %d worker%s per proxy" % (workers, "" if workers == 1 else "s"), "",
                  "| proxy | sidecar | total (wrk) | receive | of which EAGAIN | send | wait | epoll_ctl | other "
                  "| total (%d req/s) | wait (%d req/s) |" % (rate, rate),
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for config in [c for c in PROXIES if c in by_config]:
            f = by_config[config]
            for side in ("client", "server", "mean"):
                l, r = f["load"][side], f["rate"][side]
                lines.append("| %s | %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %s | %.2f |" % (
                    config if side == "client" else "", side if side != "mean" else "**mean**",
                    "**%.2f**" % l["total"] if side == "mean" else "%.2f" % l["total"], l["receive"], l["eagain"],
                    l["send"], l["wait"], l["epoll_ctl"], l["other"],
                    "**%.2f**" % r["total"] if side == "mean" else "%.2f" % r["total"], r["wait"]))
        lines += ["", "The most frequent calls per request (wrk load):", "",
                  "| proxy | client sidecar | server sidecar |", "|---|---|---|"]
        for config in [c for c in PROXIES if c in by_config]:
            t = by_config[config]["load"]["top"]
            lines.append("| %s | %s | %s |" % (config, _top_text(t["client"]), _top_text(t["server"])))
        lines.append("")
    return lines


def _top_text(items):
    return ", ".join("%s %.2f" % (name, v) for name, v in items if v >= 0.005) or "—"


def syscall_goals(result):
    out = []
    if result is None:
        return out
    if not result.get("method"):
        for goal in ("syscalls per request per sidecar <= HAProxy's",
                     "syscalls per request per sidecar at the floor (<= %d)" % GOAL_SYSCALLS_FLOOR):
            out.append((goal, "—", "not measured: %s" % result["note"], None))
        return out
    figures = syscall_figures(result)
    for workers in sorted(figures):
        f = figures[workers]
        if "hawser" not in f:
            continue
        h = f["hawser"]["load"]
        text = "%.2f (client %.2f, server %.2f)" % (h["mean"]["total"], h["client"]["total"], h["server"]["total"])
        goal = "syscalls per request per sidecar <= HAProxy's (wrk load, mean of the two sidecars)"
        if "haproxy" in f:
            q = f["haproxy"]["load"]["mean"]["total"]
            ratio = h["mean"]["total"] / q
            out.append((goal, workers, "%.2fx: %s vs %.2f" % (ratio, text, q), ratio <= GOAL_SYSCALLS_VS_HAPROXY))
        else:
            out.append((goal, workers, "%s; HAProxy not measured" % text, None))
        worst = max(h["client"]["total"], h["server"]["total"])
        out.append(("stretch: syscalls per request at the floor, <= %d on each sidecar (wrk load)" %
                    GOAL_SYSCALLS_FLOOR, workers, text, worst <= GOAL_SYSCALLS_FLOOR))
    return out


# ------------------------------------------------------------------------------------
# new mTLS connections per second

def handshake_summary(runs):
    """{workers: {config: {...medians of the runs that were a handshake per request...}}}"""
    out = {}
    for r in runs or []:
        if r.get("failed"):
            continue
        out.setdefault(r["workers"], {}).setdefault(r["config"], []).append(r)
    summary = {}
    for workers, by_config in out.items():
        summary[workers] = {}
        for config, rs in by_config.items():
            good = [r for r in rs if not r.get("not_handshakes")]
            counted = [r for r in rs if r.get("handshakes")]
            s = {"runs": len(good), "of": len(rs),
                 "why_not": next((r["not_handshakes"] for r in rs if r.get("not_handshakes")), None),
                 "rps": median([r["rps"] for r in good]),
                 "per_request": median([r["handshakes"] / float(r["requests"]) for r in rs
                                        if "handshakes" in r and r["requests"]]),
                 "resumed": (sum(r["resumed"] for r in counted) / float(sum(r["handshakes"] for r in counted))
                             if counted else None),
                 "cpu_per_1k": median([(r["cpu_client_s"] + r["cpu_server_s"]) / r["handshakes"] * 1000
                                       for r in good]),
                 "cpu_client_per_1k": median([r["cpu_client_s"] / r["handshakes"] * 1000 for r in good]),
                 "cpu_server_per_1k": median([r["cpu_server_s"] / r["handshakes"] * 1000 for r in good]),
                 "any_rps": median([r["rps"] for r in rs])}
            summary[workers][config] = s
    return summary


def handshakes_section(runs):
    lines = ["## New mTLS connections per second through the pair", "",
             "wrk (50 connections) sends `Connection: close` on every request, and the client sidecars run with "
             "upstream reuse off (nginx: no `keepalive` in the upstream block; HAProxy: `http-reuse never`, "
             "`option http-server-close`; hawser has no such setting), so every request should cost a new "
             "mTLS connection between the sidecars. The server sidecar's handshakes are counted on `lo` by a "
             "packet socket whose BPF filter passes only TLS ServerHellos leaving its port; a ServerHello "
             "carrying `pre_shared_key` is a resumed TLS 1.3 session. Each proxy resumes as it does by "
             "default (nginx `proxy_ssl_session_reuse on`, HAProxy's server-side session cache, hawser's "
             "per-endpoint session cache). A run counts only when it made one handshake per request (within "
             "%d%% plus the connections in flight). CPU: utime + stime of both sidecars across the run." %
             round(100 * handshakelib.TOLERANCE), ""]
    summary = handshake_summary(runs)
    notes = []
    for workers in sorted(summary):
        s = summary[workers]
        lines += ["### %d worker%s per proxy" % (workers, "" if workers == 1 else "s"), "",
                  "| proxy | new mTLS connections/s | handshakes per request | resumed | CPU s / 1,000 "
                  "handshakes (both sidecars) | client / server | runs |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for config in [c for c in PROXIES if c in s]:
            r = s[config]
            rate = _fmt(r["rps"]) if r["runs"] else "not measured"
            lines.append("| %s | %s | %s | %s | %s | %s | %d of %d |" % (
                config, rate, _fmt(r["per_request"], "%.3f"),
                "—" if r["resumed"] is None else "%.0f%%" % (100 * r["resumed"]),
                _fmt(r["cpu_per_1k"], "%.3f"),
                "%s / %s" % (_fmt(r["cpu_client_per_1k"], "%.3f"), _fmt(r["cpu_server_per_1k"], "%.3f")),
                r["runs"], r["of"]))
            if r["why_not"]:
                notes.append("- %s, %d worker%s: not a handshake rate: %s (%s requests/s)." % (
                    config, workers, "" if workers == 1 else "s", r["why_not"], _fmt(r["any_rps"])))
        lines.append("")
    if notes:
        lines += notes + [""]
    return lines


def handshake_goals(runs):
    out = []
    if runs is None:
        return out
    summary = handshake_summary(runs)
    for workers in sorted(summary):
        s = summary[workers]
        if "hawser" not in s:
            continue
        h = s["hawser"]
        q = s.get("haproxy")
        for goal, factor in (("new mTLS connections/s >= HAProxy's", GOAL_HANDSHAKES_VS_HAPROXY),
                             ("stretch: new mTLS connections/s >= %.1fx HAProxy's" % GOAL_HANDSHAKES_STRETCH,
                              GOAL_HANDSHAKES_STRETCH)):
            if not h["runs"]:
                out.append((goal, workers, "not measured: %s%s" % (
                    h["why_not"], ""),
                    None))
            elif not q or not q["runs"]:
                out.append((goal, workers, "%.0f/s; HAProxy not measured" % h["rps"], None))
            else:
                ratio = h["rps"] / q["rps"]
                out.append((goal, workers, "%.2fx (%.0f vs %.0f/s)" % (ratio, h["rps"], q["rps"]), ratio >= factor))
    return out


def markdown(meta, summary, metrics_runs, scaling, errors, chart_name, idle_points=(), syscall_result=None,
             handshake_runs=None, tracing_result=None, capture_result=None):
    lines = ["# hawser benchmark: %s" % meta["started"], ""]
    lines += ["Mesh hop: load generator → client sidecar (plaintext) → mutual TLS 1.3, client "
              "certificate verified and authorized → server sidecar → app (nginx, `return 200`, "
              "%d worker). Everything on 127.0.0.1 on one machine." % meta["app_workers"], ""]
    lines += ["| | |", "|---|---|"]
    for k in ("mode", "hawser", "hawser_version", "git", "cpus", "cpu_model", "kernel", "peers",
              "durations", "extras", "machine"):
        if k in meta:
            lines.append("| %s | %s |" % (k, meta[k]))
    lines.append("")
    if errors:
        lines += ["**Errors** (these runs are excluded from the medians):", ""]
        lines += ["- %s" % e for e in errors] + [""]
    lines += ["## Results", ""]
    if chart_name:
        lines += ["![throughput and p99 per configuration](%s)" % chart_name, ""]
    for workers in sorted(summary):
        lines += main_table(workers, summary[workers], meta["rate"])
        lines += ratio_table(workers, summary[workers])
    if metrics_runs:
        lines += metrics_section(metrics_runs)
    if tracing_result:
        lines += tracing_section(tracing_result)
    if capture_result:
        lines += capture_section(capture_result)
    if scaling:
        lines += scaling_section(scaling)
    if idle_points:
        lines += idle_section(idle_points)
    if syscall_result is not None:
        lines += syscalls_section(syscall_result, meta["rate"])
    if handshake_runs:
        lines += handshakes_section(handshake_runs)
    g = goals(summary, metrics_cost(metrics_runs), scaling) + tracing_goals(tracing_result) + capture_goals(capture_result) + \
        idle_goals(idle_points) + syscall_goals(syscall_result) + handshake_goals(handshake_runs)
    if g:
        lines += ["## Goals (issues 5, 13, 14 and 15)", "", "| goal | workers | measured | met |", "|---|---:|---|---|"]
        for goal, workers, measured, met in g:
            lines.append("| %s | %s | %s | %s |" % (goal, workers, measured,
                                                    {True: "yes", False: "**no**", None: "n/a"}[met]))
        lines.append("")
    return "\n".join(lines) + "\n"


def metrics_cost(metrics_runs):
    if not metrics_runs:
        return None
    rps = {mode: median([r["rps"] for r in metrics_runs if r["mode"] == mode and not r.get("failed")])
           for mode in ("off", "on", "scraped")}
    if not rps["off"] or not rps["on"]:
        return None
    first = metrics_runs[0]
    return {"off": rps["off"], "on": rps["on"], "scraped": rps["scraped"],
            "cost": (rps["off"] - rps["on"]) / rps["off"],
            "scrape_cost": (rps["off"] - rps["scraped"]) / rps["off"] if rps["scraped"] else None,
            "interval": first["interval"], "workers": first["workers"],
            "runs": sum(1 for r in metrics_runs if r["mode"] == "off"),
            "scrape_bytes": median([r.get("scrape_bytes") for r in metrics_runs if r["mode"] == "scraped"])}


def metrics_section(metrics_runs):
    m = metrics_cost(metrics_runs)
    if not m:
        return []
    lines = ["## Metrics: what recording and scraping cost", "",
             "The hawser pair at %d worker(s) under the 50-connection load: metrics off "
             "(`telemetry.metrics.enabled: false` on both sidecars), on (every request counted, "
             "nobody scrapes), and on with both sidecars' `/metrics` scraped every %g s "
             "(interleaved, median of %d runs each)." % (m["workers"], m["interval"], m["runs"]), "",
             "| metrics | req/s | change vs off |", "|---|---:|---:|",
             "| off | %.0f | |" % m["off"],
             "| on | %.0f | %+.1f%% |" % (m["on"], -100 * m["cost"])]
    if m["scraped"]:
        lines.append("| on, scraped every %g s | %.0f | %+.1f%% |" % (m["interval"], m["scraped"],
                                                                       -100 * m["scrape_cost"]))
    lines += ["", "One scrape of one sidecar is about %s bytes of Prometheus text." % _fmt(m["scrape_bytes"]), ""]
    return lines


# ------------------------------------------------------------------------------------
# tracing

def _cost_text(cost):
    """A throughput cost (share of the `off` figure) as text; a negative one is noise."""
    return "%.1f%%" % (100 * cost) if cost >= 0 else "none measurable (%.1f%% faster: noise)" % (-100 * cost)


def _paired(runs, mode, base, value):
    """value(run of `mode`, run of `base`) for each repetition where both ran without an error."""
    good = {(r["mode"], r["rep"]): r for r in runs if not r.get("failed")}
    reps = sorted({r["rep"] for r in runs})
    return [value(good[(mode, i)], good[(base, i)]) for i in reps if (mode, i) in good and (base, i) in good]


def tracing_summary(result):
    """Medians per mode over the runs without errors; the costs against `off` and the
    collector-down p99 ratio, each the median of the repetitions' own ratios (a mode
    against the `off` run next to it, so a machine that drifts during the run moves
    both); and every caveat of the runs (spans dropped, failed, queued)."""
    out = {"throughput": {}, "latency": {}, "caveats": []}
    for mode in tracinglib.THROUGHPUT_MODES:
        runs = [r for r in result["throughput"] if r["mode"] == mode and not r.get("failed")]
        t = {"runs": len(runs), "rps": median([r["rps"] for r in runs]),
             "cpu_per_10k": median([r["cpu_per_10k"] for r in runs])}
        spanned = [r for r in runs if r.get("spans")]
        if spanned:
            t["spans_per_request"] = median([
                (r["spans"]["client"]["exported"] + r["spans"]["server"]["exported"]) /
                float(r["spans"]["client"]["outbound"]) for r in spanned if r["spans"]["client"]["outbound"]])
            t["lost"] = {o: sum(r["spans"][side][o] for r in spanned for side in ("client", "server"))
                         for o in ("dropped", "failed")}
            out["caveats"] += ["%s r%d: %s" % (mode, r["rep"], c) for r in spanned for c in r.get("caveats", [])]
            t["caveat_runs"] = sum(1 for r in spanned if r.get("caveats"))
        out["throughput"][mode] = t
    for mode in ("1%", "100%"):
        t = out["throughput"][mode]
        t["costs"] = _paired(result["throughput"], mode, "off", lambda m, o: (o["rps"] - m["rps"]) / o["rps"])
        t["cpu_changes"] = _paired(result["throughput"], mode, "off",
                                   lambda m, o: m["cpu_per_10k"] / o["cpu_per_10k"] - 1)
        t["cost"], t["cpu_change"] = median(t["costs"]), median(t["cpu_changes"])
    runs = result["throughput"] + result["latency"]
    out["busy_runs"] = sum(1 for r in runs if r.get("machine_before", {}).get("cc1plus", 0) > 0
                           or r.get("machine_after", {}).get("cc1plus", 0) > 0)
    out["all_runs"] = len(runs)
    for mode in tracinglib.LATENCY_MODES:
        runs = [r for r in result["latency"] if r["mode"] == mode and not r.get("failed")]
        out["latency"][mode] = {f: median([r[f] for r in runs]) for f in ("p50_ms", "p99_ms", "p999_ms")}
        out["latency"][mode]["runs"] = len(runs)
        if mode == "down":
            spanned = [r for r in runs if r.get("spans")]
            out["latency"][mode].update(
                {o: median([r["spans"]["client"][o] + r["spans"]["server"][o] for r in spanned])
                 for o in ("exported", "dropped", "failed")},
                failed_after_s=median([r.get("failed_after_s") for r in spanned]))
    out["p99_ratios"] = _paired(result["latency"], "down", "off", lambda d, o: d["p99_ms"] / o["p99_ms"])
    out["p99_ratio"] = median(out["p99_ratios"])
    return out


def tracing_section(result):
    s = tracing_summary(result)
    b = result["batch"]
    lines = ["## Tracing: what spans and their export cost", "",
             "The hawser pair at %d worker under the 50-connection load (wrk, %d s; interleaved, median of the "
             "runs): `off` (metrics off, no tracing), `1%%` and `100%%` (metrics on, `telemetry.tracing.otlp` "
             "with `sample_ratio` 0.01 and 1.0 on both sidecars; the client sidecar starts every trace, the server "
             "sidecar keeps its decision). The collector is the app's nginx (`return 200` answers `POST %s`); "
             "`batch: {delay: %s, max_spans: %d}`, `max_queue_spans: %d` (with the default, 2048, the queue "
             "often fills at 100%% under this load and spans are dropped). After each run the sidecars' "
             "`hawser_trace_spans_total` is read once their queues are empty: spans exported per request is 3 "
             "when every exchange is sampled (the client's request and attempt spans, the server's span)." % (
                 result["workers"], result["duration"], result["collector"], b["delay"], b["max_spans"],
                 result["max_queue_spans"]), "",
             "| mode | req/s | change vs off | CPU s / 10k req (both sidecars) | change vs off "
             "| spans exported per request | spans dropped / failed | runs |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for mode in tracinglib.THROUGHPUT_MODES:
        t = s["throughput"][mode]
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %d |" % (
            mode, _fmt(t["rps"]), "" if mode == "off" or t.get("cost") is None else "%+.1f%%" % (-100 * t["cost"]),
            _fmt(t["cpu_per_10k"], "%.3f"),
            "" if mode == "off" or t.get("cpu_change") is None else "%+.1f%%" % (100 * t["cpu_change"]),
            _fmt(t.get("spans_per_request"), "%.3f") if mode != "off" else "—",
            "%d / %d" % (t["lost"]["dropped"], t["lost"]["failed"]) if "lost" in t else "—", t["runs"]))
    lines.append("")
    lines += ["Change vs off: the median of each repetition's change against the `off` run beside it%s." % "".join(
        "; %s per repetition: req/s %s, CPU %s" % (
            mode, ", ".join("%+.1f%%" % (-100 * c) for c in s["throughput"][mode]["costs"]),
            ", ".join("%+.1f%%" % (100 * c) for c in s["throughput"][mode]["cpu_changes"]))
        for mode in ("1%", "100%") if len(s["throughput"][mode]["costs"]) > 1)]
    lines += ["CPU per request is the steadier figure on a shared machine: throughput moves with whatever else "
              "runs on the cores%s." % (
                  " (a compiler ran at the start or end of %d of these %d runs)" % (s["busy_runs"], s["all_runs"])
                  if s["busy_runs"] else ""), ""]
    if s["caveats"]:
        lines += ["**Not every span was exported**, so a figure above misses the cost of exporting them:", ""]
        lines += ["- %s" % c for c in s["caveats"]] + [""]
    lo, ld = s["latency"]["off"], s["latency"]["down"]
    lines += ["### Latency with the collector down", "",
              "h2load --h1 at %d req/s over 10 connections, %d s (after 1 s of warm-up), interleaved, median of "
              "the runs: `tracing off` (metrics on) and `collector down` (metrics on, `sample_ratio: 1.0`, the "
              "endpoint %s: a loopback port held by a socket that does not listen, so every export is refused at "
              "once and retried with backoff; the default `max_queue_spans`, 2048, fills and drops). The down mode "
              "makes every span, so its latency includes making them." % (
                  result["rate"], result["latency_duration"], result.get("down_endpoint", "?")), "",
              "| mode | p50 ms | p99 ms | p99.9 ms | runs |", "|---|---:|---:|---:|---:|"]
    for mode, name in (("off", "tracing off"), ("down", "collector down")):
        r = s["latency"][mode]
        lines.append("| %s | %s | %s | %s | %d |" % (name, _fmt(r["p50_ms"], "%.3f"), _fmt(r["p99_ms"], "%.3f"),
                                                   _fmt(r["p999_ms"], "%.3f"), r["runs"]))
    lines.append("")
    if s["p99_ratio"] is not None:
        lines.append("p99 collector down / tracing off: %.2fx (the median of the repetitions' ratios%s). In a down run (both sidecars, median): %s spans "
                     "failed (both sidecars had counted some %s s after the load), %s dropped, %s exported." % (
                         s["p99_ratio"], ": " + ", ".join("%.2fx" % r for r in s["p99_ratios"])
                         if len(s["p99_ratios"]) > 1 else "", _fmt(ld.get("failed")), _fmt(ld.get("failed_after_s"), "%.1f"),
                         _fmt(ld.get("dropped")), _fmt(ld.get("exported"))))
        lines.append("")
    return lines


def tracing_goals(result):
    out = []
    if not result:
        return out
    s = tracing_summary(result)
    off = s["throughput"]["off"]
    for mode, goal in (("1%", GOAL_TRACING_1PCT_COST), ("100%", GOAL_TRACING_100PCT_COST)):
        t = s["throughput"][mode]
        text = "metrics + tracing at %s sampling cost <= %.0f%% throughput against both off" % (mode, 100 * goal)
        if t.get("cost") is None:
            out.append((text, result["workers"], "not measured", None))
            continue
        measured = "%s (median of %d paired runs; medians %.0f req/s off, %.0f at %s; CPU per request %s)" % (
            _cost_text(t["cost"]), len(t["costs"]), off["rps"], t["rps"], mode,
            "—" if t.get("cpu_change") is None else "%+.0f%%" % (100 * t["cpu_change"]))
        met = t["cost"] <= goal
        if s["busy_runs"]:
            measured += "; a compiler ran during %d of %d tracing runs" % (s["busy_runs"], s["all_runs"])
        if t.get("caveat_runs"):
            # Spans not exported cost less than exported ones: a met goal is not shown.
            measured += "; in %d run(s) not every span was exported (%d dropped, %d failed: see above)" % (
                t["caveat_runs"], t["lost"]["dropped"], t["lost"]["failed"])
            met = False if not met else None
        out.append((text, result["workers"], measured, met))
    lo, ld = s["latency"]["off"], s["latency"]["down"]
    text = "a collector that is down: p99 <= %.2fx tracing off at %d req/s" % (GOAL_COLLECTOR_DOWN_P99, result["rate"])
    if s["p99_ratio"] is None:
        out.append((text, result["workers"], "not measured", None))
    else:
        out.append((text, result["workers"], "%.2fx (median of %d paired runs; medians %.3f vs %.3f ms; %s spans "
                    "failed per run)" % (s["p99_ratio"], len(s["p99_ratios"]), ld["p99_ms"], lo["p99_ms"],
                                         _fmt(ld.get("failed"))),
                    s["p99_ratio"] <= GOAL_COLLECTOR_DOWN_P99))
    return out


def scaling_section(scaling):
    lines = ["## Memory scaling (discovery)", "",
             "One hawser sidecar with N services × M static endpoints (services without alias "
             "listeners, reachable through `http_proxy`), mutual TLS per service; VmRSS after `/ready`.", "",
             "| workers | services | endpoints / service | endpoints | RSS MiB |", "|---:|---:|---:|---:|---:|"]
    for p in scaling:
        lines.append("| %d | %d | %d | %d | %.1f |" % (p["workers"], p["services"], p["endpoints_per_service"],
                                                     p["endpoints"], p["rss_kib"] / MIB))
    lines.append("")
    for e in scaling_per_endpoint(scaling):
        text = "- %d worker(s): %.0f bytes per endpoint all-in (RSS growth over a sidecar with no " \
               "services, divided by %d endpoints)" % (e["workers"], e["all_in"], e["services"] * e["per_service"])
        if e["marginal"] is not None:
            text += "; %.0f bytes per additional endpoint and %.0f bytes per service" % (
                e["marginal"], e["per_service_bytes"])
        lines.append(text + ".")
    lines.append("")
    return lines


def chart(summary, rate, directory, png_path, log_path):
    """Throughput and p99 per configuration, one bar per worker count. Returns True if drawn."""
    workers = sorted(summary)
    configs = [c for c in CONFIG_ORDER if any(c in summary[w] for w in workers)]
    if not configs:
        return False
    dat = os.path.join(directory, "chart.dat")
    with open(dat, "w") as f:
        f.write("# config " + " ".join("rps_w%d" % w for w in workers) + " " +
                " ".join("p99_w%d" % w for w in workers) + "\n")
        for c in configs:
            row = [summary[w].get(c, {}).get("rps") for w in workers]
            row += [summary[w].get(c, {}).get("p99_ms") for w in workers]
            f.write(c + " " + " ".join("NaN" if v is None else "%.3f" % v for v in row) + "\n")
    n = len(workers)
    rps_plot = ", ".join("'%s' using %d:xtic(1) title '%d worker%s'" % (
        dat if i == 0 else "", 2 + i, w, "" if w == 1 else "s") for i, w in enumerate(workers))
    p99_plot = ", ".join("'%s' using %d:xtic(1) title '%d worker%s'" % (
        dat if i == 0 else "", 2 + n + i, w, "" if w == 1 else "s") for i, w in enumerate(workers))
    script = os.path.join(directory, "chart.gp")
    with open(script, "w") as f:
        f.write("""set terminal pngcairo size 1200,480 font "sans,10"
set output '%s'
set multiplot layout 1,2 title "mesh hop: load -> client sidecar -> mTLS 1.3 -> server sidecar -> app"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key outside bottom center horizontal
set grid ytics
set yrange [0:*]
set title "throughput (wrk, 50 connections)"
set ylabel "requests/s"
plot %s
set title "p99 latency at %d req/s (h2load, 10 connections)"
set ylabel "ms"
plot %s
unset multiplot
""" % (png_path, rps_plot, rate, p99_plot))
    rc, out = run_tool(["gnuplot", script], timeout=60, log_path=log_path)
    return rc == 0 and os.path.exists(png_path)


# --------------------------------------------------------------------------------------
# capture

def capture_summary(result):
    """Medians per mode, and the median of the repetitions' on/off ratios (paired by rep)."""
    ok = [r for r in result["runs"] if not r.get("failed")]
    by = {m: [r for r in ok if r["mode"] == m] for m in ("off", "on")}
    out = {m: {"rps": median([r["rps"] for r in rs]) if rs else None,
               "cpu_per_10k": median([r["cpu_per_10k"] for r in rs]) if rs else None, "runs": len(rs)}
           for m, rs in by.items()}
    ratios = []
    for on in by["on"]:
        off = [r for r in by["off"] if r["rep"] == on["rep"]]
        if off:
            ratios.append(on["rps"] / off[0]["rps"])
    out["ratios"] = ratios
    out["ratio"] = median(ratios) if ratios else None
    lost = {"dropped": 0, "failed": 0}
    sent = 0
    for r in by["on"]:
        for c in r.get("records", {}).values():
            sent += c["sent"]
            lost["dropped"] += c["dropped"]
            lost["failed"] += c["failed"]
    out["sent"], out["lost"] = sent, lost
    return out


def capture_section(result):
    s = capture_summary(result)
    lines = ["## Capture (issue 15)", "",
             "The hawser pair (%d worker), wrk %d s, metrics on in both: `off` (no `capture` key) and `on` "
             "(both sidecars tee every exchange to a real `hawser forwarder` on loopback, plain HTTP, a 64 MiB "
             "queue, batches every 1 s), interleaved." % (result["workers"], result["duration"]), "",
             "| capture | req/s (median) | CPU s per 10k requests (pair) | runs |", "|---|---|---|---|"]
    for m in ("off", "on"):
        t = s[m]
        lines.append("| %s | %s | %s | %d |" % (m, "—" if t["rps"] is None else "%.0f" % t["rps"],
                                              "—" if t["cpu_per_10k"] is None else "%.3f" % t["cpu_per_10k"], t["runs"]))
    lines.append("")
    if s["ratio"] is not None:
        lines.append("Throughput capture on / off: %.2fx (the median of %d paired ratios: %s). Records sent and "
                     "acknowledged: %d; dropped %d, failed %d; the forwarder stored %d." % (
                         s["ratio"], len(s["ratios"]), ", ".join("%.2f" % r for r in s["ratios"]), s["sent"],
                         s["lost"]["dropped"], s["lost"]["failed"], result.get("stored", 0)))
        lines.append("")
    return lines


def capture_goals(result):
    if not result:
        return []
    s = capture_summary(result)
    text = "capture on keeps >= %.2fx of capture off's throughput" % GOAL_CAPTURE_RATIO
    if s["ratio"] is None:
        return [(text, result["workers"], "not measured", None)]
    measured = "%.2fx (median of %d paired runs; %.0f vs %.0f req/s)" % (s["ratio"], len(s["ratios"]), s["on"]["rps"],
                                                                      s["off"]["rps"])
    met = s["ratio"] >= GOAL_CAPTURE_RATIO
    if s["lost"]["dropped"] or s["lost"]["failed"]:
        measured += "; %d records dropped, %d failed" % (s["lost"]["dropped"], s["lost"]["failed"])
        met = False if not met else None
    return [(text, result["workers"], measured, met)]
