// Zoom and pan of the canvas: the wheel zooms around the pointer, the buttons and + / - / 0 zoom around the
// centre or fit the frame again, and a middle-button drag or a Shift+drag pans. The canvas is moved with a
// CSS transform, so the page's drawing (normalised by the canvas's on-screen box) stays where the pointer is.

import { isTextField } from "./keyboard.js";

const $ = (id) => document.getElementById(id);

export const MIN_ZOOM = 1;
export const MAX_ZOOM = 16;

export class Viewport {
  constructor(wrap, canvas) {
    this.wrap = wrap;
    this.canvas = canvas;
    this.zoom = 1;
    this.x = 0;
    this.y = 0;
    this.pan = null;
    canvas.style.transformOrigin = "0 0";
    wrap.addEventListener("wheel", (e) => this.wheel(e), { passive: false });
    // Capture phase: a pan never reaches the canvas's drawing handlers.
    wrap.addEventListener("pointerdown", (e) => this.down(e), { capture: true });
    wrap.addEventListener("pointermove", (e) => this.move(e));
    wrap.addEventListener("pointerup", (e) => this.up(e));
    wrap.addEventListener("pointercancel", (e) => this.up(e));
    wrap.addEventListener("auxclick", (e) => e.button === 1 && e.preventDefault());
    $("zoom-in").addEventListener("click", () => this.zoomAtCentre(this.zoom * 1.5));
    $("zoom-out").addEventListener("click", () => this.zoomAtCentre(this.zoom / 1.5));
    $("zoom-fit").addEventListener("click", () => this.reset());
    window.addEventListener("keydown", (e) => this.key(e));
  }

  key(e) {
    if (e.ctrlKey || e.metaKey || e.altKey || isTextField(e.target)) return;
    const action = { "+": 1.5, "=": 1.5, "-": 1 / 1.5 }[e.key];
    if (action) this.zoomAtCentre(this.zoom * action);
    else if (e.key === "0") this.reset();
    else return;
    e.preventDefault();
  }

  apply() {
    this.canvas.style.transform = `translate(${this.x}px, ${this.y}px) scale(${this.zoom})`;
    $("zoom-level").textContent = `${Math.round(this.zoom * 100)}%`;
  }

  reset() {
    this.zoom = 1;
    this.x = 0;
    this.y = 0;
    this.apply();
  }

  // Zoom to `zoom` keeping the screen point (clientX, clientY) over the same frame pixel.
  zoomAt(zoom, clientX, clientY) {
    zoom = Math.max(MIN_ZOOM, Math.min(MAX_ZOOM, zoom));
    const rect = this.canvas.getBoundingClientRect();
    const left = rect.left - this.x; // the untransformed box (transform-origin 0 0)
    const top = rect.top - this.y;
    const u = (clientX - rect.left) / this.zoom;
    const v = (clientY - rect.top) / this.zoom;
    this.zoom = zoom;
    if (zoom === MIN_ZOOM) {
      this.x = 0;
      this.y = 0;
    } else {
      this.x = clientX - left - zoom * u;
      this.y = clientY - top - zoom * v;
    }
    this.apply();
  }

  zoomAtCentre(zoom) {
    const box = this.wrap.getBoundingClientRect();
    this.zoomAt(zoom, box.left + box.width / 2, box.top + box.height / 2);
  }

  wheel(e) {
    e.preventDefault();
    this.zoomAt(this.zoom * Math.exp(-e.deltaY * 0.0015), e.clientX, e.clientY);
  }

  down(e) {
    if (!(e.button === 1 || (e.button === 0 && e.shiftKey))) return;
    e.preventDefault();
    e.stopPropagation();
    this.wrap.setPointerCapture(e.pointerId);
    this.pan = { x: e.clientX - this.x, y: e.clientY - this.y };
    this.wrap.classList.add("panning");
  }

  move(e) {
    if (!this.pan) return;
    this.x = e.clientX - this.pan.x;
    this.y = e.clientY - this.pan.y;
    this.apply();
  }

  up() {
    if (!this.pan) return;
    this.pan = null;
    this.wrap.classList.remove("panning");
  }
}
