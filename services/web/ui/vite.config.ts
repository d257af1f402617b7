// Builds the single-page UI into the web service's static folder, served under /static/.
import { defineConfig } from "vite";
import preact from "@preact/preset-vite";

export default defineConfig({
  base: "/static/",
  plugins: [preact()],
  build: {
    outDir: "../src/podium_web/static",
    emptyOutDir: true,
    assetsDir: "assets",
    target: "es2020",
    sourcemap: false,
  },
});
