// An ONNX Runtime session that runs in src/model_worker.js, with the one call src/detector.js makes of a session
// (run({x}) -> {logits: {data}}), and the one class it takes from ONNX Runtime (Tensor). Replies come back in
// the order the runs were sent, so the frames' results do too.
export class Tensor {
  constructor(type, data, dims) {
    Object.assign(this, { type, data, dims });
  }
}

export class RemoteSession {
  constructor(worker) {
    this.worker = worker;
    this.pending = new Map();
    this.nextId = 0;
    this.busyMs = 0; // the worker's time in the model so far
    worker.onmessage = ({ data }) => {
      const waiting = this.pending.get(data.id);
      if (!waiting) return;
      this.pending.delete(data.id);
      if (data.type === "error") waiting.reject(new Error(data.message));
      else {
        this.busyMs += data.ms;
        waiting.resolve({ logits: { data: data.logits } });
      }
    };
  }

  // The model's bytes loaded in the worker; rejects with ONNX Runtime's message for a file that is not a model.
  static load(workerUrl, model, wasmPaths) {
    const worker = new Worker(workerUrl, { type: "module" });
    return new Promise((resolve, reject) => {
      worker.onerror = (e) => reject(new Error(e.message || "the model's worker could not start"));
      worker.onmessage = ({ data }) => {
        if (data.type === "loaded") resolve(new RemoteSession(worker));
        else reject(new Error(data.message));
      };
      worker.postMessage({ type: "load", model, wasmPaths }, [model.buffer]);
    });
  }

  run(feeds) {
    const id = this.nextId++;
    const { data, dims } = feeds.x;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ type: "run", id, input: data, dims }, [data.buffer]);
    });
  }
}
