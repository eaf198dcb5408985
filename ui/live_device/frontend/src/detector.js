// core.inference.emotions.EmotionDetector.process, in the browser: gray frame in, faces with their emotions out.
import { BoxFollower, FaceFinder, FaceTracker, framedCrops, modelInput, probabilities } from "./pipeline.js";

export class Detector {
  // settings: what ui/live_device.py sends from the run's record (classes, framing, sizes, calibration, ...)
  constructor(cv, cascade, ort, session, settings) {
    Object.assign(this, { cv, ort, session, settings });
    this.finder = new FaceFinder(cv, cascade, { detectWidth: settings.detect_width, minFace: settings.min_face });
    this.follower = new BoxFollower(cv);
    this.tracker = new FaceTracker({ alpha: settings.smoothing });
    this.sinceDetection = 0;
    this.threshold = settings.calibration ? settings.calibration.threshold : settings.threshold;
  }

  locate(gray) {
    this.sinceDetection += 1;
    const followed = this.sinceDetection >= this.settings.detect_every ? null : this.follower.follow(gray);
    if (followed !== null) return followed;
    const found = this.finder.find(gray);
    this.follower.reset(gray, found);
    this.sinceDetection = 0;
    return found;
  }

  // Probabilities for 48 x 48 faces, in one forward pass (with their mirror images where calibration says so).
  async classify(faces) {
    if (!faces.length) return [];
    const { decoded_size: decoded, image_size: size, calibration, crop_margin: margin = 0 } = this.settings;
    const flip = Boolean(calibration && calibration.flip);
    const views = flip ? [...faces.map((f) => [f, false]), ...faces.map((f) => [f, true])] : faces.map((f) => [f, false]);
    const input = new Float32Array(views.length * size * size);
    views.forEach(([face, mirrored], i) => input.set(modelInput(face, decoded, size, mirrored, margin), i * size * size));
    const tensor = new this.ort.Tensor("float32", input, [views.length, 1, size, size]);
    const output = await this.session.run({ x: tensor });
    const logits = output.logits.data;
    const classes = this.settings.classes.length;
    return faces.map((_, i) => {
      const row = Array.from(logits.subarray(i * classes, (i + 1) * classes));
      if (flip) {
        const mirror = logits.subarray((i + faces.length) * classes, (i + faces.length + 1) * classes);
        for (let k = 0; k < classes; k++) row[k] = (row[k] + mirror[k]) / 2;
      }
      return probabilities(row, calibration);
    });
  }

  face(box, p, trackId = null) {
    let best = 0;
    p.forEach((v, k) => { if (v > p[best]) best = k; });
    const probs = {};
    this.settings.classes.forEach((c, k) => (probs[c] = p[k]));
    return { box, probabilities: probs, label: this.settings.classes[best], confidence: p[best],
      low_confidence: p[best] < this.threshold, track_id: trackId };
  }

  // A frame's faces located and cropped (48 x 48, framed as the server frames them): the part that needs the
  // frame itself, done on the page's thread.
  prepare(gray) {
    return framedCrops(gray, this.locate(gray), {
      margin: this.settings.margin, shiftY: this.settings.shift_y, decoded: this.settings.decoded_size });
  }

  // The prepared faces read, and smoothed over the frames before (call it in frame order); `crops` gets each
  // face's 48 x 48 input and raw probabilities (what the parity tests compare with the server's).
  async read(framed, crops = null) {
    const probs = await this.classify(framed.map(([, face]) => face));
    if (crops) framed.forEach(([box, face], i) => crops.push({ box, face: Array.from(face), probs: probs[i] }));
    const smoothed = this.tracker.update(framed.map(([box]) => box), probs);
    return framed.map(([box], i) => this.face(box, Array.from(smoothed[i][1]), smoothed[i][0]));
  }

  // Every face of a video frame (a gray cv.Mat), as EmotionDetector.process reads it.
  async process(gray, crops = null) {
    return this.read(this.prepare(gray), crops);
  }
}
