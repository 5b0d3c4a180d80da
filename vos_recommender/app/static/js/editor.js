// The drawing canvas: the frame, the mask overlay and the strokes, drawn with pointer events (mouse, pen, touch).
// While a mask tool is picked (`delegate`, see paint.js), pointer input goes to it instead of making strokes.

export class Editor {
  constructor(canvas, onStrokesChanged) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.onStrokesChanged = onStrokesChanged;
    this.frameImage = null;
    this.overlayImage = null;
    this.strokes = [];
    this.active = null;
    this.delegate = null;
    this.objectId = 1;
    this.negative = false;
    this.brush = 3;
    this.opacity = 0.75;
    this.showMasks = true;
    this.colours = {};
    this.enabled = true;
    this.scale = 1;
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    canvas.addEventListener("pointerup", (e) => this.up(e));
    canvas.addEventListener("pointercancel", (e) => this.up(e));
  }

  // Fit the frame (frameW x frameH pixels) into a box, drawing at the screen's resolution.
  fit(frameW, frameH, boxW, boxH) {
    const fit = Math.max(0.1, Math.min(boxW / frameW, boxH / frameH));
    const dpr = window.devicePixelRatio || 1;
    this.canvas.style.width = `${Math.floor(frameW * fit)}px`;
    this.canvas.style.height = `${Math.floor(frameH * fit)}px`;
    this.canvas.width = Math.round(frameW * fit * dpr);
    this.canvas.height = Math.round(frameH * fit * dpr);
    this.scale = this.canvas.width / frameW; // canvas pixels per frame pixel (brush sizes are frame pixels)
    this.draw();
  }

  // Show a frame: its image, its overlay (or null) and its draft strokes.
  show(frameImage, overlayImage, strokes) {
    this.frameImage = frameImage;
    this.overlayImage = overlayImage;
    this.strokes = strokes;
    this.draw();
  }

  point(event) {
    const rect = this.canvas.getBoundingClientRect();
    const x = Math.min(Math.max((event.clientX - rect.left) / rect.width, 0), 1);
    const y = Math.min(Math.max((event.clientY - rect.top) / rect.height, 0), 1);
    return [x, y];
  }

  down(event) {
    if (!this.enabled || event.button > 0) return;
    event.preventDefault();
    this.canvas.setPointerCapture(event.pointerId);
    if (this.delegate) {
      this.delegate.down(this.point(event));
      this.draw();
      return;
    }
    this.active = {
      path: [this.point(event)],
      object_id: this.negative ? 0 : this.objectId,
      start_time: performance.now(),
      end_time: performance.now(),
      brush: this.brush,
    };
    this.draw();
  }

  move(event) {
    if (!this.active && !(this.delegate && this.canvas.hasPointerCapture(event.pointerId))) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    const points = (events.length ? events : [event]).map((e) => this.point(e));
    if (this.active) this.active.path.push(...points);
    else this.delegate.move(points);
    this.draw();
  }

  up(event) {
    if (this.delegate && !this.active) {
      if (this.canvas.hasPointerCapture(event.pointerId)) this.canvas.releasePointerCapture(event.pointerId);
      this.delegate.up();
      this.draw();
      return;
    }
    if (!this.active) return;
    const stroke = this.active;
    this.active = null;
    stroke.end_time = performance.now();
    stroke.path = stroke.path.map(([x, y]) => [Math.round(x * 1e5) / 1e5, Math.round(y * 1e5) / 1e5]);
    this.strokes.push(stroke);
    this.draw();
    this.onStrokesChanged(this.strokes);
  }

  clear() {
    if (!this.strokes.length) return false;
    this.strokes.splice(0, this.strokes.length);
    this.draw();
    this.onStrokesChanged(this.strokes);
    return true;
  }

  strokeStyle(stroke) {
    if (stroke.object_id === 0) return "rgba(255,255,255,0.95)";
    const [r, g, b] = this.colours[stroke.object_id] || [255, 255, 0];
    // Palette colours are dark (128-level); strokes are drawn brighter so they stand out on the fill.
    return `rgb(${Math.min(255, r * 1.6 + 40)},${Math.min(255, g * 1.6 + 40)},${Math.min(255, b * 1.6 + 40)})`;
  }

  drawStroke(stroke) {
    const { width, height } = this.canvas;
    const ctx = this.ctx;
    const lw = Math.max(1, (stroke.brush || this.brush) * this.scale);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    const trace = () => {
      ctx.beginPath();
      stroke.path.forEach(([x, y], i) => (i ? ctx.lineTo(x * width, y * height) : ctx.moveTo(x * width, y * height)));
      if (stroke.path.length === 1) ctx.lineTo(stroke.path[0][0] * width + 0.01, stroke.path[0][1] * height);
    };
    trace();
    ctx.strokeStyle = "rgba(0,0,0,0.7)";
    ctx.lineWidth = lw + 2;
    ctx.setLineDash(stroke.object_id === 0 ? [lw * 1.5, lw * 1.2] : []);
    ctx.stroke();
    trace();
    ctx.strokeStyle = this.strokeStyle(stroke);
    ctx.lineWidth = lw;
    ctx.stroke();
    ctx.setLineDash([]);
  }

  draw() {
    const { width, height } = this.canvas;
    const ctx = this.ctx;
    ctx.clearRect(0, 0, width, height);
    if (this.frameImage) ctx.drawImage(this.frameImage, 0, 0, width, height);
    if (this.overlayImage && this.showMasks) {
      ctx.globalAlpha = this.opacity;
      ctx.drawImage(this.overlayImage, 0, 0, width, height);
      ctx.globalAlpha = 1;
    }
    for (const stroke of this.strokes) this.drawStroke(stroke);
    if (this.active) this.drawStroke(this.active);
    if (this.delegate) this.delegate.drawPreview(ctx, width, height, this.scale);
  }
}
