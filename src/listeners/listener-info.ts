/** What the data path needs to know about the listener a request arrived on. */
export interface ListenerInfo {
  readonly name: string;
  /** Scheme as seen by clients: used for X-Forwarded-Proto and Forwarded `proto=`. */
  readonly scheme: 'http' | 'https';
}
