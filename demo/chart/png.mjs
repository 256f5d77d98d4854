// The chart's shapes rasterised into an RGBA buffer and encoded with pngjs. Rectangles and
// lines are drawn pixel by pixel; text uses the 5×7 bitmap font (doubled for large text).
import { PNG } from 'pngjs';
import { ADVANCE, GLYPH_HEIGHT, glyph, textWidth } from './bitmap-font.mjs';
import { parseHex } from './layout.mjs';

/** @param {ReturnType<typeof import('./layout.mjs').layoutChart>} chart @returns {Buffer} */
export function renderPng({ width, height, background, shapes }) {
  const canvas = new Canvas(width, height);
  canvas.fillRect(0, 0, width, height, background);
  for (const shape of shapes) {
    if (shape.kind === 'rect') canvas.fillRect(shape.x, shape.y, shape.w, shape.h, shape.fill);
    else if (shape.kind === 'line') canvas.polyline(shape.points, shape.stroke, shape.width, shape.dash);
    else if (shape.kind === 'area') canvas.stepArea(shape.points, shape.baseY, shape.fill);
    else if (shape.kind === 'text') canvas.text(shape.x, shape.y, shape.text, shape.size >= 14 ? 2 : 1, shape.fill, shape.anchor, shape.weight === 'bold');
  }
  return PNG.sync.write(canvas.png);
}

class Canvas {
  constructor(width, height) {
    this.png = new PNG({ width, height });
  }

  /** One pixel, ignored outside the image. */
  set(x, y, [r, g, b]) {
    const { width, height, data } = this.png;
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    const i = (y * width + x) * 4;
    data[i] = r;
    data[i + 1] = g;
    data[i + 2] = b;
    data[i + 3] = 255;
  }

  /** Covers the pixels whose centres lie inside the rectangle, at least one pixel each way. */
  fillRect(x, y, w, h, hex) {
    const rgb = parseHex(hex);
    const x0 = Math.round(x);
    const y0 = Math.round(y);
    const x1 = Math.max(x0 + 1, Math.round(x + w));
    const y1 = Math.max(y0 + 1, Math.round(y + h));
    for (let py = y0; py < y1; py++) for (let px = x0; px < x1; px++) this.set(px, py, rgb);
  }

  /** Segments as runs of `width`-pixel squares, one per pixel of length; `dash` = [on, off] pixels. */
  polyline(points, hex, width, dash) {
    const rgb = parseHex(hex);
    const half = (width - 1) / 2;
    let travelled = 0;
    for (let i = 1; i < points.length; i++) {
      const [ax, ay] = points[i - 1];
      const [bx, by] = points[i];
      const length = Math.hypot(bx - ax, by - ay);
      const steps = Math.max(1, Math.ceil(length));
      for (let s = 0; s <= steps; s++) {
        const along = travelled + (s / steps) * length;
        if (dash && along % (dash[0] + dash[1]) >= dash[0]) continue;
        const px = Math.round(ax + ((bx - ax) * s) / steps - half);
        const py = Math.round(ay + ((by - ay) * s) / steps - half);
        for (let dy = 0; dy < width; dy++) for (let dx = 0; dx < width; dx++) this.set(px + dx, py + dy, rgb);
      }
      travelled += length;
    }
  }

  /** The area under a step line (made of horizontal and vertical segments) down to baseY. */
  stepArea(points, baseY, hex) {
    for (let i = 1; i < points.length; i++) {
      const [ax, ay] = points[i - 1];
      const [bx, by] = points[i];
      if (ay === by && bx > ax) this.fillRect(ax, ay, bx - ax, baseY - ay, hex);
    }
  }

  /** `y` is the baseline, as in SVG. Bold draws each glyph twice, one pixel apart. */
  text(x, y, text, scale, hex, anchor = 'start', bold = false) {
    const rgb = parseHex(hex);
    const width = textWidth(text, scale);
    let left = Math.round(anchor === 'end' ? x - width : anchor === 'middle' ? x - width / 2 : x);
    const top = Math.round(y) - GLYPH_HEIGHT * scale;
    for (const char of text) {
      glyph(char).forEach((row, gy) =>
        row.forEach((ink, gx) => {
          if (!ink) return;
          for (let dy = 0; dy < scale; dy++)
            for (let dx = 0; dx < scale + (bold ? 1 : 0); dx++) this.set(left + gx * scale + dx, top + gy * scale + dy, rgb);
        }),
      );
      left += ADVANCE * scale;
    }
  }
}
