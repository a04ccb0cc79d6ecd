import { renderSVG } from "uqr";
import { raw, type RawHtml } from "../lib/html.ts";

/** A QR code of `url` as inline SVG (no image request, allowed by the pages' CSP), named for screen readers. */
export function qrCode(url: string, label: string): RawHtml {
  const svg = renderSVG(url, { ecc: "M", border: 2, whiteColor: "#ffffff", blackColor: "#111111" });
  return raw(svg.replace("<svg ", `<svg role="img" aria-label="${label.replace(/[&<>"']/g, "")}" `));
}
