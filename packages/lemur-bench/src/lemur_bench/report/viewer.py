"""The single-file HTML trajectory viewer: every episode of a run, every turn — the prompt's last
message, the raw output, the action in each representation, the observation, reward, feedback —
with filters by benchmark and outcome (solved, failed, error). Why an episode failed (its error),
the gold answer (when given) and replies cut at ``max_new_tokens`` are shown on the episode. The data is embedded as JSON and rendered by a few lines
of plain JavaScript (no network, no external files), so the page works offline from disk.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from lemur_core import EpisodeRecord, atomic_write_text

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Lemur trajectories</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em}pre{white-space:pre-wrap;background:#f7f7f7;
padding:6px;margin:2px 0;font-size:12px}.ep{border:1px solid #ccc;margin:8px 0;padding:6px}
.ok{border-left:6px solid #2a2}.bad{border-left:6px solid #c33}.turn{margin-left:1em;border-top:1px dashed #ddd}
summary{cursor:pointer}.k{color:#555;font-size:12px}.err{color:#c33;font-weight:bold}
.trunc{color:#b60;font-size:12px;font-weight:bold}.errep{border-left:6px solid #f90}
</style></head><body>
<h1>Lemur trajectories</h1>
<p id="stats"></p>
<label>benchmark <select id="bench"><option value="">all</option></select></label>
<label>outcome <select id="outcome"><option value="">all</option><option value="1">solved</option>
<option value="0">failed</option><option value="error">model/env error</option></select></label>
<div id="episodes"></div>
<script id="data" type="application/json">__DATA__</script>
<script>
const episodes = JSON.parse(document.getElementById('data').textContent);
const benchSel = document.getElementById('bench'), outSel = document.getElementById('outcome');
[...new Set(episodes.map(e => e.benchmark))].sort().forEach(b => {
  const o = document.createElement('option'); o.value = b; o.textContent = b; benchSel.appendChild(o); });
function el(tag, cls, text) { const n = document.createElement(tag); if (cls) n.className = cls;
  if (text !== undefined) n.textContent = text; return n; }
function render() {
  const root = document.getElementById('episodes'); root.replaceChildren();
  const isError = e => e.termination === 'model_error' || e.termination === 'env_error';
  const shown = episodes.filter(e => (!benchSel.value || e.benchmark === benchSel.value) &&
    (!outSel.value || (outSel.value === 'error' ? isError(e) : String(Number(e.success)) === outSel.value)));
  document.getElementById('stats').textContent =
    `${shown.length} of ${episodes.length} episodes, ${shown.filter(e => e.success).length} solved, ${shown.filter(isError).length} ended in a model/env error`;
  for (const e of shown) {
    const d = el('details', 'ep ' + (e.success ? 'ok' : (isError(e) ? 'errep' : 'bad')));
    d.dataset.episode = e.episode_id;
    d.appendChild(el('summary', null, `${e.episode_id} — ${e.termination} — ${e.turns.length} turn(s) — score ${e.score}`));
    d.appendChild(el('div', 'k', `model ${e.model} · env ${e.env_id || '-'} · isolation ${e.sandbox_isolation || '-'} · config ${String(e.config_sha256 || '').slice(0, 12)}`));
    if (e.info && e.info.error) d.appendChild(el('div', 'err', `why it ended: ${e.info.error}`));
    if (e._gold !== undefined && e._gold !== null) {
      d.appendChild(el('div', 'k', 'gold answer')); d.appendChild(el('pre', 'gold', e._gold)); }
    e.turns.forEach(t => {
      const tn = el('div', 'turn');
      tn.appendChild(el('b', null, `turn ${t.index + 1}  reward ${t.reward}`));
      const last = t.prompt.length ? t.prompt[t.prompt.length - 1] : null;
      if (last) { tn.appendChild(el('div', 'k', `prompt (last ${last.role} message)`)); tn.appendChild(el('pre', null, last.content)); }
      tn.appendChild(el('div', 'k', 'model output')); tn.appendChild(el('pre', 'raw', t.raw_output));
      if (t._truncated) tn.appendChild(el('div', 'trunc', `reply cut at max_new_tokens (${t.completion_tokens} tokens)`));
      if (t.info && t.info.error) tn.appendChild(el('div', 'err', `error: ${t.info.error}`));
      for (const [rep, text] of Object.entries(t.action_representations || {})) {
        tn.appendChild(el('div', 'k', `action (${rep})`)); tn.appendChild(el('pre', 'action', text)); }
      if (t.parse_error) { tn.appendChild(el('div', 'k', 'parse error')); tn.appendChild(el('pre', null, t.parse_error)); }
      tn.appendChild(el('div', 'k', 'observation')); tn.appendChild(el('pre', 'obs', t.observation));
      if (t.feedback) { tn.appendChild(el('div', 'k', 'feedback')); tn.appendChild(el('pre', null, t.feedback)); }
      d.appendChild(tn);
    });
    root.appendChild(d);
  }
}
benchSel.onchange = render; outSel.onchange = render; render();
</script></body></html>
"""


def write_viewer(
    records: list[EpisodeRecord],
    out: Path,
    *,
    gold: Mapping[tuple[str, str], str] | None = None,
    max_new_tokens: int | None = None,
) -> Path:
    """Write the viewer of ``records`` to ``out`` (one self-contained HTML file).

    ``gold`` maps ``(benchmark, task_id)`` to the task's gold answer, shown on its episodes; a
    turn whose ``completion_tokens`` reached ``max_new_tokens`` is marked as cut there.
    """
    rows = []
    for record in records:
        row = record.model_dump(mode="json")
        row["_gold"] = (gold or {}).get((record.benchmark, record.task_id))
        for turn in row["turns"]:
            used = turn.get("completion_tokens")
            turn["_truncated"] = bool(
                max_new_tokens and used is not None and used >= max_new_tokens
            )
        rows.append(row)
    data = json.dumps(rows, ensure_ascii=False)
    # "</" inside the JSON would end the <script> element early.
    data = data.replace("</", "<\\/")
    return atomic_write_text(out, _PAGE.replace("__DATA__", data))
