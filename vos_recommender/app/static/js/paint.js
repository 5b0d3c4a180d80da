// Mask tools: brush, eraser, lasso (a polygon drawn by dragging) and click-to-segment edit the selected
// object's mask on the open frame; the server applies each edit (POST /api/masks/<frame>/edit) and the
// next round takes the edited frame as annotated. In "− Background" mode the brush, the lasso and the
// click erase the object instead of painting it. The scribble tool draws the strokes a round segments from.

import { api, banner, guarded } from "./api.js";
import { isTextField } from "./keyboard.js";

const $ = (id) => document.getElementById(id);

export const TOOLS = { scribble: "s", brush: "b", eraser: "x", lasso: "l", click: "k" };

export class MaskTools {
  constructor(app) {
    this.app = app;
    this.tool = "scribble";
    this.path = null;
    this.sending = false;
    for (const name of Object.keys(TOOLS)) $(`tool-${name}`).addEventListener("click", () => this.select(name));
    window.addEventListener("keydown", (e) => this.key(e));
  }

  key(e) {
    if (e.ctrlKey || e.metaKey || e.altKey || isTextField(e.target)) return;
    const name = Object.keys(TOOLS).find((t) => TOOLS[t] === e.key.toLowerCase());
    if (!name || !this.app.state) return;
    e.preventDefault();
    this.select(name);
  }

  select(name) {
    const state = this.app.state;
    if (name !== "scribble" && state && !state.can_edit_masks) {
      banner(`The ${state.backend} backend cannot start a round from edited masks, so the mask tools are off; correct with strokes.`, "info", 5000);
      name = "scribble";
    }
    this.tool = name;
    for (const t of Object.keys(TOOLS)) $(`tool-${t}`).classList.toggle("active", t === name);
    const editor = this.app.editor;
    editor.delegate = name === "scribble" ? null : this;
    editor.canvas.dataset.tool = name;
    editor.draw();
  }

  // Enable the mask tools when the backend can start a round from an edited mask.
  update(state) {
    for (const t of Object.keys(TOOLS)) {
      if (t === "scribble") continue;
      const button = $(`tool-${t}`);
      button.disabled = !state.can_edit_masks;
      if (!state.can_edit_masks) button.title = `The ${state.backend} backend cannot start from edited masks`;
    }
    if (!state.can_edit_masks && this.tool !== "scribble") this.select("scribble");
  }

  erase() {
    return this.tool === "eraser" || this.app.editor.negative;
  }

  // Pointer input from the editor (normalised [x, y] points).
  down(point) {
    if (this.sending) return;
    if (this.tool === "click") {
      this.path = [point];
      this.send("segment", [point]);
      return;
    }
    this.path = [point];
  }

  move(points) {
    if (!this.path || this.tool === "click" || this.sending) return;
    this.path.push(...points);
  }

  up() {
    if (!this.path || this.tool === "click" || this.sending) return;
    const points = this.path.map(([x, y]) => [Math.round(x * 1e5) / 1e5, Math.round(y * 1e5) / 1e5]);
    if (this.tool === "lasso") {
      if (points.length >= 3) this.send("polygon", points);
      else this.path = null;
    } else {
      this.send("brush", points);
    }
  }

  async send(op, points) {
    const app = this.app;
    const t = app.current;
    const edit = { op, object_id: app.selected, erase: this.erase(), points, width: app.editor.brush };
    this.sending = true;
    try {
      const state = await guarded(() => api("POST", `/api/masks/${t}/edit`, edit));
      if (state) {
        app.setState(state);
        await app.goto(app.current); // the new overlay, before the preview goes
      }
    } finally {
      this.sending = false;
      this.path = null;
      app.editor.draw();
    }
  }

  // The edit being drawn, over the frame (canvas pixels).
  drawPreview(ctx, width, height, scale) {
    const path = this.path;
    if (!path) return;
    const editor = this.app.editor;
    const [r, g, b] = (editor.colours[this.app.selected] || [255, 255, 0]).map((c) => Math.min(255, c * 1.6 + 40));
    const rgba = (alpha) => (this.erase() ? `rgba(255,255,255,${alpha})` : `rgba(${r},${g},${b},${alpha})`);
    const colour = rgba(0.85);
    ctx.save();
    ctx.beginPath();
    path.forEach(([x, y], i) => (i ? ctx.lineTo(x * width, y * height) : ctx.moveTo(x * width, y * height)));
    if (this.tool === "lasso") {
      ctx.closePath();
      ctx.fillStyle = rgba(0.3);
      ctx.fill();
      ctx.setLineDash([6, 4]);
      ctx.lineWidth = 2;
      ctx.strokeStyle = colour;
      ctx.stroke();
    } else {
      if (path.length === 1) ctx.lineTo(path[0][0] * width + 0.01, path[0][1] * height);
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      ctx.lineWidth = Math.max(1, editor.brush * scale);
      ctx.strokeStyle = colour;
      ctx.stroke();
    }
    ctx.restore();
  }
}
