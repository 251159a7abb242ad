// Snapshot interpolation for positions that arrive in steps (a server loop's ticks): pure, no DOM.

/** A jump longer than this is a teleport (a caught player sent back): no sliding across the field. */
export const SNAP = 120;

/** Timed positions of one moving thing; at(t) interpolates between the two around t. */
export class Track {
  constructor({ snap = SNAP, keep = 8 } = {}) {
    this.snap = snap;
    this.keep = keep;
    this.samples = [];
  }

  push(t, x, y) {
    const last = this.samples[this.samples.length - 1];
    if (last && last.x === x && last.y === y) return;
    if (last && Math.hypot(x - last.x, y - last.y) > this.snap) this.samples = [];
    this.samples.push({ t, x, y });
    if (this.samples.length > this.keep) this.samples.shift();
  }

  at(t) {
    const s = this.samples;
    if (!s.length) return null;
    if (t <= s[0].t) return s[0];
    for (let i = s.length - 1; i > 0; i -= 1) {
      const a = s[i - 1];
      const b = s[i];
      if (t >= a.t && t <= b.t) {
        const k = b.t === a.t ? 1 : (t - a.t) / (b.t - a.t);
        return { x: a.x + (b.x - a.x) * k, y: a.y + (b.y - a.y) * k, between: k > 0 && k < 1 };
      }
    }
    return s[s.length - 1];
  }
}
