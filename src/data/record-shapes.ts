/** The shapes of the records lmrec reads: catalog items and interaction events. */

export interface ItemRecord {
  /** The item's id: a non-empty string of at most 1,024 characters (INPUT_LIMITS). */
  id: string;
  /** Every other field, as text. */
  fields: Record<string, string>;
}

export interface EventRecord {
  /** The user's id (at most 1,024 characters); an unknown user is created. */
  user: string;
  /** The item's id; events of items not in the catalog are skipped and counted. */
  item: string;
  /**
   * Seconds or milliseconds since the epoch, or any increasing number. Either every event of a
   * file has one or none does (then each user's events keep file order).
   */
  ts?: number;
}
