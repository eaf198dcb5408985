// Builds the component into dist/: the page's bundle and the model's worker (esbuild), its page, and ONNX Runtime's WebAssembly files, all
// served by the app itself (nothing from a CDN). `make frontend` runs it when src/ or the lockfile changed.
import fs from "fs";
import * as esbuild from "esbuild";

fs.rmSync("dist", { recursive: true, force: true });
fs.mkdirSync("dist/ort", { recursive: true });
await esbuild.build({
  entryPoints: ["src/main.js"],
  bundle: true,
  format: "iife",
  platform: "browser",
  target: "es2020",
  minify: true,
  outfile: "dist/bundle.js",
  external: ["fs", "path", "crypto"], // opencv.js's Node branches, never taken in a browser
  logLevel: "warning",
});
// the model's worker: ONNX Runtime alone, an ES module (module workers load the runtime's own .mjs)
await esbuild.build({
  entryPoints: ["src/model_worker.js"],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2020",
  minify: true,
  outfile: "dist/model_worker.js",
  logLevel: "warning",
});
fs.copyFileSync("src/index.html", "dist/index.html");
for (const name of ["ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.mjs"]) {
  fs.copyFileSync(`node_modules/onnxruntime-web/dist/${name}`, `dist/ort/${name}`);
}
console.log("built dist/");
