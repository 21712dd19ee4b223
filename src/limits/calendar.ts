/**
 * Calendar periods in UTC for quotas: the period a moment falls in, its id (part of the
 * store key, so a new period starts from zero on every instance at once) and its end.
 *
 * @example
 *   periodOf('month', Date.UTC(2024, 1, 10)) // { id: '2024-02', start: …Feb 1, end: …Mar 1 }
 */
export type Period = 'hour' | 'day' | 'week' | 'month';

export interface PeriodSpan {
  id: string;
  start: number;
  end: number;
}

const HOUR = 3_600_000;
const DAY = 86_400_000;

export function periodOf(period: Period, now: number): PeriodSpan {
  const d = new Date(now);
  switch (period) {
    case 'hour': {
      const start = Math.floor(now / HOUR) * HOUR;
      return { id: new Date(start).toISOString().slice(0, 13), start, end: start + HOUR };
    }
    case 'day': {
      const start = Math.floor(now / DAY) * DAY;
      return { id: new Date(start).toISOString().slice(0, 10), start, end: start + DAY };
    }
    case 'week': {
      // ISO 8601 weeks start on Monday (getUTCDay: 0 = Sunday).
      const day = Math.floor(now / DAY) * DAY;
      const start = day - ((d.getUTCDay() + 6) % 7) * DAY;
      return { id: 'w' + new Date(start).toISOString().slice(0, 10), start, end: start + 7 * DAY };
    }
    case 'month': {
      const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
      const end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
      return { id: new Date(start).toISOString().slice(0, 7), start, end };
    }
  }
}
