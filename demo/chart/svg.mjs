// The chart's shapes as SVG text: a rect, polyline, polygon or text element per shape.

/** @param {ReturnType<typeof import('./layout.mjs').layoutChart>} chart */
export function renderSvg({ width, height, background, shapes }) {
  const body = shapes.map(element).join('\n');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">\n` +
    `<rect width="${width}" height="${height}" fill="${background}"/>\n${body}\n</svg>\n`
  );
}

function element(shape) {
  switch (shape.kind) {
    case 'rect': {
      const data = [shape.role && `class="${shape.role}"`, shape.type && `data-type="${escape(shape.type)}"`, shape.device && `data-device="${escape(shape.device)}"`];
      const attributes = [`x="${n(shape.x)}" y="${n(shape.y)}" width="${n(shape.w)}" height="${n(shape.h)}" fill="${shape.fill}"`, ...data].filter(Boolean).join(' ');
      return shape.title ? `<rect ${attributes}><title>${escape(shape.title)}</title></rect>` : `<rect ${attributes}/>`;
    }
    case 'line': {
      const dash = shape.dash ? ` stroke-dasharray="${shape.dash.join(' ')}"` : '';
      const role = shape.role ? ` class="${shape.role}"` : '';
      return `<polyline${role} points="${points(shape.points)}" fill="none" stroke="${shape.stroke}" stroke-width="${shape.width}"${dash}/>`;
    }
    case 'area': {
      const first = shape.points[0];
      const last = shape.points.at(-1);
      return `<polygon points="${n(first[0])},${n(shape.baseY)} ${points(shape.points)} ${n(last[0])},${n(shape.baseY)}" fill="${shape.fill}"/>`;
    }
    case 'text': {
      const anchor = shape.anchor && shape.anchor !== 'start' ? ` text-anchor="${shape.anchor}"` : '';
      const weight = shape.weight ? ` font-weight="${shape.weight}"` : '';
      return `<text x="${n(shape.x)}" y="${n(shape.y)}" font-size="${shape.size}" fill="${shape.fill}"${anchor}${weight}>${escape(shape.text)}</text>`;
    }
    default:
      throw new Error(`unknown shape kind ${shape.kind}`);
  }
}

const n = (value) => `${Math.round(value * 10) / 10}`;
const points = (list) => list.map(([x, y]) => `${n(x)},${n(y)}`).join(' ');
const escape = (text) => String(text).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
