import type { ComponentChildren } from 'preact';
import type { Live } from '../lib/live';
import { Empty, ErrorBox, Loading } from './ui';

export interface Column<T> {
  /** The header text. */
  label: string;
  /** What the cell shows. */
  cell(row: T): ComponentChildren;
  /** A numeric column: right-aligned, tabular figures. */
  num?: boolean;
  /** The server's sort key for this column; the header becomes a button when given. */
  sort?: string;
  /** Which way the server orders by this column (said in the header and to screen readers). */
  direction?: 'ascending' | 'descending';
  /** A hint on the header (what the figure means). */
  title?: string;
  /** The first column names the row (a row header for screen readers). */
  rowHeader?: boolean;
}

/**
 * One table for every list of the console: a caption for screen readers, sortable headers that
 * are buttons (keyboard reachable; `aria-sort` says which one is in force), and the loading, empty
 * and error states in the table's place. The data of a live query stays on screen while it
 * refreshes, and a failed refresh shows its problem above the rows it keeps.
 */
export function DataTable<T>(props: {
  live: Live<{ data: T[] }>;
  columns: Column<T>[];
  rowKey(row: T): string;
  caption: string;
  /** What the empty state says. */
  empty: ComponentChildren;
  what: string;
  sort?: string;
  onSort?(sort: string): void;
  /** A row that needs attention (an open alert, a dead job) is marked. */
  rowClass?(row: T): string | undefined;
}) {
  const { live, columns } = props;
  if (live.data === undefined) return live.error ? <ErrorBox error={live.error} retry={live.refresh} /> : <Loading what={props.what} />;
  const rows = live.data.data;
  return (
    <>
      {live.error ? <ErrorBox error={live.error} retry={live.refresh} /> : null}
      {live.stale ? (
        <p class="sr-only" role="status">
          Loading {props.what}…
        </p>
      ) : null}
      {rows.length === 0 ? (
        <Empty>{props.empty}</Empty>
      ) : (
        <div class="table-wrap">
          <table aria-busy={live.refreshing ? 'true' : undefined} class={live.stale ? 'stale' : undefined}>
            <caption class="sr-only">{props.caption}</caption>
            <thead>
              <tr>
                {columns.map((c) => {
                  const active = c.sort !== undefined && c.sort === props.sort;
                  return (
                    <th key={c.label} scope="col" class={c.num ? 'num' : undefined} title={c.title} aria-sort={active ? c.direction ?? 'descending' : undefined}>
                      {c.sort !== undefined && props.onSort ? (
                        <button type="button" class="sort" aria-pressed={active} onClick={() => props.onSort!(c.sort!)}>
                          {c.label}
                          <span aria-hidden="true" class="sort-mark">
                            {active ? (c.direction === 'ascending' ? '▲' : '▼') : '↕'}
                          </span>
                        </button>
                      ) : (
                        c.label
                      )}
                    </th>
                  );
                })}
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={props.rowKey(row)} class={props.rowClass?.(row)}>
                  {columns.map((c) =>
                    c.rowHeader ? (
                      <th key={c.label} scope="row" class={c.num ? 'num' : undefined}>
                        {c.cell(row)}
                      </th>
                    ) : (
                      <td key={c.label} class={c.num ? 'num' : undefined}>
                        {c.cell(row)}
                      </td>
                    ),
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
