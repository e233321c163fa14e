"""How the commands' results are shown: lists, and a failure's details.

A summary table keeps one line per failure (what failed, in which stage)
and the log's path; the failing command's output and the hint go to
stderr once, below the table.  Machine-readable formats (``-f json``,
``yaml``, ``csv``, ``value``) carry them in fields instead, and lists as
lists: what a table shows is a view of the same rows.
"""

from __future__ import annotations

from typing import Any, Sequence

from cliff import columns

#: Fields of a summary row that a table folds away (see :class:`Summary`).
DETAILS, HINT, LOG = 'Details', 'Hint', 'Log'
DETAIL_COLUMNS = (DETAILS, HINT, LOG)


class ListColumn(columns.FormattableColumn):
    """A list: a JSON list for machines, comma-separated in a table."""

    def human_readable(self) -> str:
        return ', '.join(str(v) for v in self._value)

    def machine_readable(self) -> list:
        return list(self._value)


class Summary:
    """Mixin for a Lister whose rows have :data:`DETAIL_COLUMNS` (all or
    some).

    In a table (without ``-c``) those columns are left out, the log's path
    is added under the message, and each distinct failure's details and
    hint are written once to stderr, below the table.  Other formats show
    the rows as they are.
    """

    def produce_output(self, parsed_args, column_names: Sequence[str],
                       data) -> int:
        if parsed_args.formatter != 'table' or parsed_args.columns or \
                DETAILS not in column_names:
            return super().produce_output(parsed_args, column_names, data)
        rows = [dict(zip(column_names, row)) for row in data]
        shown = [c for c in column_names if c not in DETAIL_COLUMNS]
        result = super().produce_output(
            parsed_args, shown, [[_cell(row, c) for c in shown] for row in rows])
        explained = explain(rows, column_names[0])
        if explained:
            self.app.stderr.write(explained)
            self.app.stderr.flush()
        return result


def _cell(row: dict[str, Any], column: str) -> Any:
    if column == 'Message' and row.get(LOG):
        return f'{row["Message"]}\nlog: {row[LOG]}' if row['Message'] \
            else f'log: {row[LOG]}'
    return row[column]


def explain(rows: Sequence[dict[str, Any]], key: str) -> str:
    """Each distinct failure's details and hint, under its message, as
    ``[KEY] MESSAGE`` (one project's error fails all its builders: once)."""
    seen, blocks = set(), []
    for row in rows:
        details, hint = row.get(DETAILS) or '', row.get(HINT) or ''
        found = (row[key], row.get('Message'), details, hint)
        if not (details or hint) or found in seen:
            continue
        seen.add(found)
        lines = [f'[{row[key]}] {row.get("Message") or ""}'.rstrip()]
        lines += ['    ' + line for line in details.rstrip().splitlines()]
        if hint:
            lines.append(f'  hint: {hint}')
        blocks.append('\n'.join(lines))
    return '\n'.join(blocks) + '\n' if blocks else ''
