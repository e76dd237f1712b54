// QR codes (ISO/IEC 18004, model 2) in byte mode, for enrollment JWTs that a
// phone or a tunneler's camera can read. Versions 1 to 40, error correction
// levels L, M, Q and H; the mask is chosen by the standard's penalty rules.

// Error-correction codewords per block, and blocks, by level and version
// (index 0 unused), from the standard's table of error correction
// characteristics.
const EC_PER_BLOCK = {
  L: [0, 7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22, 24, 28, 30, 28, 28, 28, 28, 30, 30, 26, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
  M: [0, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26, 26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28],
  Q: [0, 13, 22, 18, 26, 18, 24, 18, 22, 20, 24, 28, 26, 24, 20, 30, 24, 28, 28, 26, 30, 28, 30, 30, 30, 30, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
  H: [0, 17, 28, 22, 16, 22, 28, 26, 26, 24, 28, 24, 28, 22, 24, 24, 30, 28, 28, 26, 28, 30, 24, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
};
const BLOCKS = {
  L: [0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7, 8, 8, 9, 9, 10, 12, 12, 12, 13, 14, 15, 16, 17, 18, 19, 19, 20, 21, 22, 24, 25],
  M: [0, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18, 20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49],
  Q: [0, 1, 1, 2, 2, 4, 4, 6, 6, 8, 8, 8, 10, 12, 16, 12, 17, 16, 18, 21, 20, 23, 23, 25, 27, 29, 34, 34, 35, 38, 40, 43, 45, 48, 51, 53, 56, 59, 62, 65, 68],
  H: [0, 1, 1, 2, 4, 4, 4, 5, 6, 8, 8, 11, 11, 16, 16, 18, 16, 19, 21, 25, 25, 25, 34, 30, 32, 35, 37, 40, 42, 45, 48, 51, 54, 57, 60, 63, 66, 70, 74, 77, 81],
};
const LEVEL_BITS = { L: 1, M: 0, Q: 3, H: 2 };

// GF(256) with the QR polynomial x^8 + x^4 + x^3 + x^2 + 1.
const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
for (let i = 0, x = 1; i < 255; i++) {
  EXP[i] = x;
  LOG[x] = i;
  x <<= 1;
  if (x & 0x100) x ^= 0x11d;
}
for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255];
const mul = (a, b) => (a && b ? EXP[LOG[a] + LOG[b]] : 0);

// rsGenerator is the product of (x - a^i) for i < degree, highest term first
// (its leading 1 omitted).
function rsGenerator(degree) {
  let g = [1];
  for (let i = 0; i < degree; i++) {
    const next = new Array(g.length + 1).fill(0);
    for (let j = 0; j < g.length; j++) {
      next[j] ^= g[j];
      next[j + 1] ^= mul(g[j], EXP[i]);
    }
    g = next;
  }
  return g.slice(1);
}

// rsRemainder is the error-correction codewords of data.
function rsRemainder(data, gen) {
  const rem = new Array(gen.length).fill(0);
  for (const b of data) {
    const factor = b ^ rem.shift();
    rem.push(0);
    for (let i = 0; i < gen.length; i++) rem[i] ^= mul(gen[i], factor);
  }
  return rem;
}

function alignmentCenters(version) {
  if (version === 1) return [];
  const n = Math.floor(version / 7) + 2;
  const size = version * 4 + 17;
  const step = version === 32 ? 26 : Math.ceil((size - 13) / (n * 2 - 2)) * 2;
  const out = [6];
  for (let pos = size - 7; out.length < n; pos -= step) out.splice(1, 0, pos);
  return out;
}

// Grid holds the modules (dark = 1) and which of them are function
// patterns, which data and masks never touch, row by row in flat arrays.
class Grid {
  constructor(version) {
    this.version = version;
    this.size = version * 4 + 17;
    this.dark = new Uint8Array(this.size * this.size);
    this.fixed = new Uint8Array(this.size * this.size);
    this.drawFunctionPatterns();
  }

  set(x, y, dark) {
    const i = y * this.size + x;
    this.dark[i] = dark ? 1 : 0;
    this.fixed[i] = 1;
  }

  drawFunctionPatterns() {
    const s = this.size;
    for (let i = 0; i < s; i++) {
      this.set(6, i, i % 2 === 0);
      this.set(i, 6, i % 2 === 0);
    }
    for (const [cx, cy] of [[3, 3], [s - 4, 3], [3, s - 4]]) {
      for (let dy = -4; dy <= 4; dy++) {
        for (let dx = -4; dx <= 4; dx++) {
          const x = cx + dx;
          const y = cy + dy;
          if (x < 0 || y < 0 || x >= s || y >= s) continue;
          const d = Math.max(Math.abs(dx), Math.abs(dy));
          this.set(x, y, d !== 2 && d !== 4);
        }
      }
    }
    const centers = alignmentCenters(this.version);
    const last = centers.length - 1;
    centers.forEach((cy, i) => centers.forEach((cx, j) => {
      if ((i === 0 && j === 0) || (i === 0 && j === last) || (i === last && j === 0)) return; // under a finder
      for (let dy = -2; dy <= 2; dy++) {
        for (let dx = -2; dx <= 2; dx++) this.set(cx + dx, cy + dy, Math.max(Math.abs(dx), Math.abs(dy)) !== 1);
      }
    }));
    this.drawFormat(0, 0); // reserve; the real bits come with the mask
    this.drawVersion();
  }

  // drawFormat writes the 15 format bits (level and mask, BCH protected)
  // next to the finders, twice.
  drawFormat(levelBits, mask) {
    const value = (levelBits << 3) | mask;
    let rem = value;
    for (let i = 0; i < 10; i++) rem = (rem << 1) ^ ((rem >>> 9) * 0x537);
    const bits = ((value << 10) | rem) ^ 0x5412;
    const bit = (i) => ((bits >>> i) & 1) === 1;
    const s = this.size;
    for (let i = 0; i <= 5; i++) this.set(8, i, bit(i));
    this.set(8, 7, bit(6));
    this.set(8, 8, bit(7));
    this.set(7, 8, bit(8));
    for (let i = 9; i < 15; i++) this.set(14 - i, 8, bit(i));
    for (let i = 0; i < 8; i++) this.set(s - 1 - i, 8, bit(i));
    for (let i = 8; i < 15; i++) this.set(8, s - 15 + i, bit(i));
    this.set(8, s - 8, true); // the dark module
  }

  drawVersion() {
    if (this.version < 7) return;
    let rem = this.version;
    for (let i = 0; i < 12; i++) rem = (rem << 1) ^ ((rem >>> 11) * 0x1f25);
    const bits = (this.version << 12) | rem;
    for (let i = 0; i < 18; i++) {
      const d = ((bits >>> i) & 1) === 1;
      const a = this.size - 11 + (i % 3);
      const b = Math.floor(i / 3);
      this.set(a, b, d);
      this.set(b, a, d);
    }
  }

  // drawCodewords fills the data area in the standard's zigzag, two
  // columns at a time from the right, skipping the vertical timing column.
  drawCodewords(codewords) {
    const s = this.size;
    let i = 0;
    const total = codewords.length * 8;
    for (let right = s - 1; right >= 1; right -= 2) {
      if (right === 6) right = 5;
      const upward = ((right + 1) & 2) === 0;
      for (let v = 0; v < s; v++) {
        const y = upward ? s - 1 - v : v;
        for (let j = 0; j < 2; j++) {
          const at = y * s + right - j;
          if (this.fixed[at]) continue;
          this.dark[at] = i < total ? (codewords[i >>> 3] >>> (7 - (i & 7))) & 1 : 0;
          i++;
        }
      }
    }
  }

  applyMask(mask) {
    const test = MASKS[mask];
    const s = this.size;
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        if (!this.fixed[y * s + x] && test(x, y)) this.dark[y * s + x] ^= 1;
      }
    }
  }

  dataModules() {
    let n = 0;
    for (const f of this.fixed) if (!f) n++;
    return n;
  }

  // penalty scores the grid by the standard's four rules; lower is better.
  penalty() {
    const s = this.size;
    const d = this.dark;
    let score = 0;
    // Rules 1 and 3 along every row (step 1) and column (step s).
    const line = new Uint8Array(s);
    for (let k = 0; k < s; k++) {
      for (const [start, step] of [[k * s, 1], [k, s]]) {
        for (let i = 0; i < s; i++) line[i] = d[start + i * step];
        let run = 1;
        for (let i = 1; i <= s; i++) {
          if (i < s && line[i] === line[i - 1]) { run++; continue; }
          if (run >= 5) score += run - 2;
          run = 1;
        }
        for (let i = 0; i + 7 <= s; i++) {
          if (line[i] && !line[i + 1] && line[i + 2] && line[i + 3] && line[i + 4] && !line[i + 5] && line[i + 6]) {
            let before = true;
            let after = true;
            for (let j = 1; j <= 4; j++) {
              if (i - j >= 0 && line[i - j]) before = false;
              if (i + 6 + j < s && line[i + 6 + j]) after = false;
            }
            if (before || after) score += 40;
          }
        }
      }
    }
    // Rule 2: 2x2 blocks of one colour; rule 4: the share of dark modules.
    let darkCount = 0;
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const v = d[y * s + x];
        darkCount += v;
        if (x + 1 < s && y + 1 < s && v === d[y * s + x + 1] && v === d[(y + 1) * s + x] && v === d[(y + 1) * s + x + 1]) score += 3;
      }
    }
    const total = s * s;
    score += 10 * (Math.ceil(Math.abs(darkCount * 20 - total * 10) / total) - 1);
    return score;
  }

  rows() {
    const s = this.size;
    return Array.from({ length: s }, (_, y) => Array.from(this.dark.subarray(y * s, (y + 1) * s), (v) => v === 1));
  }
}

const MASKS = [
  (x, y) => (x + y) % 2 === 0,
  (x, y) => y % 2 === 0,
  (x) => x % 3 === 0,
  (x, y) => (x + y) % 3 === 0,
  (x, y) => (Math.floor(x / 3) + Math.floor(y / 2)) % 2 === 0,
  (x, y) => ((x * y) % 2) + ((x * y) % 3) === 0,
  (x, y) => (((x * y) % 2) + ((x * y) % 3)) % 2 === 0,
  (x, y) => (((x + y) % 2) + ((x * y) % 3)) % 2 === 0,
];

const capacityCache = new Map();

// dataCodewords is how many data codewords a version and level carry.
export function dataCodewords(version, level) {
  const key = `${version}${level}`;
  if (!capacityCache.has(key)) {
    const total = Math.floor(new Grid(version).dataModules() / 8);
    capacityCache.set(key, total - EC_PER_BLOCK[level][version] * BLOCKS[level][version]);
  }
  return capacityCache.get(key);
}

// encode makes the QR code of text. opts.level is L, M (default), Q or H;
// opts.mask (0-7) forces a mask instead of choosing the best, and
// opts.version a version at least as large as the smallest that fits.
export function encode(text, opts = {}) {
  const level = opts.level || 'M';
  if (!(level in LEVEL_BITS)) throw new Error(`unknown error correction level ${level}`);
  const bytes = new TextEncoder().encode(text);
  let version = opts.version || 1;
  for (; version <= 40; version++) {
    const countBits = version < 10 ? 8 : 16;
    if (bytes.length < 2 ** countBits && 4 + countBits + bytes.length * 8 <= dataCodewords(version, level) * 8) break;
  }
  if (version > 40) throw new Error(`${bytes.length} bytes do not fit in a QR code at level ${level}`);
  const capacity = dataCodewords(version, level);

  // Byte-mode segment, terminator, padding to whole codewords, pad bytes.
  const data = new Uint8Array(capacity);
  let nbits = 0;
  const put = (value, n) => {
    for (let i = n - 1; i >= 0; i--, nbits++) data[nbits >>> 3] |= ((value >>> i) & 1) << (7 - (nbits & 7));
  };
  put(0b0100, 4);
  put(bytes.length, version < 10 ? 8 : 16);
  for (const b of bytes) put(b, 8);
  nbits = Math.min(nbits + 4, capacity * 8); // terminator: zero bits, already zero
  for (let i = Math.ceil(nbits / 8), pad = 0xec; i < capacity; i++, pad ^= 0xec ^ 0x11) data[i] = pad;

  // Blocks, their error correction, and the interleaved sequence.
  const grid = new Grid(version);
  const total = Math.floor(grid.dataModules() / 8);
  const nBlocks = BLOCKS[level][version];
  const ecLen = EC_PER_BLOCK[level][version];
  const shortBlocks = nBlocks - (total % nBlocks);
  const shortData = Math.floor(total / nBlocks) - ecLen;
  const gen = rsGenerator(ecLen);
  const blocks = [];
  for (let b = 0, at = 0; b < nBlocks; b++) {
    const len = shortData + (b < shortBlocks ? 0 : 1);
    const d = Array.from(data.subarray(at, at + len));
    at += len;
    blocks.push({ d, ec: rsRemainder(d, gen) });
  }
  const codewords = [];
  for (let i = 0; i <= shortData; i++) for (const bl of blocks) if (i < bl.d.length) codewords.push(bl.d[i]);
  for (let i = 0; i < ecLen; i++) for (const bl of blocks) codewords.push(bl.ec[i]);
  grid.drawCodewords(codewords);

  let mask = opts.mask ?? -1;
  if (mask < 0) {
    let best = Infinity;
    for (let m = 0; m < 8; m++) {
      grid.applyMask(m);
      grid.drawFormat(LEVEL_BITS[level], m);
      const p = grid.penalty();
      if (p < best) { best = p; mask = m; }
      grid.applyMask(m); // undo: masks are their own inverse
    }
  }
  grid.applyMask(mask);
  grid.drawFormat(LEVEL_BITS[level], mask);
  return { version, level, mask, size: grid.size, modules: grid.rows() };
}

// toSVG draws a code as an SVG element with a quiet zone of four modules.
export function toSVG(code, { pixels = 256, title = 'QR code' } = {}) {
  const ns = 'http://www.w3.org/2000/svg';
  const n = code.size + 8;
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${n} ${n}`);
  svg.setAttribute('width', pixels);
  svg.setAttribute('height', pixels);
  svg.setAttribute('shape-rendering', 'crispEdges');
  svg.setAttribute('class', 'qr');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', title);
  const bg = document.createElementNS(ns, 'rect');
  bg.setAttribute('width', n);
  bg.setAttribute('height', n);
  bg.setAttribute('fill', '#fff');
  const path = document.createElementNS(ns, 'path');
  let d = '';
  code.modules.forEach((row, y) => row.forEach((dark, x) => { if (dark) d += `M${x + 4} ${y + 4}h1v1h-1z`; }));
  path.setAttribute('d', d);
  path.setAttribute('fill', '#000');
  svg.append(bg, path);
  return svg;
}
