"""A self-contained HTML page for a report document (``conformance.reports.document``).

One file, no external scripts, fonts or stylesheets: a header with provenance and
verdict, a plot of each case's worst error/bound per family (inline SVG drawn here),
the summary table, the failures with their first failing elements and repro commands,
and the known deviations.  Every piece of text is escaped.
"""
from __future__ import annotations

import html
import math
import shlex
import zlib

__all__ = ["render", "case_ratio"]

COLOURS = {"passed": "#2a9d3a", "failed": "#d62728", "known-deviation": "#f0a030", "unexpected-pass": "#8e44ad"}
LABELS = {"passed": "passed", "failed": "failed", "known-deviation": "known deviation",
          "unexpected-pass": "unexpected pass"}
CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px;margin:0 0 8px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ccc}
.verdict{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-weight:600}
.ok{background:#2a9d3a} .bad{background:#d62728}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:8px 0}
dl.meta dt{font-weight:600} dl.meta dd{margin:0;font-family:monospace;word-break:break-all}
table{border-collapse:collapse;font-size:12.5px} th,td{padding:2px 8px;border-bottom:1px solid #e4e4e4}
th{background:#f3f3f3;text-align:left} td.n{text-align:right;font-family:monospace}
tr.fail td{background:#fde8e8} tr.known td{background:#fff3df}
.case{margin:10px 0;padding:6px 10px;border-left:4px solid #d62728;background:#fafafa}
.case.known{border-color:#f0a030} .case.unexpected{border-color:#8e44ad}
code,pre{font-family:monospace;font-size:12.5px} pre{white-space:pre-wrap;margin:4px 0}
.legend span{display:inline-block;margin-right:16px} .sw{width:10px;height:10px;border-radius:5px;
display:inline-block;margin-right:4px;vertical-align:middle}
"""


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _num(x):
    """A report number (float, or "inf"/"-inf"/"nan" as written in strict JSON) as a float."""
    return float(x)


def case_ratio(case):
    """The case's worst err/bound over its outputs, or None when it has no ratio (the port raised)."""
    if case.get("error") is not None or not case["outputs"]:
        return None
    return max(_num(o["worst_ratio"]) for o in case["outputs"])


def _fmt(x) -> str:
    x = _num(x)
    return "inf" if x == math.inf else ("nan" if x != x else f"{x:.3g}")


def _plot(doc) -> str:
    """SVG: one row per family, log-scale x of per-case worst err/bound, one mark per case."""
    cases = doc["cases"]
    families = sorted({f for c in cases for f in c["families"]})
    ratios = [case_ratio(c) for c in cases]
    finite = [r for r in ratios if r is not None and 0 < r < math.inf]
    lo = max(-8, min(-3, math.floor(math.log10(min(finite))))) if finite else -3
    hi = min(12, max(1, math.ceil(math.log10(max(finite))))) if finite else 1
    left, width, row_h, top = 190, 600, 24, 34
    extra = [("∞ / class", "no finite ratio: a class mismatch (e.g. NaN for a number) or an infinite one"),
             ("raised", "the port raised, hung or returned the wrong shape, dtype or keys")]
    total_w = left + width + 70 * len(extra) + 20
    height = top + row_h * len(families) + 46

    def xpos(r, case):
        if r is None:
            return left + width + 70 * 1 + 35
        bad = case["status"] in ("failed", "known-deviation")
        if r == math.inf or r != r or (bad and r <= 1):
            return left + width + 35
        lg = lo if r <= 0 else min(max(math.log10(r), lo), hi)
        return left + (lg - lo) / (hi - lo) * width

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{height}" '
           f'viewBox="0 0 {total_w} {height}" role="img" aria-label="worst error over bound per family">',
           f'<rect x="{left}" y="{top}" width="{width}" height="{row_h * len(families)}" fill="#fbfbfb" '
           f'stroke="#bbb"/>']
    for k, (label, tip) in enumerate(extra):
        x0 = left + width + 70 * k + 6
        out.append(f'<rect x="{x0}" y="{top}" width="58" height="{row_h * len(families)}" fill="#f4f0f0" '
                   f'stroke="#bbb"><title>{_e(tip)}</title></rect>')
        out.append(f'<text x="{x0 + 29}" y="{top - 8}" font-size="11" text-anchor="middle">{_e(label)}</text>')
    for d in range(lo, hi + 1):
        x = left + (d - lo) / (hi - lo) * width
        tick = "1" if d == 0 else f"1e{d}"
        tick = f"≤{tick}" if d == lo else (f"≥{tick}" if d == hi and finite and max(finite) > 10.0 ** hi else tick)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + row_h * len(families)}" '
                   f'stroke="#e2e2e2"/>')
        out.append(f'<text x="{x:.1f}" y="{top + row_h * len(families) + 14}" font-size="11" '
                   f'text-anchor="middle">{_e(tick)}</text>')
    for i, fam in enumerate(families):
        y = top + row_h * i
        out.append(f'<text x="{left - 8}" y="{y + row_h / 2 + 4}" font-size="12" text-anchor="end">{_e(fam)}</text>')
        if i:
            out.append(f'<line x1="{left}" y1="{y}" x2="{left + width}" y2="{y}" stroke="#eee"/>')
    order = {"passed": 0, "unexpected-pass": 1, "known-deviation": 2, "failed": 3}  # failures drawn on top
    for c, r in sorted(zip(cases, ratios), key=lambda p: order[p[0]["status"]]):
        x = xpos(r, c)
        jitter = (zlib.crc32(c["id"].encode()) % 1000) / 1000 * (row_h - 8) + 4
        tip = f"{c['id']} ({c['dtype']}): {LABELS[c['status']]}, worst err/bound " \
              + ("n/a (port failed)" if r is None else _fmt(r))
        for fam in c["families"]:
            y = top + row_h * families.index(fam) + jitter
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{COLOURS[c["status"]]}" '
                       f'fill-opacity="0.65"><title>{_e(tip)}</title></circle>')
    xb = left + (0 - lo) / (hi - lo) * width
    out.append(f'<line x1="{xb:.1f}" y1="{top - 4}" x2="{xb:.1f}" y2="{top + row_h * len(families)}" '
               f'stroke="#d62728" stroke-width="1.5" stroke-dasharray="4 3"/>')
    out.append(f'<text x="{xb:.1f}" y="{top - 8}" font-size="11" fill="#d62728" text-anchor="middle">'
               f'bound (err = allowed)</text>')
    out.append(f'<text x="{left + width / 2}" y="{height - 6}" font-size="12" text-anchor="middle">'
               f'worst |actual − expected| / allowed per case (log scale; 0 drawn at the floor)</text>')
    out.append("</svg>")
    return "\n".join(out)


def _meta(doc) -> str:
    port = doc.get("port") or {}
    fx = doc["fixtures"]
    s = doc["summary"]
    items = [("command", doc["command"]),
             ("port", f"{port.get('name')} (target {port.get('target')})" if port else "—"),
             ("results", (doc.get("results") or {}).get("path", "—")),
             ("dialect / level", f"{doc['dialect']} / {doc['level']}"),
             ("denormals", "flushed to zero (DAZ/FTZ)" if doc["flush_denormals"] else "kept (IEEE subnormals)"),
             ("seed / samples", f"{doc['seed']} / {doc['samples']}"),
             ("versions", ", ".join(f"{k} {v}" for k, v in doc["versions"].items() if k != "port_libraries")),
             ("port libraries", ", ".join(f"{k} {v}" for k, v in doc["versions"]["port_libraries"].items()) or "—"),
             ("fixtures", f"{fx['dir']} ({fx.get('total_cases')} cases in the manifest)"),
             ("MANIFEST.json sha256", fx["manifest_sha256"]),
             ("expectations", "none" if not doc["expectations"] else
              f"{doc['expectations']['path']} (sha256 {doc['expectations']['sha256']})"),
             ("started / wall time", f"{doc['started']} / {doc['wall_time_s']} s"),
             ("cases", f"{s['cases']} cases, {s['passed']} passed, {s['known_deviations']} known deviations, "
                       f"{s['unexpected_passes']} unexpected passes, {s['failed']} failed; "
                       f"{s['ill_elements']} ill-conditioned elements judged by their faithful sets, "
                       f"{s['unconstrained_elements']} unconstrained"
                       + "".join(f"; {r} {n}" for r, n in s["unconstrained_reasons"].items()))]
    return '<dl class="meta">' + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items) + "</dl>"


def _table(doc) -> str:
    cols = ["family", "dtype", "output", "cases", "failed", "known", "elements", "bad el.", "ill", "free", "worst ulps",
            "worst err/bound"]
    out = ["<table><tr>" + "".join(f"<th>{_e(c)}</th>" for c in cols) + "</tr>"]
    for r in doc["rows"]:
        cls = "fail" if r["failed_cases"] else ("known" if r["known_cases"] else "")
        cells = [r["family"], r["dtype"], r["output"]]
        nums = [r["cases"], r["failed_cases"], r["known_cases"], r["elements"], r["failed"], r["ill"], r["free"],
                _fmt(r["worst_ulps"]), _fmt(r["worst_ratio"])]
        out.append(f'<tr class="{cls}">' + "".join(f"<td>{_e(c)}</td>" for c in cells)
                   + "".join(f'<td class="n">{_e(n)}</td>' for n in nums) + "</tr>")
    return "\n".join(out) + "</table>"


def _case(doc, c, cls) -> str:
    parts = [f'<div class="case {cls}"><b><code>{_e(c["id"])}</code></b> ({_e(c["dtype"])}; '
             f'{_e(", ".join(c["families"]))})']
    if c.get("expectation"):
        parts.append(f"<div>{_e(LABELS[c['status']])}: {_e(c['expectation']['reason'])} "
                     f"(pattern <code>{_e(c['expectation']['pattern'])}</code>)</div>")
    if c.get("error") is not None:
        lines = c["error"].splitlines() or [""]
        parts.append(f"<pre>{_e(c['error'])}</pre>" if len(lines) <= 3 else
                     f"<details><summary><code>{_e(lines[0])}</code> …</summary>"
                     f"<pre>{_e(c['error'])}</pre></details>")
    for o in c["outputs"]:
        ff = o.get("first_failure")
        if o["failed"] and ff:
            parts.append(f"<div>{_e(o['name'])}: {o['failed']}/{o['elements']} elements unfaithful; first at "
                         f"{_e(ff['element'])}: expected <code>{_e(ff['expected'])}</code>, actual "
                         f"<code>{_e(ff['actual'])}</code>, allowed {_e(ff['allowed'])}, class {_e(ff['class'])}</div>")
    if doc.get("repro") and c["status"] != "passed":
        parts.append(f"<div>repro: <code>{_e(doc['repro'] + ' --case ' + shlex.quote(c['id']))}</code></div>")
    return "".join(parts) + "</div>"


def _cases(doc, status, cls, limit=200) -> str:
    chosen = [c for c in doc["cases"] if c["status"] == status]
    body = "\n".join(_case(doc, c, cls) for c in chosen[:limit])
    if len(chosen) > limit:
        body += f"<p>… and {len(chosen) - limit} more (all are in the JSON report).</p>"
    return body or "<p>none</p>"


def render(doc) -> str:
    """The whole page as one string."""
    ok = doc["passed"]
    port = (doc.get("port") or {}).get("name") or "results"
    title = f"RMSProp conformance: {port} vs {doc['dialect']}"
    legend = "".join(f'<span><i class="sw" style="background:{col}"></i>{_e(LABELS[s])}</span>'
                     for s, col in COLOURS.items())
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{_e(title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f'<h1>{_e(title)} <span class="verdict {"ok" if ok else "bad"}">{_e(doc["verdict"])}</span></h1>',
        _meta(doc),
        "<h2>Worst error / bound per case, by family</h2>", f'<div class="legend">{legend}</div>', _plot(doc),
        '<h2 id="summary">Summary</h2>', _table(doc),
        '<h2 id="failures">Failures</h2>', _cases(doc, "failed", ""),
        *([f'<h2 id="smallest">Smallest failing case</h2><pre>{_e(doc["smallest_failing_case"])}</pre>']
          if doc.get("smallest_failing_case") else []),
        '<h2 id="unexpected-passes">Unexpected passes</h2>', _cases(doc, "unexpected-pass", "unexpected"),
        '<h2 id="known-deviations">Known deviations</h2>', _cases(doc, "known-deviation", "known", limit=50),
        "</body></html>", ""])
