// Cobertura XML (`artifacts:reports:coverage_report` with `coverage_format: cobertura`), as
// coverage.py, Istanbul (nyc, c8, jest), gocover-cobertura, JaCoCo converters and Cobertura itself
// write it: <coverage> holds <packages><package><classes><class filename=…><lines><line hits=…>.
// The summary is read in one streaming pass: the totals the tool wrote on <coverage> when it wrote
// them (older DTDs give only the rates), otherwise the counts of the class-level <line>s; lines
// repeated under <methods> are not counted twice.
import {
  MAX_COVERAGE_FILES,
  MAX_COVERAGE_PACKAGES,
  type CoberturaSummaryJson,
  type CoverageCounts,
  type CoverageEntryJson,
  type CoverageRates,
} from '../api/index.js';
import { DEFAULT_XML_LIMITS, readXml, XmlContentError, type XmlLimits } from './xml.js';

/** GitLab refuses a Cobertura file over 10 MiB (docs.gitlab.com/ci/testing/code_coverage/cobertura). */
export const COBERTURA_LIMITS: XmlLimits = { ...DEFAULT_XML_LIMITS, maxBytes: 10 * 1024 * 1024 };

type Attributes = Record<string, string>;

const zero = (): CoverageCounts => ({ linesCovered: 0, linesValid: 0, branchesCovered: 0, branchesValid: 0 });

function add(into: CoverageCounts, from: CoverageCounts): void {
  into.linesCovered += from.linesCovered;
  into.linesValid += from.linesValid;
  into.branchesCovered += from.branchesCovered;
  into.branchesValid += from.branchesValid;
}

/** A rate attribute: "0.875"; some tools write "NaN" or nothing when there was nothing to measure. */
function rateAttr(attrs: Attributes, name: string): number | null {
  const value = Number(attrs[name] ?? 'NaN');
  return Number.isFinite(value) && value >= 0 && value <= 1 ? value : null;
}

function countAttr(attrs: Attributes, name: string): number | null {
  const raw = attrs[name];
  if (raw === undefined || !/^\d+$/.test(raw)) return null;
  return Number(raw);
}

function withRates(counts: CoverageCounts, lineRate: number | null = null, branchRate: number | null = null): CoverageRates {
  return {
    ...counts,
    lineRate: lineRate ?? (counts.linesValid > 0 ? counts.linesCovered / counts.linesValid : null),
    branchRate: branchRate ?? (counts.branchesValid > 0 ? counts.branchesCovered / counts.branchesValid : null),
  };
}

/** `condition-coverage="50% (1/2)"`: branches covered and valid on the line. */
const CONDITIONS = /\((\d+)\/(\d+)\)/;

/**
 * Summarizes one Cobertura report read from `source`. Throws XmlReportError ("file:line:column:
 * reason") for malformed XML, a document that is not Cobertura, a bad number, or one past `limits`.
 */
export async function summarizeCobertura(
  file: string,
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  limits: XmlLimits = COBERTURA_LIMITS,
): Promise<CoberturaSummaryJson> {
  let root: Attributes | null = null;
  const total = zero();
  const packages: CoverageEntryJson[] = [];
  let packageCount = 0;
  let pkg: { name: string; attrs: Attributes; counts: CoverageCounts } | null = null;
  const files = new Map<string, CoverageCounts>();
  let fileCounts: CoverageCounts | null = null;
  /** Depth of the open <method>, whose <line>s repeat the class's. */
  let methodDepth = 0;

  await readXml(
    file,
    source,
    {
      open(tag, depth) {
        const attrs = tag.attributes as Attributes;
        if (depth === 1) {
          if (tag.name !== 'coverage')
            throw new XmlContentError(`the root element is <${tag.name}>, not <coverage>: not a Cobertura report`);
          root = attrs;
          return;
        }
        switch (tag.name) {
          case 'package':
            pkg = { name: attrs.name ?? '', attrs, counts: zero() };
            return;
          case 'class': {
            const name = attrs.filename ?? attrs.name ?? '';
            fileCounts = files.get(name) ?? zero();
            files.set(name, fileCounts);
            return;
          }
          case 'method':
            if (methodDepth === 0) methodDepth = depth;
            return;
          case 'line': {
            if (methodDepth !== 0 || fileCounts === null) return;
            const hits = attrs.hits ?? '0';
            // Some JaCoCo conversions write hit counts past 2^31; only "hit or not" matters here.
            if (!/^\d+$/.test(hits)) throw new XmlContentError(`<line number="${attrs.number ?? '?'}">: hits="${hits}" is not a count`);
            const counts: CoverageCounts = {
              linesCovered: hits === '0' || /^0+$/.test(hits) ? 0 : 1,
              linesValid: 1,
              branchesCovered: 0,
              branchesValid: 0,
            };
            if (attrs.branch === 'true') {
              const conditions = CONDITIONS.exec(attrs['condition-coverage'] ?? '');
              if (conditions) {
                counts.branchesCovered = Number(conditions[1]);
                counts.branchesValid = Number(conditions[2]);
              }
            }
            add(fileCounts, counts);
            add(total, counts);
            if (pkg) add(pkg.counts, counts);
            return;
          }
        }
      },
      close(tag, depth) {
        if (tag.name === 'method' && depth === methodDepth) methodDepth = 0;
        else if (tag.name === 'class') fileCounts = null;
        else if (tag.name === 'package' && pkg) {
          packageCount += 1;
          if (packages.length < MAX_COVERAGE_PACKAGES) {
            packages.push({
              name: pkg.name,
              ...withRates(pkg.counts, rateAttr(pkg.attrs, 'line-rate'), rateAttr(pkg.attrs, 'branch-rate')),
            });
          }
          pkg = null;
        }
      },
    },
    limits,
  );

  // readXml saw a root element (saxes refuses a document without one), and it was <coverage>.
  const attrs = root as Attributes | null;
  if (attrs === null) throw new XmlContentError('no <coverage> element');
  // The tool's own totals win when it wrote them all: coverage.py counts branch arcs its lines do not list.
  const declared = {
    linesCovered: countAttr(attrs, 'lines-covered'),
    linesValid: countAttr(attrs, 'lines-valid'),
    branchesCovered: countAttr(attrs, 'branches-covered'),
    branchesValid: countAttr(attrs, 'branches-valid'),
  };
  const totals: CoverageCounts = {
    linesCovered: declared.linesCovered ?? total.linesCovered,
    linesValid: declared.linesValid ?? total.linesValid,
    branchesCovered: declared.branchesCovered ?? total.branchesCovered,
    branchesValid: declared.branchesValid ?? total.branchesValid,
  };
  const ranked = [...files.entries()]
    .map(([name, counts]): CoverageEntryJson => ({ name, ...withRates(counts) }))
    .sort((a, b) => b.linesValid - b.linesCovered - (a.linesValid - a.linesCovered) || a.name.localeCompare(b.name));
  return {
    version: attrs.version || null,
    ...withRates(totals, rateAttr(attrs, 'line-rate'), rateAttr(attrs, 'branch-rate')),
    packages,
    packagesOmitted: packageCount - packages.length,
    files: ranked.slice(0, MAX_COVERAGE_FILES),
    filesOmitted: Math.max(0, ranked.length - MAX_COVERAGE_FILES),
  };
}

/** Several reports of one job as one: counts added, rates recomputed from the sums. */
export function combineCoverage(summaries: CoverageRates[]): CoverageRates | null {
  if (summaries.length === 0) return null;
  if (summaries.length === 1) {
    const { linesCovered, linesValid, branchesCovered, branchesValid, lineRate, branchRate } = summaries[0];
    return { linesCovered, linesValid, branchesCovered, branchesValid, lineRate, branchRate };
  }
  const sum = zero();
  for (const s of summaries) add(sum, s);
  return withRates(sum);
}
