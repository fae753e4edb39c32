// /view: the avatar alone, filling the window, for OBS's Browser Source.
// ?bg=transparent (default) | green | blue | magenta | black | white | #rrggbb (write # as %23 in a URL);
// ?encoding=auto | jpeg | jpeg+alpha | webp | png.
import { FrameStream } from "./stream.js";

const NAMED = { transparent: "transparent", green: "#00ff00", blue: "#0000ff", magenta: "#ff00ff", black: "#000000",
                white: "#ffffff" };
const params = new URLSearchParams(location.search);
const bg = (params.get("bg") || "transparent").toLowerCase();
const colour = NAMED[bg] || (/^#?[0-9a-f]{6}$/.test(bg) ? "#" + bg.replace("#", "") : "transparent");
document.documentElement.style.background = colour;
document.body.style.background = colour;

const stream = new FrameStream({
  canvas: document.getElementById("avatar"),
  encoding: params.get("encoding") || "auto",
  status: false,
  onError: (message) => console.warn("facecast:", message),
});
window.facecast = stream.stats;
