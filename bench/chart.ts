/** The HTTP results as an SVG bar chart (bench/results.svg): req/s per variant, grouped by framework and token mix. */
import type { HttpRow } from "./http.ts";

const COLORS: Record<string, string> = {
  bare: "#9e9e9e",
  noop: "#cfcfcf",
  ours: "#1f6feb",
  "ours-nocache": "#7aa7f0",
  peer: "#e3803b",
  jose: "#8957e5",
};

const escapeXml = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function chart(rows: readonly HttpRow[], title: string): string {
  const barHeight = 16;
  const gap = 4;
  const groupGap = 18;
  const labelWidth = 330;
  const plotWidth = 520;
  const top = 56;
  const max = Math.max(...rows.map((row) => row.rps));
  const groups = new Map<string, HttpRow[]>();
  for (const row of rows) {
    const key = `${row.framework} · ${row.mix === "repeated" ? "one repeated token" : "1,000 distinct tokens"}`;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  const parts: string[] = [];
  let y = top;
  for (const [group, members] of groups) {
    parts.push(`<text x="8" y="${y + 12}" font-weight="bold">${escapeXml(group)}</text>`);
    y += barHeight + gap;
    for (const row of members) {
      const width = Math.max(1, (row.rps / max) * plotWidth);
      const ratio =
        row.variant === "bare"
          ? ""
          : ` · ${row.ratioToBare.toFixed(2)}× bare${Number.isFinite(row.ratioToJose) && row.variant !== "jose" ? ` · ${row.ratioToJose.toFixed(2)}× jose` : ""}`;
      parts.push(
        `<text x="${labelWidth - 8}" y="${y + 12}" text-anchor="end">${escapeXml(row.label)}</text>`,
        `<rect x="${labelWidth}" y="${y}" width="${width.toFixed(1)}" height="${barHeight}" fill="${COLORS[row.variant] ?? "#888"}"/>`,
        `<text x="${(labelWidth + width + 6).toFixed(1)}" y="${y + 12}">${Math.round(row.rps).toLocaleString("en-US")} req/s${escapeXml(ratio)}</text>`,
      );
      y += barHeight + gap;
    }
    y += groupGap;
  }
  const height = y + 10;
  const width = labelWidth + plotWidth + 260;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="8" y="22" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="8" y="42" fill="#555">req/s, median of alternating rounds; server on one core, autocannon (10 connections) on the other. Longer is better.</text>`,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}
