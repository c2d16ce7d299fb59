import type { NextConfig } from "next";

// A static export: `happening serve` serves `out/` on the API's own origin (see api/webapp.py).
const config: NextConfig = {
  output: "export",
  trailingSlash: false,
  images: { unoptimized: true },
};

export default config;
