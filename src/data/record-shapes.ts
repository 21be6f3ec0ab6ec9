/** The shapes of the records lmrec reads: catalog items and interaction events. */

export interface ItemRecord {
  id: string;
  /** Every other field, as text. */
  fields: Record<string, string>;
}

export interface EventRecord {
  user: string;
  item: string;
  /**
   * Seconds or milliseconds since the epoch, or any increasing number. Either every event of a
   * file has one or none does (then each user's events keep file order).
   */
  ts?: number;
}
