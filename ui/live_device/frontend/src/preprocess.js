// The server's face pipeline, step for step, so the browser feeds the model exactly what the server would
// (core/inference/faces.py, core/data/images.py): Python's rounding, the square crop around a found face, and
// Pillow's resampling (BOX to shrink, BILINEAR to enlarge) in its own fixed-point arithmetic, bit for bit.

// Python's round(): halves go to the even neighbour (2.5 -> 2, 3.5 -> 4).
export function pyRound(x) {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

// core.inference.faces.square_box: a square `margin` times the box's larger side around its centre (moved down
// by shift_y of its height), clipped to the frame. Boxes are [x, y, w, h].
export function squareBox(box, frameH, frameW, margin, shiftY) {
  const [x, y, w, h] = box;
  const side = Math.trunc(pyRound(Math.max(w, h) * margin));
  const cx = x + w / 2;
  const cy = y + h / 2 + shiftY * h;
  let left = Math.trunc(pyRound(cx - side / 2));
  let top = Math.trunc(pyRound(cy - side / 2));
  left = Math.max(0, left);
  top = Math.max(0, top);
  const right = Math.min(frameW, left + side);
  const bottom = Math.min(frameH, top + side);
  return [left, top, right - left, bottom - top];
}

// A region of a gray image (Uint8Array, row-major, width `stride`) as its own array.
export function cut(gray, stride, [x, y, w, h]) {
  const out = new Uint8Array(w * h);
  for (let r = 0; r < h; r++) out.set(gray.subarray((y + r) * stride + x, (y + r) * stride + x + w), r * w);
  return out;
}

const PRECISION_BITS = 32 - 8 - 2; // Pillow's Resample.c, 8 bits per channel

const FILTERS = {
  box: { support: 0.5, f: (x) => (x > -0.5 && x <= 0.5 ? 1.0 : 0.0) },
  bilinear: { support: 1.0, f: (x) => { x = Math.abs(x); return x < 1.0 ? 1.0 - x : 0.0; } },
};

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis.
function coefficients(inSize, outSize, filter) {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1.0);
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Float64Array(outSize * ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1.0 / filterscale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0.0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.f((x + xmin - center + 0.5) * ss);
      kk[xx * ksize + x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) if (ww !== 0.0) kk[xx * ksize + x] /= ww;
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  const ints = new Float64Array(kk.length); // whole numbers, exact in doubles
  for (let i = 0; i < kk.length; i++) {
    ints[i] = kk[i] < 0 ? Math.trunc(-0.5 + kk[i] * (1 << PRECISION_BITS)) : Math.trunc(0.5 + kk[i] * (1 << PRECISION_BITS));
  }
  return { bounds, kk: ints, ksize };
}

function clip8(v) {
  if (v >= 2 ** (PRECISION_BITS + 8)) return 255;
  if (v <= 0) return 0;
  return Math.floor(v / 2 ** PRECISION_BITS);
}

// Image.fromarray(gray).resize((outW, outH), resample) for mode L: a horizontal pass, then a vertical one.
export function pilResize(gray, w, h, outW, outH, resample) {
  const filter = FILTERS[resample];
  let src = gray;
  let width = w;
  if (outW !== w) {
    const { bounds, kk, ksize } = coefficients(w, outW, filter);
    const out = new Uint8Array(outW * h);
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < outW; xx++) {
        const xmin = bounds[xx * 2];
        const xmax = bounds[xx * 2 + 1];
        let ss = 2 ** (PRECISION_BITS - 1);
        for (let x = 0; x < xmax; x++) ss += src[y * w + x + xmin] * kk[xx * ksize + x];
        out[y * outW + xx] = clip8(ss);
      }
    }
    src = out;
    width = outW;
  }
  if (outH !== h) {
    const { bounds, kk, ksize } = coefficients(h, outH, filter);
    const out = new Uint8Array(width * outH);
    for (let yy = 0; yy < outH; yy++) {
      const ymin = bounds[yy * 2];
      const ymax = bounds[yy * 2 + 1];
      for (let x = 0; x < width; x++) {
        let ss = 2 ** (PRECISION_BITS - 1);
        for (let y = 0; y < ymax; y++) ss += src[(y + ymin) * width + x] * kk[yy * ksize + y];
        out[yy * width + x] = clip8(ss);
      }
    }
    src = out;
  }
  return src;
}

function median(values) {
  const sorted = Array.from(values).sort((a, b) => a - b);
  const n = sorted.length;
  return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

// core.data.images.fit_square: pad to a square with the border's median, then BOX (shrink) or BILINEAR (enlarge).
export function fitSquare(gray, w, h, size) {
  if (w === size && h === size) return gray;
  let side = w;
  let square = gray;
  if (h !== w) {
    const border = [];
    for (let x = 0; x < w; x++) border.push(gray[x], gray[(h - 1) * w + x]);
    for (let y = 0; y < h; y++) border.push(gray[y * w], gray[y * w + w - 1]);
    // np.uint8(np.median(...)): a half (two middle values) is truncated
    const fill = Math.trunc(median(border));
    side = Math.max(w, h);
    square = new Uint8Array(side * side).fill(fill);
    const top = Math.floor((side - h) / 2);
    const left = Math.floor((side - w) / 2);
    for (let r = 0; r < h; r++) square.set(gray.subarray(r * w, r * w + w), (top + r) * side + left);
  }
  return pilResize(square, side, side, size, size, side > size ? "box" : "bilinear");
}
