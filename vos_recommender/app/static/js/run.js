// Run and Cancel: start a round on the current frame, poll its progress, show each frame's new mask as
// soon as the round has propagated to it, refresh everything when it ends. Also the progress line of
// other long requests (export).

import { api, banner, guarded } from "./api.js";

const $ = (id) => document.getElementById(id);

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(`cannot load ${url}`));
    img.src = url;
  });
}

export class RunControl {
  constructor(app) {
    this.app = app;
    this.polling = false;
    // The running round's new masks: the job, the frames it has finished, their loaded overlays.
    this.liveJob = null;
    this.liveFrames = new Set();
    this.liveImages = {};
    $("run-btn").addEventListener("click", () => this.start());
    $("cancel-btn").addEventListener("click", () => this.cancel());
  }

  async start() {
    const app = this.app;
    if (this.polling) return;
    await app.flushStrokes();
    const job = await guarded(() => api("POST", "/api/run", { frame: app.current }));
    if (job) this.poll();
  }

  async cancel() {
    if (!this.polling) return;
    await guarded(() => api("POST", "/api/job/cancel"));
  }

  show(job) {
    $("progress").hidden = false;
    $("progress").classList.remove("busy");
    $("progress-fill").style.width = `${Math.round(job.progress * 100)}%`;
    $("progress-text").textContent = `${job.message} · ${job.elapsed.toFixed(1)} s`;
    $("run-btn").disabled = job.state === "running";
    clearTimeout(this.hideTimer);
  }

  // The overlay image of frame t from the running round, once the round has finished that frame (else null).
  async liveOverlay(t) {
    if (this.liveJob === null || !this.liveFrames.has(t)) return null;
    const job = this.liveJob;
    if (!this.liveImages[t]) this.liveImages[t] = await loadImage(`/api/overlay/${t}?job=${job}`);
    return this.liveJob === job ? this.liveImages[t] : null;
  }

  // Take the frames the round finished since the last poll; repaint the open frame when it is one of them.
  async paintLive(job) {
    if (this.liveJob !== job.id) {
      this.liveJob = job.id;
      this.liveFrames = new Set();
      this.liveImages = {};
    }
    const fresh = (job.frames_done || []).filter((t) => !this.liveFrames.has(t));
    for (const t of fresh) this.liveFrames.add(t);
    const app = this.app;
    if (fresh.includes(app.current)) await app.goto(app.current);
  }

  endLive() {
    this.liveJob = null;
    this.liveFrames = new Set();
    this.liveImages = {};
  }

  async poll() {
    this.polling = true;
    let job;
    for (;;) {
      job = await guarded(() => api("GET", "/api/job"));
      if (!job) break;
      this.show(job);
      if (job.state !== "running") break;
      await this.paintLive(job);
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    this.polling = false;
    $("run-btn").disabled = false;
    this.hideTimer = setTimeout(() => ($("progress").hidden = true), job && job.state === "done" ? 1200 : 4000);
    const app = this.app;
    if (!job) {
      this.endLive();
      return;
    }
    if (job.state === "failed") banner(`The round failed: ${job.error}`, "error");
    if (job.state === "cancelled") {
      const finishing = job.finishing
        ? " The model is still finishing its current step (it cannot be interrupted); Run now waits for it by itself."
        : "";
      banner(`Round cancelled: the session is as it was before it.${finishing}`, "info", finishing ? 8000 : 5000);
    }
    const state = await guarded(() => api("GET", "/api/state"));
    this.endLive();
    if (!state) return;
    if (job.state === "done") {
      const t = String(job.frame);
      app.strokes[t] = (state.drafts[t] || []).slice();
      const rec = state.recommendation;
      banner(`Round ${state.rounds.length} done in ${job.elapsed.toFixed(1)} s. Next: frame ${rec.frame} (${rec.reason}).`, "ok", 6000);
    }
    const version = app.state ? app.state.mask_version : null;
    app.setState(state);
    // The canvas showed the round's new masks as they came; without a new mask version (a cancelled or
    // failed round) setState does not repaint, so the saved masks come back here.
    if (state.mask_version === version) app.goto(app.current);
  }

  // Show `message` with the seconds elapsed on the progress line while `work()` runs; returns its result.
  async busy(message, work) {
    if (this.polling) return work(); // the round's progress keeps the line
    const started = performance.now();
    const tick = () => {
      $("progress-text").textContent = `${message} · ${((performance.now() - started) / 1000).toFixed(1)} s`;
    };
    $("progress").hidden = false;
    $("progress").classList.add("busy");
    $("progress-fill").style.width = "100%";
    $("cancel-btn").hidden = true;
    tick();
    const timer = setInterval(tick, 100);
    try {
      return await work();
    } finally {
      clearInterval(timer);
      $("cancel-btn").hidden = false;
      $("progress").classList.remove("busy");
      if (!this.polling) setTimeout(() => ($("progress").hidden = true), 1200);
    }
  }
}
