import type { WorkbookSeed } from './options.js';

/** The workbook the CLI serves when none is named: a small sheet, a `Sales` table and a named range. */
export const SAMPLE_WORKBOOK_PATH = '/me/drive/items/01SAMPLEWORKBOOK';

export function sampleWorkbook(): WorkbookSeed {
  return {
    worksheets: {
      Sheet1: {
        cells: [
          ['region', 'fruit', 'qty'],
          ['north', 'apple', 10],
          ['south', 'banana', 7],
        ],
      },
      Sales: {
        tables: {
          Sales: {
            columns: ['region', 'fruit', 'qty'],
            rows: [
              ['north', 'apple', 10],
              ['south', 'banana', 7],
            ],
          },
        },
      },
    },
    names: { Quantities: '=Sheet1!$C$2:$C$3' },
  };
}
