// Run and Cancel: start a round on the current frame, poll its progress, refresh everything when it ends.

import { api, banner, guarded } from "./api.js";

const $ = (id) => document.getElementById(id);

export class RunControl {
  constructor(app) {
    this.app = app;
    this.polling = false;
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
    $("progress-fill").style.width = `${Math.round(job.progress * 100)}%`;
    $("progress-text").textContent = `${job.message} · ${job.elapsed.toFixed(1)} s`;
    $("run-btn").disabled = job.state === "running";
    clearTimeout(this.hideTimer);
  }

  async poll() {
    this.polling = true;
    let job;
    for (;;) {
      job = await guarded(() => api("GET", "/api/job"));
      if (!job) break;
      this.show(job);
      if (job.state !== "running") break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    this.polling = false;
    $("run-btn").disabled = false;
    this.hideTimer = setTimeout(() => ($("progress").hidden = true), job && job.state === "done" ? 1200 : 4000);
    if (!job) return;
    if (job.state === "failed") banner(`The round failed: ${job.error}`, "error");
    if (job.state === "cancelled") {
      const finishing = job.finishing
        ? " The model is still finishing its current step (it cannot be interrupted); Run now waits for it by itself."
        : "";
      banner(`Round cancelled: the session is as it was before it.${finishing}`, "info", finishing ? 8000 : 5000);
    }
    const state = await guarded(() => api("GET", "/api/state"));
    if (!state) return;
    const app = this.app;
    if (job.state === "done") {
      const t = String(job.frame);
      app.strokes[t] = (state.drafts[t] || []).slice();
      const rec = state.recommendation;
      banner(`Round ${state.rounds.length} done in ${job.elapsed.toFixed(1)} s. Next: frame ${rec.frame} (${rec.reason}).`, "ok", 6000);
    }
    app.setState(state);
  }
}
