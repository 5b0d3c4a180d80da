// The filmstrip: one cell per frame with its thumbnail (masks blended in), its estimated quality as a
// bar coloured and sized by the frame's place in this video (red: the lowest estimate, green: the highest;
// "unknown" where the estimate is out of date), and badges for annotated frames, frames with strokes not run
// yet and the recommendation.

export function qualityColour(q) {
  // red (0) -> amber (0.5) -> green (1)
  const t = Math.max(0, Math.min(1, q));
  const from = t < 0.5 ? [214, 69, 69] : [242, 183, 5];
  const to = t < 0.5 ? [242, 183, 5] : [46, 157, 91];
  const u = t < 0.5 ? t * 2 : (t - 0.5) * 2;
  const c = from.map((v, i) => Math.round(v + (to[i] - v) * u));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

// A frame's estimate in words: "0.86 (the 3rd lowest of 25 frames)", "unknown (why)", or "" before any result.
export function qualityText(state, t) {
  if (!state.quality) return "";
  const q = state.quality[t];
  const view = state.quality_view;
  if (q === null) return `unknown${view.note ? ` (${view.note})` : ""}`;
  const rank = view.rank[t];
  const known = view.known;
  let place = `the ${ordinal(rank)} lowest of ${known} frames`;
  if (known <= 1) place = "the only frame with an estimate";
  else if (rank === 1) place = `the lowest of ${known} frames`;
  else if (rank === known) place = `the highest of ${known} frames`;
  return `${q.toFixed(2)} (${place})`;
}

function ordinal(n) {
  const suffix = n % 100 >= 10 && n % 100 <= 20 ? "th" : { 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th";
  return `${n}${suffix}`;
}

export class Filmstrip {
  constructor(element, onSelect) {
    this.element = element;
    this.onSelect = onSelect;
    this.cells = [];
    this.version = null;
  }

  build(numFrames) {
    this.element.replaceChildren();
    this.cells = [];
    for (let t = 0; t < numFrames; t++) {
      const cell = document.createElement("div");
      cell.className = "cell";
      cell.dataset.frame = String(t);
      cell.title = `frame ${t}`;
      cell.innerHTML =
        `<div class="qbar"><div class="q"></div><span class="qv"></span></div>` +
        `<img alt="frame ${t}">` +
        `<div class="idx"><span>${t}</span><span class="cnt"></span></div>`;
      cell.addEventListener("click", () => this.onSelect(t));
      this.element.append(cell);
      this.cells.push(cell);
    }
  }

  update(state, current) {
    const n = state.video.num_frames;
    if (this.cells.length !== n) this.build(n);
    const version = state.mask_version;
    const rec = state.recommendation ? state.recommendation.frame : -1;
    this.cells.forEach((cell, t) => {
      if (this.version !== version) cell.querySelector("img").src = `/api/thumb/${t}?v=${version}`;
      const q = state.quality ? state.quality[t] : null;
      const place = state.quality ? state.quality_view.relative[t] : null;
      const unknown = Boolean(state.quality) && q === null;
      const bar = cell.querySelector(".q");
      bar.style.height = place === null ? "0" : `${Math.round(15 + 85 * place)}%`;
      bar.style.background = place === null ? "transparent" : qualityColour(place);
      cell.querySelector(".qbar").classList.toggle("unknown", unknown);
      cell.querySelector(".qv").textContent = unknown ? "unknown" : q === null ? "" : q.toFixed(2);
      cell.classList.toggle("current", t === current);
      cell.classList.toggle("recommended", t === rec);
      const count = state.counts[t];
      cell.querySelector(".cnt").textContent = count ? `✎${count}` : "";
      this.badge(cell, "annotated", count ? "annotated" : "");
      this.badge(cell, "draft", state.drafts[String(t)] ? "strokes" : "");
      this.badge(cell, "rec", t === rec ? "★ next" : "");
      const reason = t === rec ? ` · recommended (${state.recommendation.reason})` : "";
      const quality = qualityText(state, t);
      cell.title = `frame ${t}${quality ? ` · quality ${quality}` : ""}${count ? ` · annotated ${count}×` : ""}${reason}`;
    });
    this.version = version;
  }

  badge(cell, kind, text) {
    let el = cell.querySelector(`.badge.${kind}`);
    if (!text) {
      if (el) el.remove();
      return;
    }
    if (!el) {
      el = document.createElement("span");
      el.className = `badge ${kind}`;
      cell.append(el);
    }
    el.textContent = text;
  }

  reveal(t) {
    const cell = this.cells[t];
    if (cell) cell.scrollIntoView({ block: "nearest", inline: "nearest" });
  }
}
