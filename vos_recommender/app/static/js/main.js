// The page: wires the API state to the editor, the filmstrip, the object panel, the transport and the keys.

import { api, banner, clearErrors, guarded } from "./api.js";
import { Editor } from "./editor.js";
import { Filmstrip, qualityText } from "./filmstrip.js";
import { HistoryControl } from "./history.js";
import { pageShortcuts } from "./keyboard.js";
import { ObjectPanel } from "./objects.js";
import { MaskTools } from "./paint.js";
import { RunControl } from "./run.js";
import { Viewport } from "./viewport.js";

const $ = (id) => document.getElementById(id);

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(`cannot load ${url}`));
    img.src = url;
  });
}

class App {
  constructor() {
    this.state = null;
    this.current = 0;
    this.selected = 1;
    this.strokes = {};
    this.frames = {};
    this.overlays = {};
    this.playTimer = null;
    this.saving = Promise.resolve();
    this.editor = new Editor($("canvas"), (strokes) => this.strokesChanged(strokes));
    this.filmstrip = new Filmstrip($("filmstrip"), (t) => this.goto(t));
    this.objects = new ObjectPanel($("object-list"), $("new-object-name"), $("add-object-btn"), this);
    this.run = new RunControl(this);
    this.undoRedo = new HistoryControl(this);
    this.tools = new MaskTools(this);
    this.viewport = new Viewport($("canvas-wrap"), $("canvas"));
    this.bindControls();
  }

  async start() {
    const state = await guarded(() => api("GET", "/api/state"));
    if (!state) return;
    if (state.error) banner(state.error, "error", 0); // why the page opened without a video: it stays
    if (!state.video) {
      $("open-panel").hidden = false;
      return;
    }
    this.setState(state, { reloadDrafts: true });
    this.goto(state.recommendation ? state.recommendation.frame : 0);
    if (state.job && state.job.state === "running") this.run.poll();
  }

  setState(state, { reloadDrafts = false } = {}) {
    const previous = this.state;
    this.state = state;
    $("open-panel").hidden = true;
    $("workspace").hidden = false;
    $("filmstrip-area").hidden = false;
    $("export-btn").hidden = false;
    $("download-btn").hidden = false;
    const video = state.video;
    $("video-info").textContent =
      `${video.name} · ${video.num_frames} frames · ${video.width}×${video.height} · backend ${state.backend}`;
    $("scrub").max = String(video.num_frames - 1);
    if (reloadDrafts || !previous) {
      this.strokes = {};
      for (const [t, strokes] of Object.entries(state.drafts)) this.strokes[t] = strokes.slice();
    }
    if (!state.objects.some((o) => o.id === this.selected) && state.objects.length) this.selected = state.objects[0].id;
    this.editor.objectId = this.selected;
    this.editor.colours = Object.fromEntries(state.objects.map((o) => [o.id, o.colour]));
    this.objects.render(state.objects, this.selected);
    if (previous && previous.mask_version !== state.mask_version) this.overlays = {};
    this.renderSidebar();
    this.updateEditing(state);
    this.filmstrip.update(state, this.current);
    const rounds = state.rounds.length;
    $("saved-status").textContent = `✓ saved · ${rounds} round${rounds === 1 ? "" : "s"} · ${state.session_dir}`;
    if (!previous || previous.mask_version !== state.mask_version || !previous.video) this.goto(this.current);
    this.fitCanvas();
  }

  // The undo / redo buttons and the mask tools follow the session's history and backend.
  updateEditing(state) {
    this.undoRedo.update(state.history);
    this.tools.update(state);
  }

  renderSidebar() {
    const state = this.state;
    const rec = state.recommendation;
    $("rec-frame").textContent = rec ? `frame ${rec.frame}` : "–";
    $("rec-reason").textContent = rec ? rec.reason : "";
    const adv = state.advisor;
    $("advisor-info").textContent =
      `strategy: ${adv.label || adv.strategy} · quality: ${adv.quality}`;
    const list = $("round-list");
    list.replaceChildren();
    for (const r of state.rounds) {
      const li = document.createElement("li");
      li.innerHTML = `<button class="link">frame ${r.frame}</button> <span class="muted">${r.seconds.toFixed(2)} s</span>`;
      li.querySelector("button").onclick = () => this.goto(r.frame);
      list.append(li);
    }
    if (!state.rounds.length) list.innerHTML = `<li class="empty">none yet</li>`;
  }

  selectObject(id) {
    this.selected = id;
    this.editor.objectId = id;
    this.setNegative(false);
    if (this.state) this.objects.render(this.state.objects, id);
  }

  setNegative(negative) {
    this.editor.negative = negative;
    $("mode-pos").classList.toggle("active", !negative);
    $("mode-neg").classList.toggle("active", negative);
  }

  fitCanvas() {
    if (!this.state) return;
    const wrap = $("canvas-wrap");
    const { width, height } = this.state.video;
    this.editor.fit(width, height, wrap.clientWidth - 8, wrap.clientHeight - 8);
  }

  async goto(t) {
    if (!this.state) return;
    const n = this.state.video.num_frames;
    t = Math.max(0, Math.min(n - 1, t));
    this.current = t;
    $("scrub").value = String(t);
    $("frame-counter").textContent = `${t + 1} / ${n}`;
    const version = this.state.mask_version;
    let live = null;
    try {
      if (!this.frames[t]) this.frames[t] = await loadImage(`/api/frame/${t}`);
      live = await this.run.liveOverlay(t); // the running round's new mask of this frame, once it has one
      if (!live && this.state.has_masks && !this.overlays[t]) this.overlays[t] = await loadImage(`/api/overlay/${t}?v=${version}`);
    } catch (err) {
      banner(err.message, "error", 5000);
    }
    if (t !== this.current) return; // a later goto won the race
    if (!this.strokes[t]) this.strokes[t] = [];
    const overlay = live || (this.state.has_masks ? this.overlays[t] : null);
    this.editor.show(this.frames[t], overlay, this.strokes[t]);
    this.filmstrip.update(this.state, t);
    this.filmstrip.reveal(t);
    const quality = qualityText(this.state, t);
    const rec = this.state.recommendation && this.state.recommendation.frame === t;
    const badge = $("frame-badge"); // as text: the quality's note may quote an object's name
    badge.textContent =
      `frame ${t}` + (quality ? ` · quality ${quality}` : "") +
      (this.state.counts[t] ? ` · annotated ${this.state.counts[t]}×` : "") + (rec ? " · " : "");
    if (rec) {
      const star = document.createElement("span");
      star.className = "star";
      star.textContent = "★ recommended";
      badge.append(star);
    }
    $("run-btn").textContent = `▶ Run from frame ${t}`;
  }

  // Every change of a frame's strokes is saved (one undoable change each), in the order they were made.
  strokesChanged(strokes) {
    const t = this.current;
    const copy = strokes.slice();
    this.saving = this.saving.then(() => this.saveStrokes(t, copy));
  }

  async saveStrokes(t, strokes) {
    if (strokes.some((s) => s.object_id > 0) && !(await this.objects.ensureOne())) return;
    const body = { strokes: strokes.map((s) => ({ ...s, start_time: Math.round(s.start_time), end_time: Math.round(s.end_time) })) };
    const answer = await guarded(() => api("PUT", `/api/strokes/${t}`, body));
    if (answer && this.state) {
      if (answer.strokes.length) this.state.drafts[String(t)] = answer.strokes;
      else delete this.state.drafts[String(t)];
      this.state.history = answer.history;
      this.updateEditing(this.state);
      this.filmstrip.update(this.state, this.current);
    }
  }

  async flushStrokes() {
    await this.saving;
  }

  togglePlay() {
    if (this.playTimer) {
      clearInterval(this.playTimer);
      this.playTimer = null;
      $("play-btn").textContent = "▶";
      return;
    }
    $("play-btn").textContent = "❚❚";
    this.playTimer = setInterval(() => {
      const n = this.state.video.num_frames;
      this.goto((this.current + 1) % n);
    }, 120);
  }

  async exportDavis() {
    if (this.exporting) return;
    this.exporting = $("export-btn").disabled = true;
    try {
      await this.flushStrokes();
      const info = await this.run.busy("exporting frames, masks and scribbles", () => guarded(() => api("POST", "/api/export", {})));
      if (info) banner(`Exported ${info.frames} masks and ${info.scribbles} scribbles (DAVIS layout) to ${info.root}`, "ok", 8000);
    } finally {
      this.exporting = $("export-btn").disabled = false;
    }
  }

  bindControls() {
    $("prev-btn").onclick = () => this.goto(this.current - 1);
    $("next-btn").onclick = () => this.goto(this.current + 1);
    $("play-btn").onclick = () => this.togglePlay();
    $("scrub").oninput = (e) => this.goto(Number(e.target.value));
    $("clear-btn").onclick = () => this.editor.clear();
    $("mode-pos").onclick = () => this.setNegative(false);
    $("mode-neg").onclick = () => this.setNegative(true);
    $("goto-rec-btn").onclick = () => this.state && this.goto(this.state.recommendation.frame);
    $("export-btn").onclick = () => this.exportDavis();
    $("download-btn").addEventListener("click", () => banner("Preparing the .zip of the DAVIS export; the download starts when it is ready.", "info", 4000));
    $("brush").oninput = (e) => this.setBrush(Number(e.target.value));
    $("opacity").oninput = (e) => {
      this.editor.opacity = Number(e.target.value) / 100;
      this.editor.draw();
    };
    $("open-btn").onclick = async () => {
      const masks = $("open-masks").value.trim();
      const session = $("open-session").value.trim();
      const body = { frames: $("open-frames").value.trim(), masks: masks || null, session: session || null };
      const state = await guarded(() => api("POST", "/api/open", body));
      if (state) {
        clearErrors();
        this.frames = {};
        this.overlays = {};
        this.viewport.reset();
        this.setState(state, { reloadDrafts: true });
        this.goto(state.recommendation.frame);
      }
    };
    window.addEventListener("resize", () => this.fitCanvas());
    this.shortcuts = pageShortcuts(this);
  }

  toggleMasks() {
    this.editor.showMasks = !this.editor.showMasks;
    this.editor.draw();
  }

  setBrush(size) {
    size = Math.max(1, Math.min(24, size));
    this.editor.brush = size;
    $("brush").value = String(size);
    $("brush-value").textContent = String(size);
  }
}

const app = new App();
window.vosApp = app;
app.start();
