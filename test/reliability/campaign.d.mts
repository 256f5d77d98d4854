/** Figures of one round of the SIGKILL campaign (see campaign.mjs). */
export interface RoundResult {
  round: number;
  kills: number;
  /** For each child, the line of its output after which it was killed. */
  killPoints: number[];
  /** Submits the children acknowledged (that the parent read before they died). */
  acknowledged: number;
  /** Task records in the store at the end: the acknowledged ones, plus any whose ack line died with its child. */
  stored: number;
  succeeded: number;
  interrupted: number;
  plannedFailures: number;
  lost: number;
  duplicated: number;
  corrupted: number;
  wrong: number;
  leftover: number;
  leakedMiB: number;
  ms: number;
  /** One line per failed check; empty when the round kept every promise. */
  problems: string[];
}

export function runRound(options: { seed: number; round: number }): Promise<RoundResult>;
