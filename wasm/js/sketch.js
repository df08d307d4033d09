// The quantiles of a summary, kept in JS: a DDSketch per slot of a rolling window. Every quantile
// is within 1% of the true value for magnitudes from 1e-9 (closer to 0 counts as 0) across a range
// of up to 6e17 times the least (past it the lowest bins fold together). JS has Math.log for free,
// where the same sketch in the wasm module cost 7.5 KB of its 100 KB budget; the core only renders
// what is computed here.

const ALPHA = 0.01;
const GAMMA = (1 + ALPHA) / (1 - ALPHA);
const PER_LN = 1 / Math.log(GAMMA);
/** A bin's value: within ALPHA of everything it holds, (GAMMA^(i-1), GAMMA^i]. */
const MID = 2 / (1 + GAMMA);
/** Bins per sign at most, as the Rust sketch: values across 6e17 times their least (GAMMA^2048),
 * then the lowest bins fold together. */
const MAX_BINS = 2048;
/** Closer to 0 than this counts as 0. */
const MIN_VALUE = 1e-9;

/** Counts by bin index, dense from `lo`. */
class Bins {
  constructor() {
    this.lo = 0;
    this.c = [];
  }

  add(i, k) {
    let at = i - this.lo;
    // A full store has folded its lowest bins together: anything below goes there, as growing and
    // folding again would, without copying 2,048 bins.
    if (at < 0 && this.c.length >= MAX_BINS) at = 0;
    else if (at < 0 || at >= this.c.length) {
      this.grow(i);
      at = Math.max(0, i - this.lo);
    }
    this.c[at] += k;
  }

  grow(i) {
    let c = this.c;
    if (c.length === 0) {
      this.lo = i;
      c.push(0);
      return;
    }
    if (i < this.lo) {
      c = new Array(this.lo - i).fill(0).concat(c);
      this.lo = i;
    } else {
      while (this.lo + c.length <= i) c.push(0);
    }
    if (c.length > MAX_BINS) {
      // The lowest bins fold into one, as DDSketch's collapsing store does.
      const cut = c.length - MAX_BINS;
      let folded = 0;
      for (let j = 0; j <= cut; j++) folded += c[j];
      c = c.slice(cut);
      c[0] = folded;
      this.lo += cut;
    }
    this.c = c;
  }

  mergeInto(other) {
    const c = this.c;
    for (let j = 0; j < c.length; j++) if (c[j] !== 0) other.add(this.lo + j, c[j]);
  }
}

/** One slot's observations. */
class Sketch {
  constructor() {
    this.pos = new Bins();
    this.neg = new Bins();
    this.zero = 0;
    this.n = 0;
    this.min = Infinity;
    this.max = -Infinity;
  }

  add(v) {
    this.n++;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    if (v > MIN_VALUE) this.pos.add(Math.ceil(Math.log(v) * PER_LN), 1);
    else if (v < -MIN_VALUE) this.neg.add(Math.ceil(Math.log(-v) * PER_LN), 1);
    else this.zero++;
  }

  mergeInto(other) {
    this.pos.mergeInto(other.pos);
    this.neg.mergeInto(other.neg);
    other.zero += this.zero;
    other.n += this.n;
    if (this.min < other.min) other.min = this.min;
    if (this.max > other.max) other.max = this.max;
  }

  /** The value at each of `qs` (increasing, each in [0, 1]) into `out`; 0 and 1 are the exact
   * least and greatest, and no estimate falls outside them. */
  quantiles(qs, out) {
    const { neg, pos } = this;
    // A cursor over the bins in value order: negative ones from the largest magnitude down, then
    // zero, then positive ones up. The bin where the count passes a quantile's rank holds it.
    let phase = 0;
    let j = neg.c.length - 1;
    let seen = 0;
    let value = NaN;
    for (let k = 0; k < qs.length; k++) {
      const q = qs[k];
      if (q <= 0 || q >= 1) {
        out[k] = q <= 0 ? this.min : this.max;
        continue;
      }
      const rank = q * (this.n - 1);
      while (seen <= rank) {
        if (phase === 0) {
          if (j < 0) {
            phase = 1;
            continue;
          }
          const c = neg.c[j];
          if (c !== 0) {
            seen += c;
            value = -Math.exp((neg.lo + j) / PER_LN) * MID;
          }
          j--;
        } else if (phase === 1) {
          phase = 2;
          j = 0;
          if (this.zero !== 0) {
            seen += this.zero;
            value = 0;
          }
        } else {
          // The counts add up to n, past every rank: this end is never reached.
          if (j >= pos.c.length) break;
          const c = pos.c[j];
          if (c !== 0) {
            seen += c;
            value = Math.exp((pos.lo + j) / PER_LN) * MID;
          }
          j++;
        }
      }
      out[k] = Math.min(Math.max(value, this.min), this.max);
    }
  }
}

/**
 * One summary series' window: `slots` sketches of `slotMs` each, the current one taking what
 * arrives, or a single sketch over the series' life when `slotMs` is Infinity (without
 * `maxAgeSeconds`). A windowed observation reads the clock (about 40 ns in Node 20, a third of the
 * observation), so it is filed in the slot of the moment it was made and leaves the quantiles
 * between `maxAgeSeconds` minus one slot and `maxAgeSeconds` later, however rarely renders come.
 */
export class Window {
  constructor(slotMs, slots, now) {
    this.slotMs = slotMs;
    this.slots = new Array(slots).fill(null);
    this.current = 0;
    this.began = now;
    /** Lifetime `_count` and `_sum`. */
    this.count = 0;
    this.sum = 0;
    /** Observed since the last publish. */
    this.fresh = false;
  }

  /** Observes `v` at `now` (on the summary's clock; anything for a lifetime window). */
  observe(v, now) {
    this.count++;
    this.sum += v;
    this.fresh = true;
    if (now - this.began >= this.slotMs) this.roll(now);
    (this.slots[this.current] ??= new Sketch()).add(v);
  }

  /** Moves the current slot on by the slots that ended by `now`, emptying each it enters. */
  roll(now) {
    const ended = Math.floor((now - this.began) / this.slotMs);
    if (!(ended > 0)) return;
    const slots = this.slots;
    for (let k = 0; k < Math.min(ended, slots.length); k++) {
      this.current = (this.current + 1) % slots.length;
      slots[this.current] = null;
    }
    // Whole slots only, so that slot edges stay where they were.
    this.began += ended * this.slotMs;
  }

  /** Whether the window holds no observation at `now`. */
  empty(now) {
    this.roll(now);
    return this.slots.every((s) => s === null);
  }
}

/** The quantiles `qs` over every slot of `windows` at `now` into `out`: NaN each while they are
 * empty, as client_golang and the Rust recorder render an empty summary. (Several windows: the
 * label sets folded into one overflow series.) */
export function quantilesOf(windows, qs, now, out) {
  let merged = null;
  let only = null;
  for (const window of windows) {
    window.roll(now);
    for (const s of window.slots) {
      if (s === null) continue;
      if (only === null) {
        only = s;
        continue;
      }
      if (merged === null) {
        merged = new Sketch();
        only.mergeInto(merged);
      }
      s.mergeInto(merged);
    }
  }
  const sketch = merged ?? only;
  if (sketch === null) out.fill(NaN);
  else sketch.quantiles(qs, out);
  return out;
}
