"""The HTML run report: one self-contained file that opens offline from disk.

:func:`write_run_report` reads a run directory (:func:`~tvd.report.run_files.read_run_dir`), computes its
figures (:func:`~tvd.report.run_data.report_data`) and writes ``report.html``: the run summary with a bar chart
of every completion's fate, the students compared with standard-error bars, per-intent and per-slot deltas,
confusion matrices, the searchable table of every utterance (slots coloured per label, label on hover; reason;
the prompt it came from, collapsible), the slot values the teacher wrote (counts, novelty, plausibility) and
template diversity.  ``tvd run`` and ``tvd generate`` call :func:`try_write_run_report` at the end, ``tvd report``
calls :func:`write_run_report`.

Self-contained means no request leaves the page: styles and script are inline, charts are inline SVG
(:mod:`tvd.report.svg`), and a Content-Security-Policy (``default-src 'none'``) makes the browser refuse any
fetch, so the file reads the same on a train as at a desk.  Static parts are rendered here (readable with
JavaScript off); the table is drawn by a small inline script from the rows embedded as JSON, so filtering
thousands of rows stays instant.  The search box, status / reason / label filters can be set by the URL
fragment (``report.html#q=paris&status=kept,filtered&label=city``; what it leaves out is reset).  Every text of
the run is escaped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from tvd.data.atomic import atomic_write_text
from tvd.report.run_data import FAILED, FILTERED, KEPT, REJECTED, REVALUED, STATUSES, ReportData, report_data
from tvd.report.run_files import CLASP, read_run_dir
from tvd.report.svg import PALETTE, Bar, BarGroup, bar_chart

REPORT_FILE = "report.html"
#: values listed per slot label (the most frequent first); the rest are counted
VALUES_SHOWN = 60

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"

STATUS_TEXT = {
    KEPT: "kept",
    REVALUED: "re-valued",
    FILTERED: "filtered",
    REJECTED: "rejected",
    FAILED: "failed",
}

CSS = """
:root{--ink:#1d2327;--muted:#5f6b73;--line:#dde3e7;--bg:#ffffff;--panel:#f6f8f9;--accent:#1565c0;
--kept:#2e7d32;--revalued:#1565c0;--filtered:#ef8f00;--rejected:#c62828;--failed:#616161}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink);
background:var(--bg)}
header{padding:14px 24px 10px;border-bottom:1px solid var(--line);background:var(--panel)}
header h1{margin:0;font-size:20px;font-weight:600}
header .sub{color:var(--muted);margin-top:2px}
nav{position:sticky;top:0;z-index:5;background:#fff;border-bottom:1px solid var(--line);padding:6px 24px;
display:flex;flex-wrap:wrap;gap:2px 0}
nav a{margin-right:16px;color:var(--accent);text-decoration:none;font-weight:500}
main{padding:4px 24px 40px;max-width:1280px}
section{margin-top:18px;scroll-margin-top:64px}
h2{font-size:17px;margin:18px 0 8px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:14px;margin:14px 0 6px}
p.note{color:var(--muted);margin:4px 0 8px;max-width:900px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 14px;min-width:118px;background:#fff}
.card .n{font-size:22px;font-weight:600}
.card .t{color:var(--muted);font-size:12px}
.card.kept .n{color:var(--kept)}.card.revalued .n{color:var(--revalued)}.card.filtered .n{color:var(--filtered)}
.card.rejected .n{color:var(--rejected)}.card.failed .n{color:var(--failed)}
.cols{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
table{border-collapse:collapse}
div.facts{max-width:620px}p.note.narrow{max-width:560px}
table.facts td{padding:2px 12px 2px 0;vertical-align:top;overflow-wrap:anywhere}
table.facts td:first-child{color:var(--muted);white-space:nowrap}
table.grid th,table.grid td{border-bottom:1px solid var(--line);padding:3px 8px;text-align:right;white-space:nowrap}
table.grid th{font-weight:600;background:var(--panel)}
table.grid th:first-child,table.grid td:first-child{text-align:left}
td.pos{background:rgba(46,125,50,var(--a))}td.neg{background:rgba(198,40,40,var(--a))}
svg.chart{font:12px system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;fill:var(--ink);
max-width:100%;height:auto}
svg .grid{stroke:#e8ecef}svg .axis,svg .zero{stroke:#8a949b}svg .tick{fill:var(--muted);font-size:11px}
svg .whisker{stroke:#1d2327;stroke-width:1.2;fill:none}svg .value{font-size:11px}
svg .chart-title{font-weight:600}
table.confusion td,table.confusion th{border:1px solid var(--line);padding:2px 5px;text-align:center;
font-size:12px;min-width:28px}
table.confusion th.gold{text-align:right;white-space:nowrap}
table.confusion th.pred{height:110px;vertical-align:bottom;padding:2px}
table.confusion th.pred span{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap}
table.confusion td.diag{font-weight:600}
.controls{display:flex;flex-wrap:wrap;gap:10px 16px;align-items:center;margin:8px 0;padding:8px 10px;
background:var(--panel);border:1px solid var(--line);border-radius:6px}
.controls input[type=search]{width:280px;padding:5px 8px;font-size:14px;border:1px solid #b9c3c9;border-radius:4px}
.controls select{padding:4px}
.controls label{white-space:nowrap}
#count{color:var(--muted)}
table.data{width:100%;table-layout:fixed}
table.data th{position:sticky;top:33px;background:var(--panel);text-align:left;font-weight:600;
border-bottom:1px solid var(--line);padding:4px 6px;z-index:2}
table.data td{border-bottom:1px solid var(--line);padding:5px 6px;vertical-align:top;overflow-wrap:anywhere}
table.data col.status{width:92px}table.data col.reason{width:170px}table.data col.request{width:250px}
.badge{display:inline-block;padding:0 7px;border-radius:9px;font-size:12px;color:#fff;font-weight:500}
.badge.kept{background:var(--kept)}.badge.revalued{background:var(--revalued)}.badge.filtered{background:var(--filtered)}
.badge.rejected{background:var(--rejected)}.badge.failed{background:var(--failed)}
mark.slot{position:relative;border-radius:3px;padding:0 2px;border-bottom:2px solid var(--b);background:var(--c);
color:inherit}
mark.slot:hover::after{content:attr(data-label);position:absolute;left:0;bottom:100%;background:#263238;color:#fff;
font-size:11px;padding:1px 5px;border-radius:3px;white-space:nowrap;z-index:3}
.chip{display:inline-block;margin:2px 6px 2px 0;padding:0 6px;border-radius:3px;border-bottom:2px solid var(--b);
background:var(--c);font-size:12px}
.raw{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12.5px}
.sub-note{color:var(--muted);font-size:12px;margin-top:2px}
details.prompt summary{cursor:pointer;color:var(--accent);font-size:12px}
tr.prompt-row td{background:var(--panel);padding:4px 12px 8px}
tr.prompt-row pre{background:#fff !important}
tr.prompt-row pre,pre.tree{white-space:pre-wrap;font-size:12px;background:var(--panel);border:1px solid var(--line);
padding:6px 8px;margin:4px 0;max-height:360px;overflow:auto}
pre.tree{max-height:none;white-space:pre;margin:0 0 4px}
div.trees{display:flex;flex-wrap:wrap;gap:0 12px}
button{padding:4px 10px;font-size:13px;cursor:pointer}
details.values{margin:4px 0;border:1px solid var(--line);border-radius:5px;padding:4px 10px}
details.values summary{cursor:pointer}
details.values table{margin:6px 0}
.yes{color:var(--kept);font-weight:600}
#js-errors{display:none;background:#ffebee;color:#b71c1c;padding:8px 24px}
"""

SCRIPT = r"""
(function(){
"use strict";
var D=JSON.parse(document.getElementById("report-data").textContent);
var PAGE=100,limit=PAGE;
var q=document.getElementById("q"),reason=document.getElementById("reason"),label=document.getElementById("label");
var body=document.getElementById("rows"),count=document.getElementById("count"),more=document.getElementById("more");
var boxes=Array.prototype.slice.call(document.querySelectorAll("input[data-status]"));
var NAMES={kept:"kept",revalued:"re-valued",filtered:"filtered",rejected:"rejected",failed:"failed"};
D.rows.forEach(function(r){
  var parts=[r.text,r.reason,r.note,r.request];
  (r.trees||[]).forEach(function(t){parts.push(t[1]);});
  r.spans.forEach(function(s){parts.push(s[2]);});
  r.hay=parts.join("\n").toLowerCase();
  r.labels={};r.spans.forEach(function(s){r.labels[s[2]]=1;});
});
function el(tag,cls,text){
  var e=document.createElement(tag);if(cls)e.className=cls;if(text!==undefined)e.textContent=text;return e;
}
function utterance(r){
  var cell=el("div",r.spans.length?"":(r.status==="rejected"||r.status==="failed"?"raw":""));
  var at=0;
  r.spans.forEach(function(s){
    if(s[0]>at)cell.appendChild(document.createTextNode(r.text.slice(at,s[0])));
    var m=el("mark","slot",r.text.slice(s[0],s[1]));var c=D.colours[s[2]]||["#eee","#999"];
    m.style.setProperty("--c",c[0]);m.style.setProperty("--b",c[1]);m.title=s[2];m.setAttribute("data-label",s[2]);
    cell.appendChild(m);at=s[1];
  });
  if(at<r.text.length)cell.appendChild(document.createTextNode(r.text.slice(at)));
  if(!r.text)cell.appendChild(el("i","","(empty)"));
  return cell;
}
function row(r){
  var tr=document.createElement("tr");
  var a=el("td");a.appendChild(el("span","badge "+r.status,NAMES[r.status]||r.status));tr.appendChild(a);
  var b=el("td");b.appendChild(utterance(r));
  if(r.note)b.appendChild(el("div","sub-note",r.note));
  if(r.trees){
    var box=el("div","trees");
    r.trees.forEach(function(t){
      var f=el("div");f.appendChild(el("div","sub-note",t[0]));f.appendChild(el("pre","tree",t[1]));box.appendChild(f);
    });
    b.appendChild(box);
  }
  tr.appendChild(b);
  tr.appendChild(el("td","",r.reason));
  var d=el("td");
  if(r.request){
    var p=D.prompts[r.request];
    if(p){
      var det=el("details","prompt");det.appendChild(el("summary","",r.request));
      det.addEventListener("toggle",function(){
        if(det.open){
          var full=el("tr","prompt-row"),cell=el("td");cell.colSpan=4;
          cell.appendChild(el("div","sub-note","the prompt of "+r.request+" (what the teacher was sent)"));
          cell.appendChild(el("pre","",p));full.appendChild(cell);tr.after(full);det.row=full;
        }else if(det.row){det.row.remove();det.row=null;}
      });
      d.appendChild(det);
    }else{d.appendChild(el("span","raw",r.request));}
  }
  tr.appendChild(d);
  return tr;
}
function wanted(){
  var on={};boxes.forEach(function(b){if(b.checked)on[b.getAttribute("data-status")]=1;});
  var terms=q.value.toLowerCase().split(/\s+/).filter(Boolean),why=reason.value,lab=label.value;
  return D.rows.filter(function(r){
    if(!on[r.status])return false;
    if(why&&r.reason!==why)return false;
    if(lab&&!r.labels[lab])return false;
    for(var i=0;i<terms.length;i++){if(r.hay.indexOf(terms[i])<0)return false;}
    return true;
  });
}
function draw(){
  var rows=wanted(),frag=document.createDocumentFragment();
  rows.slice(0,limit).forEach(function(r){frag.appendChild(row(r));});
  body.textContent="";body.appendChild(frag);
  body.setAttribute("data-shown",String(Math.min(rows.length,limit)));
  body.setAttribute("data-matching",String(rows.length));
  count.textContent=rows.length+" of "+D.rows.length+" rows"+(rows.length>limit?" (first "+limit+" shown)":"");
  more.style.display=rows.length>limit?"":"none";
}
function fromHash(){
  var h=decodeURIComponent(location.hash.replace(/^#/,""));
  if(!h)return;
  q.value="";reason.value="";label.value="";boxes.forEach(function(b){b.checked=true;});
  h.split("&").forEach(function(kv){
    var i=kv.indexOf("="),k=i<0?kv:kv.slice(0,i),v=i<0?"":kv.slice(i+1);
    if(k==="q")q.value=v;
    if(k==="reason")reason.value=v;
    if(k==="label")label.value=v;
    if(k==="status"){
      var s=v.split(",");boxes.forEach(function(b){b.checked=s.indexOf(b.getAttribute("data-status"))>=0;});
    }
  });
}
function reset(){limit=PAGE;draw();}
q.addEventListener("input",reset);reason.addEventListener("change",reset);label.addEventListener("change",reset);
boxes.forEach(function(b){b.addEventListener("change",reset);});
more.addEventListener("click",function(){limit=D.rows.length;draw();});
window.addEventListener("hashchange",function(){fromHash();reset();});
fromHash();draw();
document.body.setAttribute("data-ready","1");
})();
"""

ERROR_CATCHER = (
    "window.addEventListener('error',function(e){var b=document.getElementById('js-errors');"
    "if(b){b.style.display='block';b.textContent='report script error: '+e.message;}});"
)


# -- helpers -------------------------------------------------------------------------------------------------


def percent(value: float | None, *, signed: bool = False, digits: int = 1) -> str:
    """A proportion as a percentage (``0.912`` -> ``91.2``), ``+`` when ``signed``; ``-`` for None."""
    if value is None:
        return "-"
    return f"{100 * value:+.{digits}f}" if signed else f"{100 * value:.{digits}f}"


def share(value: float | None) -> str:
    """A proportion as a whole percentage with its sign (``0.853`` -> ``85%``); ``-`` for None."""
    return "-" if value is None else f"{100 * value:.0f}%"


def label_colours(labels: Sequence[str]) -> dict[str, tuple[str, str]]:
    """A (background, border) colour per slot label, spread around the colour wheel by the golden angle, so
    neighbouring labels differ and the same label keeps its colour in every part of one report."""
    colours = {}
    for k, label in enumerate(sorted(labels)):
        hue = (k * 137.508 + 200) % 360
        colours[label] = (f"hsl({hue:.0f} 85% 86%)", f"hsl({hue:.0f} 60% 42%)")
    return colours


def json_for_script(value: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``<``, so no ``</script>`` can end it early."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def page(title: str, subtitle: str, nav: Sequence[tuple[str, str]], body: str, *, data: Any = None) -> str:
    """A whole HTML page: the CSS, a header, a sticky navigation bar, ``body`` and, with ``data``, the embedded
    JSON and the table script."""
    links = "".join(f'<a href="#{escape(anchor)}">{escape(text)}</a>' for anchor, text in nav)
    script = ""
    if data is not None:
        script = (
            f'<script type="application/json" id="report-data">{json_for_script(data)}</script>'
            f"<script>{SCRIPT}</script>"
        )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style><script>{ERROR_CATCHER}</script></head>\n"
        f'<body><div id="js-errors"></div><header><h1>{escape(title)}</h1>'
        f'<div class="sub">{escape(subtitle)}</div></header>'
        f"<nav>{links}</nav><main>{body}</main>{script}</body></html>\n"
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "grid") -> str:
    """A table of already-escaped cell HTML."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(cell if cell.startswith("<td") else f"<td>{cell}</td>" for cell in row) + "</tr>"
                   for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _delta_cell(delta: float | None, scale: float = 0.2) -> str:
    """A signed percentage-point cell, green when positive and red when negative, stronger for larger changes."""
    if delta is None:
        return "<td>-</td>"
    strength = min(abs(delta) / scale, 1.0) * 0.55 + (0.08 if delta else 0.0)
    cls = "pos" if delta > 0 else "neg" if delta < 0 else ""
    return f'<td class="{cls}" style="--a:{strength:.2f}">{percent(delta, signed=True)}</td>'


# -- sections -----------------------------------------------------------------------------------------------


def _cards(data: ReportData) -> str:
    counts = data.status_counts()
    cards = []
    for status in STATUSES:
        if status in counts or status in (KEPT, REJECTED):
            cards.append(
                f'<div class="card {status}"><div class="n">{counts.get(status, 0):,}</div>'
                f'<div class="t">{escape(STATUS_TEXT[status])}</div></div>'
            )
    for row in data.comparison:
        if "delta" in row and (row["metric"].endswith("slot F1") or row["metric"].endswith("recall")):
            if data.intent and not row["metric"].startswith(data.intent):
                continue
            cards.append(
                f'<div class="card"><div class="n">{percent(row["delta"], signed=True)}</div>'
                f'<div class="t">{escape(row["metric"])}, points</div></div>'
            )
    return f'<div class="cards">{"".join(cards)}</div>'


def _outcome_chart(data: ReportData) -> str:
    groups = [
        BarGroup(
            f"{STATUS_TEXT.get(o['group'], o['group'])}: {o['label']}" if o["group"] in (FILTERED, REJECTED, FAILED)
            else o["label"],
            [Bar(o["group"], o["count"], colour=PALETTE.get(o["group"]), text=f"{o['count']:,}")],
        )
        for o in data.outcomes
    ]
    return bar_chart(groups, fmt=lambda v: f"{v:,.0f}", legend=False, width=560, label_width=230, bar_height=14)


def _summary(data: ReportData) -> str:
    facts = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in data.facts)
    total = sum(o["count"] for o in data.outcomes if o["group"] != REVALUED)
    note = (
        "Every completion ends in one bar: kept (training data), removed by a filter (its reason), rejected by "
        "validation (its reason) or failed after its retries; re-valued variants are added to the kept ones."
    )
    return (
        '<section id="summary"><h2>Run summary</h2>'
        f"{_cards(data)}"
        f'<div class="cols"><div class="facts"><table class="facts">{facts or "<tr><td>no run.json</td></tr>"}'
        f'</table></div><div><h3>What became of the {total:,} completions</h3>{_outcome_chart(data)}'
        f'<p class="note narrow">{escape(note)}</p></div></div></section>'
    )


def _comparison_chart(data: ReportData) -> str:
    groups = []
    for row in data.comparison:
        bars = [
            Bar(name, value, se, colour=PALETTE.get(name), text=f"{100 * value:.1f}")
            for name, (value, se) in row["values"].items()
        ]
        groups.append(BarGroup(row["metric"], bars))
    return bar_chart(
        groups, colours={k: v for k, v in PALETTE.items() if k in ("baseline", "augmented")},
        fmt=lambda v: f"{100 * v:.0f}", domain=(0.0, 1.0), width=600, label_width=190,
    )


def _students(data: ReportData) -> str:
    if data.kind == CLASP:
        return (
            '<section id="students"><h2>Students</h2><p class="note">A CLASP run trains no student: train the parser '
            "on its generated.jsonl with <code>tvd parser train</code> and score it with <code>tvd parser evaluate"
            "</code>.</p></section>"
        )
    if not data.comparison and not data.seed_validation and not data.confusion:
        return (
            '<section id="students"><h2>Students</h2><p class="note">No students in this run (tvd generate, or no '
            "test set): run <code>tvd run</code> with <code>data.test</code> to compare them.</p></section>"
        )
    parts = ['<section id="students"><h2>Student comparison</h2>']
    if data.comparison:
        names = list(dict.fromkeys(n for row in data.comparison for n in row["values"]))
        rows = []
        for row in data.comparison:
            cells = [escape(row["metric"])]
            for name in names:
                pair = row["values"].get(name)
                cells.append(f"{percent(pair[0])} ± {percent(pair[1])}" if pair else "-")
            if len(names) == 2:
                cells.append(_delta_cell(row.get("delta")))
            rows.append(cells)
        headers = ["metric", *map(escape, names)] + (["delta (points)"] if len(names) == 2 else [])
        parts.append(
            f'<div class="cols"><div>{_comparison_chart(data)}</div><div>{_table(headers, rows)}</div></div>'
            '<p class="note">Test-set scores in percent, ± one standard error (whiskers in the chart); the '
            "delta is augmented minus baseline, in points.</p>"
        )
    if data.seed_validation:
        parts.append(_seed_validation(data.seed_validation))
    if data.intent_deltas:
        rows = []
        for r in data.intent_deltas:
            cells = [escape(r["intent"]) + (" <b>(new)</b>" if r["intent"] == data.intent else ""), f"{r['support']}"]
            for metric in ("recall", "precision", "slot_f1"):
                m = r[metric]
                cells += [percent(m["baseline"]), percent(m["augmented"]), _delta_cell(m["delta"])]
            rows.append(cells)
        headers = ["intent", "support"] + [
            f"{name} {part}" for name in ("recall", "precision", "slot F1") for part in ("base", "aug", "Δ")
        ]
        parts.append(
            "<h3>Per intent (sorted by the change in recall)</h3>" + _table(headers, rows)
        )
    columns = []
    if data.slot_deltas:
        rows = [
            [escape(r["label"]), f"{r['n_gold']}", percent(r["baseline"]), percent(r["augmented"]),
             _delta_cell(r["delta"])]
            for r in data.slot_deltas
        ]
        columns.append(
            "<div><h3>Per slot label: F1 (sorted by the change)</h3>"
            + _table(["slot label", "gold", "baseline", "augmented", "Δ"], rows)
            + "</div>"
        )
    if data.confusion:
        order = [n for n in ("augmented", "baseline") if n in data.confusion] + sorted(
            n for n in data.confusion if n not in ("augmented", "baseline")
        )
        columns.append(
            "<div>"
            + "".join(
                f"<h3>{escape(name)} student: intent confusion</h3>{confusion_table(data.confusion[name])}"
                f'<p class="note">rows: gold intent; columns: predicted; {data.confusion[name]["n"]:,} test '
                "utterances</p>"
                for name in order
            )
            + "</div>"
        )
    if columns:
        parts.append(f'<div class="cols">{"".join(columns)}</div>')
    parts.append("</section>")
    return "".join(parts)


def _seed_validation(validation: Mapping[str, Any]) -> str:
    delta, se = validation.get("delta") or {}, validation.get("delta_se") or {}
    rows = []
    for metric, label in (("slot_f1", "slot F1"), ("ic_recall", "recall"), ("ic_precision", "precision")):
        base = (validation.get("baseline") or {}).get(metric)
        aug = (validation.get("augmented") or {}).get(metric)
        rows.append([label, percent(base), percent(aug),
                     _delta_cell(delta.get(metric)), percent(se.get(metric)) if metric in se else "-"])
    verdict = validation.get("verdict")
    note = (
        f"{validation.get('folds')} folds of the {validation.get('n_seeds')} seeds (no test set needed; optimistic: "
        f"the teacher saw every seed). Verdict: {verdict}."
    )
    return (
        "<h3>Seed cross-validation</h3>"
        + _table(["on held-out seeds", "baseline", "augmented", "Δ", "SE of Δ"], rows)
        + f'<p class="note">{escape(note)}</p>'
    )


def confusion_table(confusion: Mapping[str, Any]) -> str:
    """An intent confusion matrix as a table, each cell shaded by its share of the gold row (the diagonal green,
    errors red)."""
    labels, matrix = confusion["labels"], confusion["matrix"]
    head = '<th></th>' + "".join(f'<th class="pred"><span>{escape(lab)}</span></th>' for lab in labels)
    rows = []
    for i, gold in enumerate(labels):
        total = sum(matrix[i]) or 1
        cells = []
        for j, n in enumerate(matrix[i]):
            share = n / total
            if not n:
                cells.append("<td></td>")
                continue
            rgb = "46,125,50" if i == j else "198,40,40"
            alpha = 0.12 + 0.6 * share
            cls = ' class="diag"' if i == j else ""
            cells.append(f'<td{cls} style="background:rgba({rgb},{alpha:.2f})" title="{escape(gold)} -> '
                         f'{escape(labels[j])}: {n}">{n}</td>')
        rows.append(f'<tr><th class="gold">{escape(gold)}</th>{"".join(cells)}</tr>')
    return f'<table class="confusion"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _legend(data: ReportData, colours: Mapping[str, tuple[str, str]]) -> str:
    chips = "".join(
        f'<span class="chip" style="--c:{colours[lab][0]};--b:{colours[lab][1]}">{escape(lab)}</span>'
        for lab in data.labels
    )
    return f'<div class="legend">{chips}</div>' if chips else ""


def _data_section(data: ReportData, colours: Mapping[str, tuple[str, str]]) -> str:
    counts = data.status_counts()
    boxes = "".join(
        f'<label><input type="checkbox" data-status="{s}" checked> {escape(STATUS_TEXT[s])} ({counts[s]:,})</label>'
        for s in STATUSES
        if s in counts
    )
    reasons = sorted({row["reason"] for row in data.rows if row["reason"]})
    reason_options = '<option value="">any reason</option>' + "".join(
        f'<option value="{escape(r)}">{escape(r)}</option>' for r in reasons
    )
    label_options = '<option value="">any slot label</option>' + "".join(
        f'<option value="{escape(lab)}">{escape(lab)}</option>' for lab in data.labels
    )
    if data.kind == CLASP:
        what = "utterance (slot nodes coloured by label) and its parse, as indented brackets"
        note = (
            "Every output of the run, one row each: the kept (utterance, parse) pairs of generated.jsonl with their "
            "TOP tree and, for English, the EXR it resolves to; the outputs validation rejected (raw teacher output "
            "and the parse that was asked for), and failed requests. Hover a slot for its label."
        )
    else:
        what = "utterance (slots coloured by label)"
        note = (
            "Every output of the run, one row each: the kept utterances (generated.jsonl), their re-valued "
            "variants, those a filter removed and those validation rejected (raw teacher output), and failed "
            "requests. Hover a slot for its label; open a request to see the prompt it came from."
        )
    return (
        f'<section id="data"><h2>The data</h2><p class="note">{escape(note)}</p>{_legend(data, colours)}'
        f'<div class="controls"><input type="search" id="q" placeholder="search text, label, reason, request..." '
        f'aria-label="search">{boxes}<select id="reason" aria-label="reason">{reason_options}</select>'
        f'<select id="label" aria-label="slot label">{label_options}</select><span id="count"></span></div>'
        '<table class="data"><colgroup><col class="status"><col><col class="reason"><col class="request"></colgroup>'
        f"<thead><tr><th>status</th><th>{escape(what)}</th><th>reason</th><th>request / prompt</th></tr></thead>"
        '<tbody id="rows"></tbody></table><p><button id="more" type="button" style="display:none">show all</button>'
        "</p></section>"
    )


def _values_section(data: ReportData, colours: Mapping[str, tuple[str, str]]) -> str:
    if not data.slot_values:
        return ""
    blocks = []
    for entry in data.slot_values:
        label = entry["label"]
        c = colours.get(label, ("#eee", "#999"))
        facts = [f"{entry['distinct']:,} values, {entry['distinct_kept']:,} in kept utterances"]
        if entry["novel_share"] is not None:
            facts.append(f"{share(entry['novel_share'])} of those new (not among the seeds')")
        if entry["plausible_share"] is not None:
            facts.append(
                f"plausible: {share(entry['plausible_share'])} of {entry['plausible_judged']:,} wildcard fillings "
                "passed"
            )
        rows = []
        for v in entry["values"][:VALUES_SHOWN]:
            novel = "-" if v["novel"] is None else ('<span class="yes">new</span>' if v["novel"] else "seed")
            rows.append([
                f'<span class="chip" style="--c:{c[0]};--b:{c[1]}">{escape(v["value"])}</span>',
                f"{v['kept']}", f"{v['filtered']}", f"{v['wildcard']}", f"{v['revalued']}", novel,
            ])
        rest = len(entry["values"]) - VALUES_SHOWN
        more = f'<p class="note">... and {rest:,} more values.</p>' if rest > 0 else ""
        table = _table(["value", "kept", "filtered", "as wildcard", "re-valued into", "novelty"], rows)
        blocks.append(
            f'<details class="values"><summary><span class="chip" style="--c:{c[0]};--b:{c[1]}">{escape(label)}'
            f"</span> {escape(' · '.join(facts))}</summary>{table}{more}</details>"
        )
    note = (
        "The values the teacher wrote, per slot label: in kept utterances, in filtered ones, how often as the "
        "filling of a wildcard (the prompt asked for a new value), how often the re-valuing put the value into a "
        "kept template; new = not among the seed utterances' values of that label. The plausibility share counts "
        "a wildcard value as passed when its utterance went past the plausible filter."
    )
    return f'<section id="values"><h2>Slot values</h2><p class="note">{escape(note)}</p>{"".join(blocks)}</section>'


def _templates_section(data: ReportData) -> str:
    t = data.templates
    if not t or not t.get("utterances"):
        return ""
    rows = [[f'<span class="raw">{escape(template)}</span>', f"{n}"] for template, n in t["top"]]
    repeated = _table(["repeated template", "kept utterances"], rows) if rows else "<p>No template repeats.</p>"
    return (
        '<section id="templates"><h2>Template diversity</h2>'
        f'<p>{t["distinct"]:,} distinct templates among {t["utterances"]:,} kept utterances '
        f"({share(t['share'])} distinct). A template is the utterance with each slot value replaced by "
        "its label.</p>"
        f"{repeated}</section>"
    )


# -- the page ------------------------------------------------------------------------------------------------


def render_run_report(data: ReportData, *, written: datetime | None = None) -> str:
    """The report page of ``data`` (see the module docstring)."""
    written = written or datetime.now(UTC)
    colours = label_colours(data.labels)
    kind = "CLASP run" if data.kind == CLASP else "LINGUIST run"
    subtitle = f"{kind}" + (f" · new intent {data.intent}" if data.intent else "")
    subtitle += f" · report written {written.strftime('%Y-%m-%d %H:%M UTC')}"
    nav = [("summary", "Summary"), ("students", "Students"), ("data", "Data")]
    if data.slot_values:
        nav.append(("values", "Slot values"))
    if data.templates.get("utterances"):
        nav.append(("templates", "Templates"))
    body = (
        _summary(data)
        + _students(data)
        + _data_section(data, colours)
        + _values_section(data, colours)
        + _templates_section(data)
    )
    embedded = {"rows": data.rows, "prompts": data.prompts, "colours": colours}
    return page(f"tvd report: {data.name}", subtitle, nav, body, data=embedded)


def write_run_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of the run directory ``run_dir`` to ``out`` (default ``run_dir/report.html``),
    atomically; returns its path.  E470 when ``run_dir`` is not a run directory, E471 for a malformed file."""
    run_dir = Path(run_dir)
    data = report_data(read_run_dir(run_dir))
    path = Path(out) if out is not None else run_dir / REPORT_FILE
    atomic_write_text(path, render_run_report(data))
    return path


def try_write_run_report(run_dir: str | Path, log: Callable[[str], Any] = print) -> Path | None:
    """:func:`write_run_report` for the jobs: a failure is logged as a warning and None returned, never raised,
    since the report only shows files the job has already written (``tvd report RUN_DIR`` retries it)."""
    try:
        return write_run_report(run_dir)
    except Exception as exc:  # the run's results are on disk: the view of them must not fail the run
        log(f"warning: {REPORT_FILE} not written ({type(exc).__name__}: {exc}); `tvd report {run_dir}` retries")
        return None
