"""Writes the fan-out results into docs/performance.md (between markers) and a latency-vs-throughput chart."""

from __future__ import annotations

import re

from bench.fanout import ROOT

DOC = ROOT / "docs" / "performance.md"
CHART = ROOT / "docs" / "performance-fanout.png"
BEGIN, END = "<!-- bench fanout: begin (written by `python -m bench fanout`) -->", "<!-- bench fanout: end -->"


def chart(report: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    colors = {"peer": "tab:gray", "site": "tab:blue"}
    seen = set()
    for run in report["runs"]:
        steps = [s for s in run["steps"] if s["p99"] is not None]
        x = [s["delivered_per_s"] for s in steps]
        label = {"peer": "Channels tutorial (peer)", "site": "chatsite"}[run["kind"]]
        ax.plot(x, [s["p99"] for s in steps], "-o", ms=3, color=colors[run["kind"]], alpha=0.9,
                label=f"{label} p99" if run["kind"] not in seen else None)  # fmt: skip
        ax.plot(x, [s["p50"] for s in steps], ":", color=colors[run["kind"]], alpha=0.7,
                label=f"{label} p50" if run["kind"] not in seen else None)  # fmt: skip
        seen.add(run["kind"])
    ax.axhline(report["args"]["p99_ms"], color="tab:red", lw=0.8, ls="--", label="p99 bound")
    ax.set_yscale("log")
    ax.set_xlabel("delivered frames/s (all rooms)")
    ax.set_ylabel("end-to-end latency, ms (log)")
    ax.set_title(f"Room fan-out, {report['args']['rooms']} rooms x {report['args']['members']} members")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(CHART)


def table(report: dict) -> str:
    head = ["Run", "Side", "Sustained frames/s", "at offered msg/s", "p50 / p90 / p99 / max ms",
            "server CPU % (per process)", "workers CPU %", "server RSS MB", "load generator CPU %"]  # fmt: skip
    rows = ["| " + " | ".join(head) + " |", "|---:|---|---:|---:|---|---|---:|---|---:|"]
    for n, run in enumerate(report["runs"], 1):
        b, note = run["best"], ""
        if not b:  # the fastest step without loss, to show how far it was from the bound
            lossless = [s for s in run["steps"] if s["lost"] == 0 and s["p99"] is not None]
            if not lossless:
                rows.append(f"| {n} | {run['kind']} | none passed | | | | | | |")
                continue
            b, note = max(lossless, key=lambda s: s["delivered_per_s"]), " (none passed: p99 over the bound)"
        rows.append(
            f"| {n} | {run['kind']} | {b['delivered_per_s']:,.0f}{note} | {b['offered']:,.1f} |"
            f" {b['p50']:.1f} / {b['p90']:.1f} / {b['p99']:.1f} / {b['max']:.1f} |"
            f" {' + '.join(f'{c * 100:.0f}' for c in b['server_cpu'])} | {b['workers_cpu'] * 100:.0f} |"
            f" {' / '.join(f'{r:.0f}' for r in b['server_rss_mb'])} | {b['gen_cpu'] * 100:.0f} |"
        )
    return "\n".join(rows)


def write_doc(report: dict) -> None:
    chart(report)
    s, a = report["summary"], report["args"]
    lines = [
        BEGIN,
        f"Measured {report['started']} at commit {report['commit']} on {report['machine']};"
        f" load average {report['load']['before'][0]:.2f} before, {report['load']['after'][0]:.2f} after"
        " (the machine is shared with other agents).",
        "",
        f"Command: `{report['command']}`",
        "",
        f"{a['processes']} server processes per side, {a['rooms']} rooms x {a['members']} members,"
        f" {a['senders']} senders per room, steps of {a['step_seconds']:g} s at x{a['factor']} from"
        f" {a['start_rate']:g} msg/s; chatsite on `{a['server']}`, the peer on `{a['peer_server']}`,"
        f" `{a['layer']}` channel layer on both.",
        "",
        table(report),
        "",
    ]
    if "ratio" in s:
        lines.append(
            f"**Sustained fan-out (p99 <= {a['p99_ms']:g} ms, no loss): chatsite {s['site']['median']:,.0f}"
            f" frames/s, the peer {s['peer']['median']:,.0f} (medians): {s['ratio']:.2f}x.**"
        )
        lines.append("")
    facts = []
    for kind, label in (("site", "chatsite"), ("peer", "peer")):
        if kind in s and s[kind]["low_p50"] is not None:
            facts.append(f"| p50 latency at 20% of the sustained rate, {label} | {s[kind]['low_p50']:.1f} ms |")
        single = report["singles"].get(kind, {})
        if "handshakes" in single:
            hs = single["handshakes"]
            facts.append(f"| Authenticated handshakes/s on one process, {label} | {hs['per_s']:,.0f}"
                         f" (server CPU {hs['server_cpu'] * 100:.0f}%) |")  # fmt: skip
        if "idle" in single:
            idle = single["idle"]
            facts.append(
                f"| Idle memory per connection at {idle['connections']:,} connections (fresh process), {label} |"
                f" {idle['per_conn_kb']:.1f} KB ({idle['rss0_mb']:.0f} -> {idle['rss1_mb']:.0f} MB) |"
            )
    if report["persisted"]:
        p = report["persisted"]
        facts.append(f"| Messages persisted/s on PostgreSQL, {a['rooms']} rooms, {p['posters']} concurrent posters |"
                     f" {p['per_s']:,.0f} |")  # fmt: skip
    if facts:
        lines += ["| Figure | Value |", "|---|---:|", *facts, ""]
    lines += [f"![latency against delivered frames/s]({CHART.name})", "", END]
    block = "\n".join(lines)
    text = DOC.read_text()
    if BEGIN in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)
    print(f"wrote {DOC.relative_to(ROOT)} and {CHART.relative_to(ROOT)}")
