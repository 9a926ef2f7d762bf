import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// Built into dist/, served by the console (python -m hotline_console); no CDN, nothing
// fetched at run time. The console's CSP allows no inline script or style.
export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, assetsInlineLimit: 0 },
  test: { environment: "jsdom", include: ["src/**/*.test.{ts,tsx}"] },
});
