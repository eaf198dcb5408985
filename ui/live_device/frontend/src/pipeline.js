// The server's webcam pipeline (core/inference/emotions.py EmotionDetector.process) in the browser: the same
// Haar cascade with the same parameters (opencv.js), the same detect-every-3rd-frame with a template-matching
// follower between, the same crop and framing, the same ONNX export of the model and the same calibration. Only
// the camera and the drawing differ. Everything here takes a gray frame, so Node can check it against Python.
import { cut, fitSquare, pyRound, squareBox } from "./preprocess.js";

// core.inference.faces.FaceFinder: the cascade on a copy at most `detectWidth` wide, histogram-equalised.
export class FaceFinder {
  constructor(cv, cascade, { detectWidth = 320, minFace = 0.1, scaleFactor = 1.15, minNeighbors = 5 } = {}) {
    Object.assign(this, { cv, cascade, detectWidth, minFace, scaleFactor, minNeighbors });
  }

  find(gray) {
    const { cv } = this;
    const w = gray.cols;
    const h = gray.rows;
    const scale = Math.min(1.0, this.detectWidth / w);
    const small = new cv.Mat();
    if (scale < 1) cv.resize(gray, small, new cv.Size(pyRound(w * scale), pyRound(h * scale)), 0, 0, cv.INTER_AREA);
    else gray.copyTo(small);
    cv.equalizeHist(small, small);
    const side = Math.max(12, Math.trunc(Math.min(small.rows, small.cols) * this.minFace));
    const found = new cv.RectVector();
    this.cascade.detectMultiScale(small, found, this.scaleFactor, this.minNeighbors, 0, new cv.Size(side, side),
      new cv.Size(0, 0));
    const boxes = [];
    for (let i = 0; i < found.size(); i++) {
      const r = found.get(i);
      boxes.push([pyRound(r.x / scale), pyRound(r.y / scale), pyRound(r.width / scale), pyRound(r.height / scale)]);
    }
    small.delete();
    found.delete();
    return boxes;
  }
}

// core.inference.faces.BoxFollower: each face's patch (on a half-size copy) looked for around where it was.
export class BoxFollower {
  constructor(cv, { minScore = 0.6, search = 0.35, scale = 0.5 } = {}) {
    Object.assign(this, { cv, minScore, search, scale });
    this.templates = [];
  }

  small(gray) {
    const out = new this.cv.Mat();
    this.cv.resize(gray, out, new this.cv.Size(0, 0), this.scale, this.scale, this.cv.INTER_AREA);
    return out;
  }

  clear() {
    for (const [, patch] of this.templates) patch.delete();
    this.templates = [];
  }

  reset(gray, boxes) {
    this.clear();
    const small = this.small(gray);
    for (const box of boxes) {
      const [x, y, w, h] = box.map((v) => Math.trunc(pyRound(v * this.scale)));
      const right = Math.min(small.cols, x + w);
      const bottom = Math.min(small.rows, y + h);
      if (bottom - y >= 8 && right - x >= 8) {
        this.templates.push([box, small.roi(new this.cv.Rect(x, y, right - x, bottom - y)).clone()]);
      }
    }
    small.delete();
  }

  follow(gray) {
    if (!this.templates.length) return null;
    const { cv } = this;
    const small = this.small(gray);
    const H = small.rows;
    const W = small.cols;
    const moved = [];
    let lost = false;
    for (const [box, patch] of this.templates) {
      const h = patch.rows;
      const w = patch.cols;
      const x = Math.trunc(pyRound(box[0] * this.scale));
      const y = Math.trunc(pyRound(box[1] * this.scale));
      const padX = Math.trunc(w * this.search) + 2;
      const padY = Math.trunc(h * this.search) + 2;
      const left = Math.max(0, x - padX);
      const top = Math.max(0, y - padY);
      const right = Math.min(W, x + w + padX);
      const bottom = Math.min(H, y + h + padY);
      if (bottom - top < h || right - left < w) { lost = true; break; }
      const window = small.roi(new cv.Rect(left, top, right - left, bottom - top));
      const scores = new cv.Mat();
      cv.matchTemplate(window, patch, scores, cv.TM_CCOEFF_NORMED);
      const { maxVal, maxLoc } = cv.minMaxLoc(scores);
      window.delete();
      scores.delete();
      if (maxVal < this.minScore) { lost = true; break; }
      moved.push([[pyRound((left + maxLoc.x) / this.scale), pyRound((top + maxLoc.y) / this.scale), box[2], box[3]],
        patch]);
    }
    small.delete();
    if (lost) return null;
    this.templates = moved;
    return moved.map(([box]) => box);
  }
}

function iou(a, b) {
  const iw = Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]));
  const ih = Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));
  const inter = iw * ih;
  const union = a[2] * a[3] + b[2] * b[3] - inter;
  return union > 0 ? inter / union : 0;
}

// core.inference.faces.FaceTracker: per-face moving average of the probabilities, faces matched by box overlap.
export class FaceTracker {
  constructor({ alpha = 0.4, minIou = 0.3, maxMissed = 5 } = {}) {
    Object.assign(this, { alpha, minIou, maxMissed });
    this.tracks = new Map();
    this.nextId = 0;
  }

  update(boxes, probs) {
    const pairs = [];
    boxes.forEach((b, i) => this.tracks.forEach((t, tid) => pairs.push([iou(b, t.box), i, tid])));
    pairs.sort((p, q) => q[0] - p[0] || q[1] - p[1] || q[2] - p[2]);
    const assigned = new Map();
    const used = new Set();
    for (const [overlap, i, tid] of pairs) {
      if (overlap < this.minIou) break;
      if (!assigned.has(i) && !used.has(tid)) { assigned.set(i, tid); used.add(tid); }
    }
    const out = boxes.map((box, i) => {
      let tid = assigned.get(i);
      if (tid === undefined) {
        tid = this.nextId++;
        this.tracks.set(tid, { box, probs: Float64Array.from(probs[i]), missed: 0 });
      } else {
        const t = this.tracks.get(tid);
        t.probs = t.probs.map((v, k) => this.alpha * probs[i][k] + (1 - this.alpha) * v);
        t.box = box;
        t.missed = 0;
      }
      return [tid, this.tracks.get(tid).probs];
    });
    const seen = new Set(out.map(([tid]) => tid));
    for (const [tid, t] of this.tracks) {
      if (!seen.has(tid) && ++t.missed > this.maxMissed) this.tracks.delete(tid);
    }
    return out;
  }
}

// core.data.transforms.preprocess_faces on a 48 x 48 uint8 face: its centre (`margin` pixels in from every edge,
// core.data.transforms.centre_crop) scaled to [0, 1] and resized to `size` the way torch's
// F.interpolate(mode="bilinear", align_corners=False) enlarges (the webcam models enlarge 48 -> 96). `mirrored`
// reads the face's mirror image, as the server flips the whole face before its crop.
export function modelInput(face, decoded, size, mirrored = false, margin = 0) {
  const out = new Float32Array(size * size);
  const side = decoded - 2 * margin;
  const scale = side / size;
  const src = (i) => Math.max(0, (i + 0.5) * scale - 0.5);
  const column = (xx) => (mirrored ? decoded - 1 - margin - xx : margin + xx);
  for (let y = 0; y < size; y++) {
    const sy = src(y);
    const y0 = Math.floor(sy);
    const y1 = Math.min(y0 + 1, side - 1);
    const ly = sy - y0;
    for (let x = 0; x < size; x++) {
      const sx = src(x);
      const x0 = Math.floor(sx);
      const x1 = Math.min(x0 + 1, side - 1);
      const lx = sx - x0;
      const at = (yy, xx) => face[(margin + yy) * decoded + column(xx)] / 255;
      out[y * size + x] = (1 - ly) * ((1 - lx) * at(y0, x0) + lx * at(y0, x1)) + ly * ((1 - lx) * at(y1, x0) + lx * at(y1, x1));
    }
  }
  return out;
}

// core.inference.calibration.Calibration.probabilities (and plain softmax without one).
export function probabilities(logits, calibration) {
  const z = Array.from(logits, (v, k) => (calibration ? (v - calibration.tau * calibration.log_prior[k]) / calibration.temperature : v));
  const top = Math.max(...z);
  const e = z.map((v) => Math.exp(v - top));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

// The face crops of a gray frame (a cv.Mat), framed as the server frames them: [crop box, 48 x 48 uint8].
export function framedCrops(gray, boxes, { margin, shiftY, decoded }) {
  const data = gray.data;
  return boxes.map((box) => {
    const square = squareBox(box, gray.rows, gray.cols, margin, shiftY);
    const crop = cut(data, gray.cols, square);
    return [square, fitSquare(crop, square[2], square[3], decoded)];
  });
}
