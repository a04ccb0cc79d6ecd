// Client logos and the favicon, embedded in the executable (`type: "file"`) and served by invited itself, so the
// landing page loads nothing from another origin. The badges are simple original drawings, not the projects' marks.
import beagle from "./assets/beagle.svg" with { type: "file" };
import cheogram from "./assets/cheogram.svg" with { type: "file" };
import conversations from "./assets/conversations.svg" with { type: "file" };
import dino from "./assets/dino.svg" with { type: "file" };
import gajim from "./assets/gajim.svg" with { type: "file" };
import invited from "./assets/invited.svg" with { type: "file" };
import monal from "./assets/monal.svg" with { type: "file" };
import monocles from "./assets/monocles.svg" with { type: "file" };
import siskin from "./assets/siskin.svg" with { type: "file" };

/** Built-in logos by name; `logo = "NAME"` in a host's [[apps]] picks one. */
export const BUILTIN_LOGOS: Readonly<Record<string, string>> = { beagle, cheogram, conversations, dino, gajim, monal, monocles, siskin };

export const FAVICON = invited;

/** File types a configured logo file may have, with the Content-Type it is served with. */
export const LOGO_TYPES: Readonly<Record<string, string>> = {
  svg: "image/svg+xml",
  png: "image/png",
  webp: "image/webp",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
};
