// Runs the browser's pipeline (src/detector.js) in Node on gray frames and prints every face it reads, with the
// 48 x 48 crop and the raw probabilities, for tests/test_live_device.py to compare with the server's pipeline.
// Input (stdin, JSON): {model, cascade, settings, frames: [{w, h, gray: base64}]}.
import fs from "fs";
import cv from "@techstark/opencv-js";
import * as ort from "onnxruntime-web";
import { Detector } from "../src/detector.js";

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", async () => {
  const job = JSON.parse(input);
  await new Promise((resolve) => (cv.Mat ? resolve() : (cv.onRuntimeInitialized = resolve)));
  cv.FS_createDataFile("/", "face.xml", fs.readFileSync(job.cascade), true, false, false);
  const cascade = new cv.CascadeClassifier();
  cascade.load("face.xml");
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(fs.readFileSync(job.model));
  const detector = new Detector(cv, cascade, ort, session, job.settings);
  const frames = [];
  for (const frame of job.frames) {
    const gray = cv.matFromArray(frame.h, frame.w, cv.CV_8UC1, Buffer.from(frame.gray, "base64"));
    const crops = [];
    const faces = await detector.process(gray, crops);
    gray.delete();
    frames.push({ faces, crops });
  }
  process.stdout.write(JSON.stringify(frames));
});
