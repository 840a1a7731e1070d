// The live scrubber (issue 19): redraws the histograms and readouts from the precomputed grid on
// every input event, with no server round trip. One source for the page (a Streamlit v2 component:
// compression/scrub.py page_parts) and the offline HTML report (standalone_html): nothing from the
// network. The readouts' texts are formatted on the server (charts.pct / fmt_bytes / fmt_energy),
// so the preview reads exactly as the cards do.
function mountScrubber(root, G, onRelease) {
  const q = (role) => root.querySelector(`[data-role="${role}"]`);
  const S = G.sparsities, B = G.bits, P = {};
  for (const p of G.points) P[p.sparsity + "|" + p.bits] = p;
  const sp = root.querySelector('[data-testid="scrubber-sparsity"]');
  const bt = root.querySelector('[data-testid="scrubber-bits"]');
  sp.max = S.length - 1; bt.max = B.length - 1;
  sp.value = Math.max(0, S.indexOf(G.start_sparsity)); bt.value = Math.max(0, B.indexOf(G.start_bits));
  sp.disabled = S.length < 2; bt.disabled = B.length < 2;
  q("help").textContent = G.help;
  const W = 800, X0 = 110, T = 44;  // plot width, left edge and top in viewBox units

  function ticks(lo, hi) {  // five round ticks across [lo, hi]
    const out = [];
    for (let i = 0; i <= 4; i++) out.push(lo + (hi - lo) * i / 4);
    return out;
  }
  function num(x) {
    const a = Math.abs(x);
    return a === 0 ? "0" : a >= 100 ? x.toFixed(0) : a >= 1 ? x.toFixed(2) : a >= 0.01 ? x.toFixed(3) : x.toExponential(1);
  }
  function bars(counts, edges, top, color, extra, H) {  // H: the plot's height in viewBox units
    const n = counts.length, bw = W / n, parts = [];
    for (let i = 0; i < n; i++) {
      const y = H * counts[i] / top;
      if (y > 0) parts.push(`<rect x="${(X0 + i * bw).toFixed(2)}" y="${(T + H - y).toFixed(2)}" ` +
        `width="${Math.max(bw - 0.6, 0.6).toFixed(2)}" height="${y.toFixed(2)}" fill="${color}"/>`);
    }
    parts.push(`<line x1="${X0}" y1="${T + H}" x2="${X0 + W}" y2="${T + H}" stroke="#111" stroke-width="2"/>`);
    parts.push(`<line x1="${X0}" y1="${T}" x2="${X0}" y2="${T + H}" stroke="#111" stroke-width="2"/>`);
    const lo = edges[0], hi = edges[edges.length - 1];
    for (const t of ticks(lo, hi)) {
      const x = X0 + W * (t - lo) / (hi - lo || 1);
      parts.push(`<text x="${x.toFixed(1)}" y="${T + H + 28}" font-size="24" text-anchor="middle" fill="#111">${num(t)}</text>`);
    }
    parts.push(`<text x="${X0 - 8}" y="${T + 12}" font-size="24" text-anchor="end" fill="#111">${top.toLocaleString("en")}</text>`);
    parts.push(`<text x="${X0 - 8}" y="${T + H}" font-size="24" text-anchor="end" fill="#111">0</text>`);
    return parts.concat(extra || []).join("");
  }

  function draw() {
    const s = S[+sp.value], b = B[+bt.value], p = P[s + "|" + b];
    q("spv").textContent = p.sparsity_text;
    q("btv").textContent = b >= 32 ? "32 (float)" : String(b);
    sp.setAttribute("aria-valuetext", p.sparsity_text);
    bt.setAttribute("aria-valuetext", b >= 32 ? "32 bits, float" : b + " bits");
    q("acc").textContent = p.accuracy_text;
    q("size").textContent = p.size_text;
    q("en").textContent = p.energy_text;
    q("lay").textContent = G.layer;
    q("zeros").textContent = p.zeros.toLocaleString("en");
    q("lbl").textContent = `Preview: the nearest grid point, sparsity ${p.sparsity_text}, ${b >= 32 ? "float" : b + "-bit"} ` +
      "weights. " + G.release_text;
    // weight histogram: non-zero weights on the shared bins (blue, scaled to their own tallest bin), and
    // the zeros apart as the fraction of the layer they are (orange, 0 to 100 %): at 95 % sparsity one
    // shared scale would flatten every blue bar
    const H = 240, top = Math.max(1, ...p.hist), n = p.zeros + p.hist.reduce((a, c) => a + c, 0);
    const frac = n ? p.zeros / n : 0, zy = H * frac, zx = X0 + W + 40;
    const svg = q("hist");
    svg.setAttribute("aria-label", `Weights of ${G.layer}: ${p.zeros.toLocaleString("en")} zeros`);
    svg.innerHTML = `<text x="${X0}" y="24" font-size="24" font-weight="600" fill="#111">Weights of ${G.layer}` +
      ` (non-zero, blue) and the zero fraction (orange)</text>` + bars(p.hist, G.edges, top, "#0b4f9c", [
      `<rect x="${zx}" y="${T}" width="44" height="${H}" fill="none" stroke="#111" stroke-width="1.5"/>`,
      `<rect data-testid="scrubber-zero-bar" x="${zx}" y="${(T + H - zy).toFixed(2)}" width="44" ` +
      `height="${zy.toFixed(2)}" fill="#b3470b"/>`,
      `<text x="${zx + 22}" y="${T + H + 28}" font-size="24" text-anchor="middle" fill="#111">` +
      `${Math.round(frac * 100)} %</text>`,
      `<text x="${zx + 22}" y="${T - 8}" font-size="22" text-anchor="middle" fill="#111">zeros</text>`], H);
    // quantization error (rounded − kept weight) of the same layer, on shared bins
    const err = q("err");
    err.setAttribute("aria-label", `Quantization error of ${G.layer}`);
    if (b >= 32) {
      err.innerHTML = `<text x="${X0}" y="30" font-size="24" fill="#111">Quantization error: none at 32-bit float ` +
        "weights (nothing is rounded).</text>";
    } else {
      err.innerHTML = `<text x="${X0}" y="24" font-size="24" font-weight="600" fill="#111">Quantization error ` +
        `of ${G.layer} (rounded − kept weight)</text>` +
        bars(p.error_hist, G.error_edges, Math.max(1, ...p.error_hist), "#5b2a86", [], 180);
    }
  }
  function release() {
    if (onRelease) onRelease({ sparsity: S[+sp.value], bits: B[+bt.value] });
  }
  sp.addEventListener("input", draw); bt.addEventListener("input", draw);
  sp.addEventListener("change", release); bt.addEventListener("change", release);
  draw();
  return () => {
    sp.removeEventListener("input", draw); bt.removeEventListener("input", draw);
    sp.removeEventListener("change", release); bt.removeEventListener("change", release);
  };
}
