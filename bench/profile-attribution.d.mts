// Types of bench/profile-attribution.mjs, for its unit test.

/** Where the bench runs from: this repository's root URL (ending in /) and the driver script's URL. */
export interface Where {
  repoRoot: string;
  driverUrl: string;
}

/** The parts of a V8 CPU profile (the inspector's Profiler.stop) that attribution reads. */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

export function shortUrl(url: string, where: Pick<Where, 'repoRoot'>): string;
export function areaOf(url: string, where: Where): string;
export function attribute(profile: CpuProfile, options: Where & { intervalUs: number }): { areas: Map<string, number>; functions: Map<string, number>; lateUs: number };
