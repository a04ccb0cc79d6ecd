import { renderSVG } from "uqr";
import { raw, type RawHtml } from "../lib/html.ts";

// Drawing a QR code was three quarters of a landing page's CPU (profiled under wrk), and it depends only on the link,
// so each link's drawing is kept. Bounded: the oldest of 256 goes first (~12 KB each).
const qrDrawings = new Map<string, string>();
const QR_DRAWINGS_KEPT = 256;

function qrSvg(url: string): string {
  let svg = qrDrawings.get(url);
  if (svg === undefined) {
    svg = renderSVG(url, { ecc: "M", border: 2, whiteColor: "#ffffff", blackColor: "#111111" });
    if (qrDrawings.size >= QR_DRAWINGS_KEPT) qrDrawings.delete(qrDrawings.keys().next().value!);
    qrDrawings.set(url, svg);
  }
  return svg;
}

/** A QR code of `url` as inline SVG (no image request, allowed by the pages' CSP), named for screen readers. */
export function qrCode(url: string, label: string): RawHtml {
  return raw(qrSvg(url).replace("<svg ", `<svg role="img" aria-label="${label.replace(/[&<>"']/g, "")}" `));
}
