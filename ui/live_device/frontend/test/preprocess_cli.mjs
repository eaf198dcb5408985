// Reads cases as JSON on stdin and prints what src/preprocess.js makes of them (tests/test_live_device.py
// compares that with the Python functions the server uses).
import { modelInput } from "../src/pipeline.js";
import { fitSquare, pyRound, squareBox } from "../src/preprocess.js";

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const cases = JSON.parse(input);
  const out = {
    fit: cases.fit.map(({ gray, w, h, size }) => Array.from(fitSquare(Uint8Array.from(gray), w, h, size))),
    round: cases.round.map(pyRound),
    square: cases.square.map(({ box, frameH, frameW, margin, shiftY }) => squareBox(box, frameH, frameW, margin, shiftY)),
    input: (cases.input || []).map(({ face, decoded, size, mirrored, margin }) =>
      Array.from(modelInput(Uint8Array.from(face), decoded, size, mirrored, margin))),
  };
  process.stdout.write(JSON.stringify(out));
});
