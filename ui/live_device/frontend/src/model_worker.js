// The emotion model in a Web Worker (ONNX Runtime Web, WebAssembly): the page's thread captures the next frame and
// finds its faces while this one reads the faces of the frame before, so a frame costs the slower of the two, not
// their sum. Messages: {type: "load", model, wasmPaths} -> {type: "loaded"} or {type: "error", message};
// {type: "run", id, input, dims} -> {type: "result", id, logits, ms} or {type: "error", id, message}.
import * as ort from "onnxruntime-web/wasm";

let session = null;

self.onmessage = async ({ data }) => {
  try {
    if (data.type === "load") {
      ort.env.wasm.wasmPaths = data.wasmPaths;
      ort.env.wasm.numThreads = 1; // no cross-origin isolation in a component's frame: no shared memory
      session = await ort.InferenceSession.create(data.model);
      self.postMessage({ type: "loaded" });
    } else if (data.type === "run") {
      const started = performance.now();
      const output = await session.run({ x: new ort.Tensor("float32", data.input, data.dims) });
      const logits = output.logits.data;
      self.postMessage({ type: "result", id: data.id, logits, ms: performance.now() - started }, [logits.buffer]);
    }
  } catch (e) {
    self.postMessage({ type: "error", id: data.id, message: (e && e.message) || String(e) });
  }
};
